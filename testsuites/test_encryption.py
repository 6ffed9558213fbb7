"""CRYPTO: communication security of every TLS service and the SSH service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography import x509

from harness.config import crypto_policy as policy_module
from harness.config.crypto_policy import SshPolicy, TlsPolicy
from harness.config.profile import Policy, Profile, Service
from harness.core.errors import DeviceError, ProtocolViolation, inconclusive, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.crypto import certs, cleartext, tls, tls_client
from harness.probes.crypto.attempt import PartialAudit
from harness.probes.crypto.cert_rules import ChainRules, name_problems
from harness.probes.crypto.device_audit import DeviceCryptoAudit, SshAudit
from harness.probes.crypto.tls_audit import AcceptedSuite, TlsPosture
from harness.transports import net
from harness.transports.ssh import SshTarget
from testsuites._connections import per_connection
from testsuites._crypto_evidence import (
    key_exchange_record,
    port_records,
    record_chain,
    record_flights,
    suites_record,
)

UDP_WORKERS = 8  # profiled UDP ports CRYPTO-010 asks SNMP at once (each waits up to 1 s)


@pytest.mark.check("CRYPTO-001")
def test_tls_versions_below_minimum_refused(
    tls_service: Service, profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    minimum = tls.TlsVersion.from_policy(profile.policy.tls_min_version)
    host = profile.network.host
    server_name = tls.default_server_name(host, profile.tls.server_name)
    transcript = evidence.new_transcript("hellos", f"ClientHellos to {tls_service.name}")
    probed = [
        tls.probe_version(
            scope,
            host,
            tls_service.port,
            version,
            timeout=profile.policy.timeout_s,
            server_name=server_name,
            transcript=transcript,
        )
        for version in tls.TlsVersion
    ]
    for result in probed:
        evidence.note(result.summary())
        name = result.offered.name.lower()
        evidence.binary(f"{name}-client-hello.bin", result.client_hello)
        evidence.binary(f"{name}-server.bin", result.server_bytes)
        evidence.text(f"{name}-server.txt", tls.dissect(result.server_bytes), show=False)
    evidence.json(
        "tls-versions.json",
        {r.offered.label: {"accepted": r.accepted, "answer": r.summary()} for r in probed},
        "every version offered and the answer",
    )
    below = [r.offered.label for r in probed if r.offered < minimum and r.accepted]
    at_least = [r.offered.label for r in probed if r.offered >= minimum and r.accepted]
    assert not below, (
        f"{tls_service.name} accepts {', '.join(below)}, below the minimum {minimum.label}"
    )
    assert at_least, f"{tls_service.name} accepted no version at or above {minimum.label}"
    evidence.reason = f"versions below {minimum.label} refused; accepted: {', '.join(at_least)}"


# --- shared audits -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def crypto_audit(profile: Profile, scope: Scope) -> Iterator[DeviceCryptoAudit]:
    """Every TLS service and the SSH service audited once, concurrently, for all checks."""
    audit = DeviceCryptoAudit(profile, scope)
    yield audit
    audit.close()


@pytest.fixture(scope="session")
def tls_policy(profile: Profile) -> tuple[str, TlsPolicy]:
    chosen = policy_module.load(profile.policy.tls_ciphers)
    return chosen.label, chosen.tls


@pytest.fixture(scope="session")
def ssh_policy(profile: Profile) -> tuple[str, SshPolicy]:
    chosen = policy_module.load(profile.policy.ssh_policy)
    return chosen.label, chosen.ssh


def _judge(problems: Sequence[str], failure: str, audit: PartialAudit) -> None:
    """Fail on what was found; only then end as an error if a probe of the audit erred."""
    assert not problems, failure + "; ".join(problems)
    audit.raise_if_incomplete()


def _posture(
    crypto_audit: DeviceCryptoAudit, service: Service, evidence: EvidenceRecorder
) -> TlsPosture:
    audit = crypto_audit.tls(service)
    posture = audit.posture
    for line in posture.summary():
        evidence.note(line)
    record_flights(evidence, posture.host, posture.port, posture.flights, audit.transcript)
    return posture


def _accepted(posture: TlsPosture, minimum: tls.TlsVersion) -> tuple[AcceptedSuite, ...]:
    accepted = posture.accepted(minimum)
    if not accepted:
        posture.raise_if_incomplete()
        raise ProtocolViolation(
            f"{posture.host}:{posture.port}",
            f"no TLS version at or above {minimum.label} was accepted: nothing to judge",
        )
    return accepted


# --- TLS ------------------------------------------------------------------------------------


@pytest.mark.check("CRYPTO-002")
def test_no_weak_cipher_suites(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    tls_policy: tuple[str, TlsPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = tls_policy
    posture = _posture(crypto_audit, tls_service, evidence)
    accepted = _accepted(posture, crypto_audit.minimum)
    evidence.json("suites.json", suites_record(posture), "accepted suites per version")
    problems = rules.suite_problems(accepted)
    _judge(problems, f"{tls_service.name} accepts suites {label} forbids: ", posture)
    evidence.reason = f"all {len(accepted)} accepted suites are allowed by {label}"


@pytest.mark.check("CRYPTO-003")
def test_forward_secrecy(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    tls_policy: tuple[str, TlsPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = tls_policy
    posture = _posture(crypto_audit, tls_service, evidence)
    accepted = _accepted(posture, crypto_audit.minimum)
    evidence.json(
        "key-exchange.json",
        key_exchange_record(posture, crypto_audit.minimum),
        "key exchange of every accepted suite",
    )
    groups = posture.named_groups()
    problems = rules.key_exchange_problems(accepted, groups)
    _judge(problems, f"{tls_service.name} without forward secrecy ({label}): ", posture)
    evidence.reason = "every accepted suite uses ephemeral (EC)DH" + (
        f"; groups {', '.join(g.name for g in groups)}" if groups else ""
    )


def _chains(
    posture: TlsPosture, evidence: EvidenceRecorder
) -> list[tuple[list[x509.Certificate], list[certs.CertInfo]]]:
    if not posture.chains:
        posture.raise_if_incomplete()
        raise ProtocolViolation(
            f"{posture.host}:{posture.port}", "no certificate was received: nothing to judge"
        )
    loaded = []
    for index, ders in enumerate(posture.chains):
        for position, der in enumerate(ders):
            evidence.binary(f"chain-{index}-cert-{position}.der", der)
        parsed, infos = certs.load(ders)  # MalformedCertificate: the caller decides
        record_chain(evidence, index, infos)
        for info in infos:
            evidence.note(info.describe())
        loaded.append((parsed, infos))
    return loaded


@pytest.mark.check("CRYPTO-004")
def test_certificate_key_and_signature_strength(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    tls_policy: tuple[str, TlsPolicy],
    policy: Policy,
    evidence: EvidenceRecorder,
) -> None:
    label, rules = tls_policy
    posture = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(posture, evidence)
    except certs.MalformedCertificate as exc:
        raise ProtocolViolation(tls_service.name, str(exc)) from None
    sent = [info for _, infos in chains for info in infos]
    problems = rules.certificate_problems(sent, policy.cert_min_rsa_bits)
    _judge(problems, f"{tls_service.name} certificate too weak ({label}): ", posture)
    evidence.reason = "; ".join(
        f"{i.key_type}-{i.key_bits} signed {i.signature_hash or i.signature_algorithm}"
        for i in sent
    )


@pytest.mark.check("CRYPTO-005")
def test_certificate_chain_and_validity(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    profile: Profile,
    evidence: EvidenceRecorder,
) -> None:
    if profile.tls.ca_file is None:
        not_applicable("the profile names no trust anchor (tls.ca_file)")
    anchors = certs.load_anchors(profile.tls.ca_file)
    posture = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(posture, evidence)
    except certs.MalformedCertificate as exc:
        pytest.fail(f"{tls_service.name} sends a certificate that does not parse: {exc}")
    policy = profile.policy
    rules = ChainRules(
        profile.tls.ca_file.name,
        allow_self_signed=policy.allow_self_signed,
        min_days_left=policy.cert_min_days_left,
        now=dt.datetime.now(dt.timezone.utc),
    )
    problems = []
    for parsed, infos in chains:
        verdict = certs.build_path(parsed, anchors)
        evidence.note("path: " + " <- ".join(verdict.path))
        problems += rules.problems(infos, verdict)
    _judge(problems, f"{tls_service.name} certificate chain: ", posture)
    days = min((infos[0].not_after - rules.now).days for _, infos in chains)
    evidence.reason = f"chain reaches {profile.tls.ca_file.name}; leaf valid {days} more days"


@pytest.mark.check("CRYPTO-006")
def test_certificate_names_the_device(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    profile: Profile,
    evidence: EvidenceRecorder,
) -> None:
    assert profile.network is not None
    wanted = profile.tls.server_name or profile.network.host
    posture = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(posture, evidence)
    except certs.MalformedCertificate as exc:
        raise ProtocolViolation(tls_service.name, str(exc)) from None
    problems = [p for _, infos in chains for p in name_problems(infos[0], wanted)]
    _judge(problems, f"{tls_service.name} certificate: ", posture)
    evidence.reason = f"subjectAltName names {wanted}"


@pytest.mark.check("CRYPTO-007")
def test_compression_renegotiation_downgrade(
    tls_service: Service, crypto_audit: DeviceCryptoAudit, evidence: EvidenceRecorder
) -> None:
    posture = _posture(crypto_audit, tls_service, evidence)
    _accepted(posture, crypto_audit.minimum)
    reneg, fallback = posture.renegotiation, posture.fallback
    if reneg is not None:
        evidence.binary("renegotiation-server.bin", reneg.server_bytes)
        evidence.note(f"client renegotiation: {reneg.outcome.value} ({reneg.detail})")
    if fallback is not None:
        evidence.note(f"{fallback.version.label} + TLS_FALLBACK_SCSV: {fallback.detail}")
    for note in posture.notes:
        evidence.note(note)
    _judge(posture.protocol_problems(), f"{tls_service.name}: ", posture)
    evidence.reason = (
        "null compression only; "
        + (f"renegotiation {reneg.outcome.value}; " if reneg else "no renegotiation (TLS 1.3); ")
        + (
            "fallback refused with inappropriate_fallback"
            if fallback
            else "one version: no downgrade"
        )
    )


# --- SSH ------------------------------------------------------------------------------------


def _ssh(crypto_audit: DeviceCryptoAudit, evidence: EvidenceRecorder) -> SshAudit:
    """The SSH audit with its transcript recorded; raises when the KEXINIT was not read."""
    audit = crypto_audit.ssh()
    for number, transcript in enumerate(audit.transcripts, 1):
        evidence.transcript(f"ssh-{number:02d}", transcript)
    algorithms = audit.algorithms.result_or_raise()
    evidence.binary("server-identification-and-kexinit.bin", algorithms.server_bytes)
    evidence.note(f"identification {algorithms.identification!r} (software {algorithms.software})")
    return audit


@pytest.mark.check("CRYPTO-008")
def test_ssh_algorithms_match_policy(
    ssh_target: SshTarget,
    crypto_audit: DeviceCryptoAudit,
    ssh_policy: tuple[str, SshPolicy],
    evidence: EvidenceRecorder,
    observe: Callable[[str, Any], None],
) -> None:
    label, rules = ssh_policy
    algorithms = _ssh(crypto_audit, evidence).algorithms.result_or_raise()
    observe("ssh_identification", algorithms.identification)
    kexinit = algorithms.kexinit
    lists = kexinit.judged()
    evidence.json(
        "algorithms.json",
        {**{k: list(v) for k, v in lists.items()}, "pseudo_algorithms": list(kexinit.pseudo),
         "raw_lists": {k: list(v) for k, v in kexinit.lists.items()}, "policy": label},
        "server KEXINIT name-lists", show=True,
    )  # fmt: skip
    for kind, names in lists.items():
        evidence.note(f"{kind}: {', '.join(names) or '(empty)'}")
    problems = rules.algorithm_problems(lists)
    assert not problems, f"SSH offers algorithms {label} forbids: " + ", ".join(problems)
    evidence.reason = f"every offered algorithm is allowed by {label} (one connection)"


@pytest.mark.check("CRYPTO-009")
def test_ssh_host_key_strength(
    ssh_target: SshTarget,
    crypto_audit: DeviceCryptoAudit,
    ssh_policy: tuple[str, SshPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = ssh_policy
    audit = _ssh(crypto_audit, evidence).keys.result_or_raise()
    evidence.json("host-keys.json", [vars(k) for k in audit.keys], "host keys", show=True)
    if audit.auth_methods is not None:
        evidence.note(f"authentication methods offered: {', '.join(audit.auth_methods)}")
    for key in audit.keys:
        evidence.note(
            f"{key.algorithm}: {key.key_type} {key.bits or '?'} bits {key.fingerprint} {key.detail}"
        )
    absent = ", ".join(k.key_type for k in audit.absent)
    if absent:
        evidence.note(f"advertised but not served, so not judged: {absent}")
    judged = audit.judged
    _judge(rules.host_key_problems(judged), f"SSH host keys too weak ({label}): ", audit)
    evidence.reason = ", ".join(f"{k.key_type} {k.bits}" for k in judged) + f" ({label})"
    if absent:
        evidence.reason += f"; advertised without a key: {absent}"


# --- cleartext ------------------------------------------------------------------------------


@pytest.mark.check("CRYPTO-010")
def test_no_cleartext_protocol_on_any_port(
    profile: Profile, scope: Scope, tcp_scan: net.ScanResult, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy, scan = profile.network, profile.policy, tcp_scan
    tls_ports = {s.port for s in profile.tls_services}
    candidates = [p for p in scan.open if p not in tls_ports]
    snmp_tcp = {cleartext.SNMP_PORT, *network.expected_tcp}  # where silent ports get SNMP
    snmp_udp = sorted({cleartext.SNMP_PORT, *network.expected_udp})
    evidence.note(
        f"open {list(scan.open)}; TLS-profiled (CRYPTO-011's) {sorted(tls_ports)}; "
        f"probed {candidates}; SNMP over UDP on {snmp_udp}"
    )
    # SNMP over UDP is asked while the TCP ports are, which share the connection cap.
    with (
        ThreadPoolExecutor(max_workers=min(len(snmp_udp), UDP_WORKERS)) as udp,
        ThreadPoolExecutor(max_workers=policy.max_connections) as tcp,
    ):
        asked_snmp = udp.map(
            lambda port: _snmp_over_udp(scope, network.host, port, policy.timeout_s, evidence),
            snmp_udp,
        )  # submitted at once, read once the TCP ports are done
        findings = list(
            tcp.map(
                lambda port: _cleartext_port(
                    scope, network.host, port, port in snmp_tcp, policy.timeout_s, evidence
                ),
                candidates,
            )
        )
        findings += [f for f in asked_snmp if f is not None]
    for finding in findings:
        evidence.note(finding.summary())
    evidence.json("ports.json", port_records(findings), "what each port answered", show=True)
    problems = cleartext.cleartext_problems(findings, redirect_allowed=policy.http_redirect_allowed)
    assert not problems, "cleartext services: " + "; ".join(problems)
    undecided = [f"{f.summary()}: {f.undecided}" for f in findings if f.undecided]
    if undecided:
        inconclusive(network.host, "; ".join(undecided))
    evidence.reason = f"no cleartext protocol on {len(candidates)} probed ports or SNMP"


def _snmp_over_udp(
    scope: Scope, host: str, port: int, timeout: float, evidence: EvidenceRecorder
) -> cleartext.PortFinding | None:
    name = "snmp" if port == cleartext.SNMP_PORT else f"snmp-{port}"
    transcript = evidence.new_transcript(name, f"SNMP GETs to {host}:{port}/udp")
    return cleartext.snmp_communities(
        scope, host, port=port, timeout=timeout, transcript=transcript
    )


def _cleartext_port(
    scope: Scope, host: str, port: int, snmp: bool, timeout: float, evidence: EvidenceRecorder
) -> cleartext.PortFinding:
    """What `port` speaks in the clear; SNMP over TCP too where `snmp` and nothing answered."""
    new_transcript = per_connection(evidence, f"cleartext-{port}")
    found = cleartext.identify(scope, host, port, timeout=timeout, new_transcript=new_transcript)
    if not snmp or found.speaks not in (cleartext.Speaks.SILENT, cleartext.Speaks.CLOSED):
        return found
    transcript = new_transcript(f"{host}:{port}, SNMP GETs over TCP")
    asked = cleartext.snmp_over_tcp(scope, host, port, timeout=timeout, transcript=transcript)
    return found if asked is None else asked


@pytest.mark.check("CRYPTO-011")
def test_tls_service_refuses_cleartext(
    tls_service: Service, profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    host, policy = profile.network.host, profile.policy
    transcript = evidence.new_transcript("cleartext", f"a cleartext request to {tls_service.name}")
    mqtt = tls_service.protocol == "mqtts"
    request = (
        cleartext.mqtt_connect("medsec-probe") if mqtt else cleartext.HTTP_REQUEST % host.encode()
    )
    plain = cleartext.cleartext_request(
        scope, host, tls_service.port, request, timeout=policy.timeout_s, transcript=transcript,
        half_close=not mqtt,  # a broker may drop a CONNECT that arrives with the end of stream
    )  # fmt: skip
    evidence.note(f"cleartext {'MQTT CONNECT' if mqtt else 'HTTP GET'}: {plain.summary()}")
    problems = []
    if plain.answers_in_the_clear:
        problems.append(f"answered a cleartext request: {plain.detail}")
    if mqtt and _broker_accepts_anonymous(tls_service, profile, scope, evidence):
        problems.append("the broker accepts a CONNECT without credentials or certificate")
    assert not problems, f"{tls_service.name}: " + "; ".join(problems)
    evidence.reason = "cleartext request got no application answer" + (
        "; unauthenticated CONNECT refused" if mqtt else ""
    )


def _broker_accepts_anonymous(
    service: Service, profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> bool:
    """MQTT over TLS without a client certificate, CONNECT without credentials: accepted?"""
    assert profile.network is not None
    host = profile.network.host
    transcript = evidence.new_transcript(
        "mqtt-over-tls", f"MQTT over TLS without credentials to {service.name}"
    )
    try:
        broker = cleartext.mqtt_over_tls(
            scope, host, service.port,
            server_name=tls.default_server_name(host, profile.tls.server_name),
            timeout=profile.policy.timeout_s, transcript=transcript,
        )  # fmt: skip
    except DeviceError as exc:
        evidence.note(f"MQTT over TLS without a client certificate: refused ({exc})")
        return False
    evidence.note(f"MQTT over TLS, CONNECT without credentials: {broker.summary()}")
    if broker.connack is cleartext.ConnackCode.ACCEPTED:
        return True
    if broker.speaks not in (cleartext.Speaks.MQTT, cleartext.Speaks.CLOSED):
        raise ProtocolViolation(service.name, f"no CONNACK: {broker.detail}")
    return False


# --- the device as a TLS client ---------------------------------------------------------------


@pytest.mark.check("CRYPTO-012")
def test_device_validates_its_tls_server(profile: Profile, evidence: EvidenceRecorder) -> None:
    setting = profile.tls_client
    if setting is None:
        not_applicable("the profile has no tls_client section")
    trusted = None
    if setting.ca_cert is not None and setting.ca_key is not None:
        trusted = (setting.ca_cert.read_bytes(), setting.ca_key.read_bytes())
    address = setting.address
    trial_cases = tls_client.cases(setting.server_name, address[0], trusted)
    transcript = evidence.new_transcript("device-as-client", f"TLS server at {setting.listen}")
    with net.listen(address) as listener:
        trials = tls_client.serve(
            listener, trial_cases, wait_s=setting.wait_s, timeout=profile.policy.timeout_s,
            transcript=transcript,
        )  # fmt: skip
    for trial, case in zip(trials, trial_cases, strict=True):
        evidence.note(f"{trial.summary()}; {case.note}")
        evidence.binary(f"{trial.case}-client-hello.bin", trial.client_hello)
        evidence.text(f"{trial.case}-server-cert.pem", case.cert_pem.decode(), show=False)
    control = [t for t in trials if t.should_accept]
    if control and not control[0].handshake_completed:
        raise ProtocolViolation(
            setting.listen,
            f"the device refused even the control certificate ({control[0].detail}): "
            "the refusals below prove nothing",
        )
    accepted = [t.summary() for t in trials if not t.should_accept and not t.refused]
    assert not accepted, "the device accepts a server it should not trust: " + "; ".join(accepted)
    evidence.reason = (
        "aborted "
        + ", ".join(t.case for t in trials if not t.should_accept)
        + (" (control completed)" if control else " (no control: tls_client.ca_key not profiled)")
    )
