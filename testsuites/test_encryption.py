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
from harness.core.errors import DeviceError, ProtocolViolation, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.crypto import certs, cleartext, tls, tls_client, tls_suites
from harness.probes.crypto.device_audit import DeviceCryptoAudit, SshAudit, TlsAudit
from harness.probes.crypto.tls_audit import TlsPosture
from harness.probes.crypto.tls_full import RenegotiationOutcome
from harness.transports import net
from harness.transports.ssh import SshTarget
from testsuites._crypto_evidence import record_chain, record_flights

INAPPROPRIATE_FALLBACK = 86
SCAN_BUDGET_S = 300.0  # below the plugin's 600 s watchdog


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


def _posture(
    crypto_audit: DeviceCryptoAudit, service: Service, evidence: EvidenceRecorder
) -> TlsAudit:
    audit = crypto_audit.tls(service)
    posture = audit.posture
    for line in posture.summary():
        evidence.note(line)
    record_flights(evidence, posture.host, posture.port, posture.flights, audit.transcript)
    return audit


def _raise_first(errors: Sequence[DeviceError]) -> None:
    if errors:
        raise errors[0]


def _judged_versions(audit: TlsAudit, minimum: tls.TlsVersion) -> dict[tls.TlsVersion, Any]:
    suites = audit.posture.suites(minimum)
    if not any(suites.values()):
        _raise_first(audit.posture.errors)
        raise ProtocolViolation(
            f"{audit.posture.host}:{audit.posture.port}",
            f"no TLS version at or above {minimum.label} was accepted: nothing to judge",
        )
    return suites


# --- TLS ------------------------------------------------------------------------------------


