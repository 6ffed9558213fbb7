"""The CRYPTO probes and checks against real servers, weak and strong, and against the peers.

Our TLS suite enumeration must report what sslyze reports, and our KEXINIT read what
ssh-audit reports, on the same `openssl s_server` and `sshd`. Where we and a peer
disagree, one direct handshake for that single item (`openssl s_client` with exactly that
suite, `ssh -o KexAlgorithms=...`) settles who is right, and the test requires it to be us.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import ssh_algos, tls_audit
from harness.probes.crypto.tls import TlsVersion
from harness.reporting.results import Outcome, load
from harness.sim.telemetry_pki import cloud_ca
from tests.integration import crypto_daemons as real
from tests.integration.cli import medsec_run

FLAGS = {0x0300: "-ssl3", 0x0301: "-tls1", 0x0302: "-tls1_1", 0x0303: "-tls1_2", 0x0304: "-tls1_3"}


def run_crypto(tmp_path: Path, host: str, **sections: Any) -> dict[str, list[Any]]:
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": "real daemon", "vendor": "OpenSSL", "model": "lo", "firmware": "n/a"},
        "scope": {"allow": [f"{host}/32"]},
        **sections,
    }
    profile = tmp_path / "crypto.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / "run"
    medsec_run(profile, out, "--suite", "crypto", "--quiet")
    found: dict[str, list[Any]] = {}
    for check in load(out / "results.json").checks:
        found.setdefault(check.id, []).append(check)
    return found


def _ours(host: str, port: int) -> tls_audit.TlsPosture:
    return tls_audit.audit(
        Scope.of([f"{host}/32"]), host, port, list(TlsVersion), minimum=TlsVersion.SSL3,
        timeout=5, server_name=None, slots=threading.BoundedSemaphore(2),
        transcript=Transcript("audit"), extras=False,
    )  # fmt: skip


@pytest.mark.parametrize("config", ["weak", "strong"])
def test_tls_suites_agree_with_sslyze(
    tmp_path: Path, loopback_address: str, private_network: None, config: str
) -> None:
    host = loopback_address
    pki = real.make_pki(tmp_path, host)
    with real.tls_server(host, tmp_path, pki, config) as port:
        posture = _ours(host, port)
        theirs = real.sslyze_suites(host, port, tmp_path)
        names = real.openssl_names()
        settled = []
        for version, peer_names in theirs.items():
            scan = posture.scan(TlsVersion(version))
            ours = set(scan.names()) if scan else set()
            for name in sorted(ours ^ peer_names):
                assert name in names, f"{name}: no OpenSSL name to settle the disagreement"
                truth = real.s_client_accepts_suite(host, port, FLAGS[version], names[name])
                settled.append((TlsVersion(version).label, name, name in ours, truth))
    assert not posture.errors, posture.errors
    wrong = [item for item in settled if item[2] != item[3]]
    assert not wrong, f"our probe was wrong where it disagreed with sslyze: {wrong}"
    (tmp_path / "disagreements.txt").write_text(repr(settled))
    if config == "weak":
        assert TlsVersion.TLS1_0 in posture.supported
        accepted = sum(len(v.accepted) for v in posture.versions)
        # remove-and-retry: per version one handshake per accepted suite, at most one
        # refusal and one order check
        assert accepted <= posture.connections <= accepted + 2 * len(posture.versions)


@pytest.mark.parametrize(
    ("config", "failing"),
    [("weak", {"CRYPTO-001", "CRYPTO-002", "CRYPTO-003", "CRYPTO-007"}), ("strong", set())],
)
def test_tls_checks_follow_the_server_config(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    config: str,
    failing: set[str],
) -> None:
    host = loopback_address
    pki = real.make_pki(tmp_path, host)
    with real.tls_server(host, tmp_path, pki, config) as port:
        checks = run_crypto(
            tmp_path,
            host,
            network={
                "host": host,
                "expected_tcp": [port],
                "scan_ports": str(port),
                "services": [{"name": "s_server", "port": port, "protocol": "https"}],
            },
            tls={"ca_file": str(pki.ca)},
        )
    outcomes = {cid: {c.outcome for c in found} for cid, found in checks.items()}
    failed = {cid for cid, seen in outcomes.items() if Outcome.FAILED in seen}
    assert failed == failing, {cid: [c.reason for c in found] for cid, found in checks.items()}
    for cid in ("CRYPTO-004", "CRYPTO-005", "CRYPTO-006", "CRYPTO-010", "CRYPTO-011"):
        assert outcomes[cid] == {Outcome.PASSED}, checks[cid][0].reason
    if config == "weak":
        reasons = " ".join(c.reason for c in checks["CRYPTO-002"] + checks["CRYPTO-007"])
        assert "NULL" in reasons
        assert "renegotiation accepted" in reasons


@pytest.mark.parametrize(("config", "fails"), [("weak", True), ("strong", False)])
def test_ssh_lists_agree_with_ssh_audit_and_checks_follow(
    tmp_path: Path, loopback_address: str, private_network: None, config: str, fails: bool
) -> None:
    host = loopback_address
    with real.ssh_server(host, tmp_path / "sshd", config) as port:
        transcript = Transcript("kexinit")
        algorithms = ssh_algos.read_kexinit(
            Scope.of([f"{host}/32"]), host, port, timeout=10, transcript=transcript
        )
        connects = [s for s in transcript.items if s.note.startswith("connect ")]
        assert len(connects) == 1, "the algorithm audit takes exactly one connection"
        peer = real.ssh_audit_lists(host, port)
        ours = algorithms.kexinit.judged()
        settled = []
        for kind, peer_names in peer.items():
            pseudo = {n for n in peer_names if ssh_algos.is_pseudo_algorithm(n)}
            for name in sorted(set(ours[kind]) ^ (peer_names - pseudo)):
                truth = real.ssh_client_accepts(host, port, kind, name)
                settled.append((kind, name, name in ours[kind], truth))
        checks = run_crypto(
            tmp_path, host, ssh={"host": host, "port": port, "username": "nobody-medsec"}
        )
    wrong = [item for item in settled if item[2] != item[3]]
    assert not wrong, f"our KEXINIT read was wrong where it disagreed with ssh-audit: {wrong}"
    for cid in ("CRYPTO-008", "CRYPTO-009"):
        outcome = checks[cid][0].outcome
        assert outcome is (Outcome.FAILED if fails else Outcome.PASSED), checks[cid][0].reason
    if fails:
        reason = checks["CRYPTO-008"][0].reason
        for weak in ("diffie-hellman-group1-sha1", "aes128-cbc", "hmac-sha1", "ssh-rsa"):
            assert weak in reason
        assert "RSA host key of 2048 bits" in checks["CRYPTO-009"][0].reason


@pytest.fixture
def openssl_device(loopback_address: str, tmp_path: Path) -> Iterator[Any]:
    """`openssl s_client` playing a device that connects out every 0.3 s."""
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def start(port: int, ca: Path, validating: bool) -> None:
        options = ["-verify_return_error", "-CAfile", str(ca), "-verify_hostname",
                   "cloud.example"] if validating else []  # fmt: skip

        def loop() -> None:
            while not stop.wait(0.3):
                subprocess.run(
                    ["openssl", "s_client", "-connect", f"{loopback_address}:{port}",
                     "-servername", "cloud.example", "-quiet", *options],
                    input=b"telemetry report\n", capture_output=True, timeout=15, check=False,
                )  # fmt: skip

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        workers.append(worker)

    yield start
    stop.set()
    for worker in workers:
        worker.join(20)


@pytest.mark.parametrize(
    ("validating", "expected"), [(True, Outcome.PASSED), (False, Outcome.FAILED)]
)
def test_crypto012_against_openssl_s_client_as_the_device(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    openssl_device: Any,
    validating: bool,
    expected: Outcome,
) -> None:
    host = loopback_address
    port = real.daemons.free_port(host)
    trusted = cloud_ca(tmp_path)  # the CA the device build trusts
    openssl_device(port, trusted.cert_path, validating)
    checks = run_crypto(
        tmp_path,
        host,
        tls_client={
            "listen": f"{host}:{port}",
            "server_name": "cloud.example",
            "ca_cert": str(trusted.cert_path),
            "ca_key": str(trusted.key_path),
            "wait_s": 20,
        },
    )
    check = checks["CRYPTO-012"][0]
    assert check.outcome is expected, check.reason
    if expected is Outcome.FAILED:
        for case in ("untrusted", "expired", "wrong-name"):
            assert case in check.reason