@pytest.mark.check("CRYPTO-002")
def test_no_weak_cipher_suites(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    tls_policy: tuple[str, TlsPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = tls_policy
    audit = _posture(crypto_audit, tls_service, evidence)
    suites = _judged_versions(audit, crypto_audit.minimum)
    evidence.json("suites.json", _suites_json(audit.posture), "accepted suites per version")
    offending = []
    for version, codes in suites.items():
        scan = audit.posture.scan(version)
        etm = scan.etm_suites if scan else ()
        for code in codes:
            problem = rules.cipher_problem(tls_suites.suite(code), code in etm)
            if problem:
                offending.append(f"{version.label} {tls_suites.suite(code).name} ({problem})")
    assert not offending, f"{tls_service.name} accepts suites {label} forbids: " + "; ".join(
        offending
    )
    _raise_first(audit.posture.errors)
    total = sum(len(c) for c in suites.values())
    evidence.reason = f"all {total} accepted suites are allowed by {label}"


def _suites_json(posture: TlsPosture) -> dict[str, Any]:
    return {
        scan.version.label: {
            "accepted": scan.names(),
            "server_order": scan.server_order,
            "encrypt_then_mac": [tls_suites.suite(c).name for c in scan.etm_suites],
        }
        for scan in posture.versions
    }


@pytest.mark.check("CRYPTO-003")
def test_forward_secrecy(
    tls_service: Service,
    crypto_audit: DeviceCryptoAudit,
    tls_policy: tuple[str, TlsPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = tls_policy
    audit = _posture(crypto_audit, tls_service, evidence)
    posture = audit.posture
    suites = _judged_versions(audit, crypto_audit.minimum)
    groups = [tls_suites.group_name(g) for g in posture.groups]
    evidence.json(
        "key-exchange.json",
        {
            "groups": groups,
            "groups_version": posture.groups_version.label if posture.groups_version else None,
            "dh_bits": {tls_suites.suite(c).name: b for c, b in posture.dh_bits.items()},
            "suites": {
                v.label: [tls_suites.suite(c).key_exchange for c in s] for v, s in suites.items()
            },
        },
        "key exchange of every accepted suite",
    )  # fmt: skip
    offending = []
    for version, codes in suites.items():
        for code in codes:
            suite = tls_suites.suite(code)
            if rules.forward_secrecy and not suite.forward_secret:
                offending.append(
                    f"{version.label} {suite.name} ({suite.key_exchange} key exchange)"
                )
            bits = posture.dh_bits.get(code)
            if suite.finite_field_dh and bits is not None and bits < rules.min_dh_bits:
                offending.append(f"{version.label} {suite.name} (DH group of {bits} bits)")
    small = [
        tls_suites.group_name(g)
        for g in posture.groups
        if g in tls_suites.FFDHE_BITS and tls_suites.FFDHE_BITS[g] < rules.min_dh_bits
    ]
    offending += [f"group {name}" for name in small]
    assert not offending, f"{tls_service.name} without forward secrecy ({label}): " + "; ".join(
        offending
    )
    _raise_first(posture.errors)
    evidence.reason = "every accepted suite uses ephemeral (EC)DH" + (
        f"; groups {', '.join(groups)}" if groups else ""
    )


def _chains(
    audit: TlsAudit, evidence: EvidenceRecorder
) -> list[tuple[list[x509.Certificate], list[certs.CertInfo]]]:
    posture = audit.posture
    if not posture.chains:
        _raise_first(posture.errors)
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
    audit = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(audit, evidence)
    except certs.MalformedCertificate as exc:
        raise ProtocolViolation(tls_service.name, str(exc)) from None
    offending = []
    for _, infos in chains:
        for info in infos:
            if info.self_signed and info.index > 0:
                continue  # a root sent along: its own signature is not relied on
            where = f"#{info.index} {info.subject}"
            if info.key_type == "RSA" and info.key_bits < policy.cert_min_rsa_bits:
                offending.append(f"{where}: RSA-{info.key_bits} key (< {policy.cert_min_rsa_bits})")
            elif info.key_type == "EC" and info.key_bits < rules.min_ec_bits:
                offending.append(f"{where}: EC-{info.key_bits} key (< {rules.min_ec_bits})")
            elif info.key_type in ("DSA", "other"):
                offending.append(f"{where}: {info.key_type} key")
            if info.signature_hash in rules.forbidden_signature_hashes or (
                info.signature_hash == "unsupported"
            ):
                offending.append(f"{where}: signed with {info.signature_hash.upper()}")
    assert not offending, f"{tls_service.name} certificate too weak ({label}): " + "; ".join(
        offending
    )
    _raise_first(audit.posture.errors)
    evidence.reason = "; ".join(
        f"{i.key_type}-{i.key_bits} signed {i.signature_hash or i.signature_algorithm}"
        for _, infos in chains
        for i in infos
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
    audit = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(audit, evidence)
    except certs.MalformedCertificate as exc:
        pytest.fail(f"{tls_service.name} sends a certificate that does not parse: {exc}")
    policy = profile.policy
    now = dt.datetime.now(dt.timezone.utc)
    horizon = now + dt.timedelta(days=policy.cert_min_days_left)
    problems = []
    for parsed, infos in chains:
        leaf = infos[0]
        verdict = certs.build_path(parsed, anchors)
        evidence.note("path: " + " <- ".join(verdict.path))
        if leaf.self_signed and not verdict.reaches_anchor:
            if not policy.allow_self_signed:
                problems.append(f"self-signed leaf {leaf.subject} (allow_self_signed is false)")
        elif not verdict.reaches_anchor:
            problems += [
                f"chain does not reach {profile.tls.ca_file.name}: {p}" for p in verdict.problems
            ]
        for info in infos:
            if info.not_before > now:
                problems.append(
                    f"#{info.index} {info.subject} not valid before {info.not_before:%Y-%m-%d}"
                )
            if info.not_after < now:
                problems.append(
                    f"#{info.index} {info.subject} expired on {info.not_after:%Y-%m-%d}"
                )
        if now <= leaf.not_after < horizon:
            problems.append(
                f"leaf expires on {leaf.not_after:%Y-%m-%d}, "
                f"within {policy.cert_min_days_left} days"
            )
    assert not problems, f"{tls_service.name} certificate chain: " + "; ".join(problems)
    _raise_first(audit.posture.errors)
    days = min((infos[0].not_after - now).days for _, infos in chains)
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
    audit = _posture(crypto_audit, tls_service, evidence)
    try:
        chains = _chains(audit, evidence)
    except certs.MalformedCertificate as exc:
        raise ProtocolViolation(tls_service.name, str(exc)) from None
    problems = []
    for _, infos in chains:
        leaf = infos[0]
        names = [*leaf.dns_names, *leaf.ip_addresses]
        if certs.names_match(leaf, wanted):
            continue
        if not leaf.has_san:
            problems.append(f"leaf has no subjectAltName (CN {leaf.common_name!r} does not count)")
        else:
            problems.append(f"subjectAltName {names} does not name {wanted}")
    assert not problems, f"{tls_service.name} certificate: " + "; ".join(problems)
    _raise_first(audit.posture.errors)
    evidence.reason = f"subjectAltName names {wanted}"


@pytest.mark.check("CRYPTO-007")
def test_compression_renegotiation_downgrade(
    tls_service: Service, crypto_audit: DeviceCryptoAudit, evidence: EvidenceRecorder
) -> None:
    audit = _posture(crypto_audit, tls_service, evidence)
    posture = audit.posture
    _judged_versions(audit, crypto_audit.minimum)
    problems = []
    if posture.compression_accepted:
        problems.append("DEFLATE compression accepted")
    if posture.insecure_renegotiation_suites:
        problems.append("no secure renegotiation indication (RFC 5746) in the ServerHello")
    reneg = posture.renegotiation
    if reneg is not None:
        evidence.binary("renegotiation-server.bin", reneg.server_bytes)
        evidence.note(f"client renegotiation: {reneg.outcome.value} ({reneg.detail})")
        if reneg.outcome is RenegotiationOutcome.ACCEPTED:
            problems.append("client-initiated renegotiation accepted")
    fallback = posture.fallback
    if fallback is not None:
        evidence.note(f"{fallback.version.label} + TLS_FALLBACK_SCSV: {fallback.detail}")
        if fallback.alert != INAPPROPRIATE_FALLBACK:
            problems.append(
                f"{fallback.version.label} hello with TLS_FALLBACK_SCSV {fallback.detail}, "
                "not inappropriate_fallback"
            )
    for note in posture.notes:
        evidence.note(note)
    assert not problems, f"{tls_service.name}: " + "; ".join(problems)
    _raise_first(posture.errors)
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
    audit = crypto_audit.ssh()
    evidence.text("ssh-transcript.txt", audit.transcript.to_text(), audit.transcript.label)
    evidence.json("ssh-transcript.json", audit.transcript.to_json(), "SSH audit (JSON, hex)")
    if audit.algorithms is None:
        _raise_first(audit.errors)
    assert audit.algorithms is not None
    algorithms = audit.algorithms
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
    audit = _ssh(crypto_audit, evidence)
    assert audit.algorithms is not None
    observe("ssh_identification", audit.algorithms.identification)
    kexinit = audit.algorithms.kexinit
    lists = kexinit.judged()
    evidence.json(
        "algorithms.json",
        {**{k: list(v) for k, v in lists.items()}, "pseudo_algorithms": list(kexinit.pseudo),
         "raw_lists": {k: list(v) for k, v in kexinit.lists.items()}, "policy": label},
        "server KEXINIT name-lists", show=True,
    )  # fmt: skip
    offending = []
    for kind, names in lists.items():
        evidence.note(f"{kind}: {', '.join(names) or '(empty)'}")
        offending += [f"{kind} {name}" for name in names if name not in rules.allowed(kind)]
    assert not offending, f"SSH offers algorithms {label} forbids: " + ", ".join(offending)
    evidence.reason = f"every offered algorithm is allowed by {label} (one connection)"


@pytest.mark.check("CRYPTO-009")
def test_ssh_host_key_strength(
    ssh_target: SshTarget,
    crypto_audit: DeviceCryptoAudit,
    ssh_policy: tuple[str, SshPolicy],
    evidence: EvidenceRecorder,
) -> None:
    label, rules = ssh_policy
    audit = _ssh(crypto_audit, evidence)
    keys = audit.keys
    assert keys is not None
    assert audit.algorithms is not None
    evidence.json("host-keys.json", [vars(k) for k in keys.keys], "host keys", show=True)
    if keys.auth_methods is not None:
        evidence.note(f"authentication methods offered: {', '.join(keys.auth_methods)}")
    offending = []
    for key in keys.keys:
        evidence.note(
            f"{key.algorithm}: {key.key_type} {key.bits or '?'} bits {key.fingerprint} {key.detail}"
        )
        if key.key_type == "ssh-dss" and not rules.allow_dsa:
            offending.append("DSA host key")
        elif key.key_type == "ssh-rsa" and key.bits is not None and key.bits < rules.min_rsa_bits:
            offending.append(f"RSA host key of {key.bits} bits (< {rules.min_rsa_bits})")
        elif (
            key.key_type.startswith("ecdsa")
            and key.bits is not None
            and (key.bits < rules.min_ecdsa_bits)
        ):
            offending.append(f"ECDSA host key of {key.bits} bits")
    assert not offending, f"SSH host keys too weak ({label}): " + "; ".join(offending)
    _raise_first(keys.errors)
    unfetched = [k.algorithm for k in keys.keys if not k.fetched]
    if unfetched:
        raise ProtocolViolation(
            f"{ssh_target}", f"host keys offered but not fetched: {', '.join(unfetched)}"
        )
    evidence.reason = ", ".join(f"{k.key_type} {k.bits}" for k in keys.keys) + f" ({label})"


# --- cleartext ------------------------------------------------------------------------------


@pytest.mark.check("CRYPTO-010")
def test_no_cleartext_protocol_on_any_port(
    profile: Profile, scope: Scope, tcp_scan: net.ScanResult, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy, scan = profile.network, profile.policy, tcp_scan
    transcript = evidence.new_transcript("cleartext", f"cleartext probes of {network.host}")
    tls_ports = {s.port for s in profile.tls_services}
    candidates = [p for p in scan.open if p not in tls_ports]
    evidence.note(
        f"open {list(scan.open)}; TLS-profiled (CRYPTO-011's) {sorted(tls_ports)}; "
        f"probed {candidates}"
    )
    with ThreadPoolExecutor(max_workers=policy.max_connections) as pool:
        findings = list(
            pool.map(
                lambda port: cleartext.identify(
                    scope, network.host, port, timeout=policy.timeout_s, transcript=transcript
                ),
                candidates,
            )
        )
    snmp = cleartext.snmp_communities(
        scope, network.host, timeout=policy.timeout_s, transcript=transcript
    )
    if snmp is not None:
        findings.append(snmp)
    for finding in findings:
        evidence.note(finding.summary())
    evidence.json(
        "ports.json",
        [{"port": f.port, "speaks": f.speaks.value, "detail": f.detail,
          "answer_hex": f.answer.hex()}
         for f in findings],
        "what each port answered", show=True,
    )  # fmt: skip
    offending = [f.summary() for f in findings if f.speaks.cleartext]
    if not policy.http_redirect_allowed:
        offending += [
            f.summary() + " (http_redirect_allowed is false)"
            for f in findings
            if f.speaks is cleartext.Speaks.HTTP_REDIRECT
        ]
    assert not offending, "cleartext services: " + "; ".join(offending)
    evidence.reason = f"no cleartext protocol on {len(candidates)} probed ports or SNMP"


@pytest.mark.check("CRYPTO-011")
def test_tls_service_refuses_cleartext(
    tls_service: Service, profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    host, policy = profile.network.host, profile.policy
    transcript = evidence.new_transcript("cleartext", f"cleartext requests to {tls_service.name}")
    mqtt = tls_service.protocol == "mqtts"
    request = (
        cleartext.mqtt_connect("medsec-probe") if mqtt else cleartext.HTTP_REQUEST % host.encode()
    )
    plain = cleartext.plaintext_on_tls_port(
        scope, host, tls_service.port, request, timeout=policy.timeout_s, transcript=transcript
    )
    evidence.note(f"cleartext {'MQTT CONNECT' if mqtt else 'HTTP GET'}: {plain.summary()}")
    problems = []
    if plain.speaks is cleartext.Speaks.MQTT or (
        plain.speaks is cleartext.Speaks.HTTP and not plain.detail.split(" ")[1:2] >= ["400"]
    ):
        problems.append(f"answered a cleartext request: {plain.detail}")
    if mqtt:
        try:
            broker = cleartext.mqtt_over_tls(
                scope, host, tls_service.port,
                server_name=tls.default_server_name(host, profile.tls.server_name),
                timeout=policy.timeout_s, transcript=transcript,
            )  # fmt: skip
        except DeviceError as exc:
            evidence.note(f"MQTT over TLS without a client certificate: refused ({exc})")
        else:
            evidence.note(f"MQTT over TLS, CONNECT without credentials: {broker.summary()}")
            if cleartext.parse_connack(broker.answer) == 0:
                problems.append("the broker accepts a CONNECT without credentials or certificate")
            elif broker.speaks not in (cleartext.Speaks.MQTT, cleartext.Speaks.CLOSED):
                raise ProtocolViolation(tls_service.name, f"no CONNACK: {broker.detail}")
    assert not problems, f"{tls_service.name}: " + "; ".join(problems)
    evidence.reason = "cleartext request got no application answer" + (
        "; unauthenticated CONNECT refused" if mqtt else ""
    )


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
    with tls_client.listening(address) as listener:
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
