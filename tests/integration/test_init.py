"""`medsec init` as a new user runs it: against the emulated pump, then on to a first report;
against OpenSSH's sshd and OpenSSL's s_server, weak and hardened, where the draft must name
what the real daemon offers and a first run from it must give the right verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.reporting.results import Outcome, load
from harness.sim.pump import EmulatedPump, SimConfig
from tests.integration import crypto_daemons, daemons
from tests.integration.cli import medsec, medsec_run


def _init(host: str, out: Path, *args: str) -> dict[str, Any]:
    done = medsec("init", host, "--out", str(out), *args, timeout=120)
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(out.read_text())
    assert isinstance(document, dict)
    return document


def _services(document: dict[str, Any]) -> dict[int, str]:
    return {s["port"]: s["protocol"] for s in document["network"]["services"]}


def _fill_in(path: Path, **values: str) -> None:
    """What the user does with the TODOs the test needs decided."""
    text = path.read_text()
    for old, new in values.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)


def test_init_drafts_the_pump_and_leads_to_a_first_report(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    config = SimConfig(workdir=tmp_path / "device", host=loopback_address)
    with EmulatedPump(config) as pump:
        ends = pump.endpoints
        draft = tmp_path / "pump.yaml"
        document = _init(loopback_address, draft)  # every TCP port of the address
        assert _services(document) == {
            ends.ssh_port: "ssh",
            ends.https_port: "https",
            ends.telemetry_port: "mqtts",
        }
        assert document["scope"]["allow"] == [f"{loopback_address}/32"]
        assert document["ssh"]["password"] == "${MEDSEC_SSH_PASSWORD}"  # it offers passwords
        assert document["http"]["base_url"] == f"https://{loopback_address}:{ends.https_port}"
        assert document["http"]["login"] == {
            "path": "/api/login",
            "method": "POST",
            "style": "json",
        }
        validated = medsec("validate", str(draft))
        assert validated.returncode == 0, validated.stderr
        assert "needed before medsec run" in validated.stdout
        assert "MEDSEC_SSH_PASSWORD is not set" in validated.stdout

        _fill_in(
            draft,
            **{
                "  username: TODO": "  username: service",
                "{username: TODO,": "{username: admin,",
            },
        )
        ssh_password = pump.profile()["auth"]["lockout_account"]["ssh"]["password"]
        api_password = pump.credentials.api_admin_password
        env = tmp_path / "bench.env"
        env.write_text(f"MEDSEC_SSH_PASSWORD={ssh_password}\nMEDSEC_HTTP_PASSWORD={api_password}\n")
        run = medsec_run(draft, tmp_path / "run", "--env-file", str(env), "--suite", "surface")
    assert (tmp_path / "run" / "report.html").is_file(), run.stderr
    results = load(tmp_path / "run" / "results.json")
    outcomes = {c.id: c.outcome for c in results.checks}
    assert outcomes["SURFACE-001"] is Outcome.PASSED  # the draft expects what was open
    assert run.returncode in (0, 1), run.stderr
    for path in (tmp_path / "run").rglob("*"):  # the env file's values are profile secrets
        if path.is_file():
            assert api_password.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("password_auth", "expected"), [(True, Outcome.FAILED), (False, Outcome.PASSED)]
)
def test_init_reads_what_sshd_offers(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    password_auth: bool,
    expected: Outcome,
) -> None:
    with daemons.sshd(
        loopback_address, tmp_path / "sshd", password_auth=password_auth, allow="nobody"
    ) as port:
        draft = tmp_path / "sshd.yaml"
        document = _init(loopback_address, draft)
        assert _services(document) == {port: "ssh"}
        assert document["ssh"]["port"] == port
        assert ("password" in document["ssh"]) is password_auth
        assert "SSH-2.0-OpenSSH_" in draft.read_text()
        _fill_in(draft, **{"  username: TODO": "  username: nobody"})
        env = tmp_path / "bench.env"
        env.write_text("MEDSEC_SSH_PASSWORD=not-the-password\n")
        medsec_run(draft, tmp_path / "run", "--env-file", str(env), "--suite", "auth", "--",
                   "-k", "authentication_methods")  # fmt: skip
    results = load(tmp_path / "run" / "results.json")
    check = next(c for c in results.checks if c.id == "AUTH-007")
    assert check.outcome is expected, check.reason  # strict policy: publickey only


@pytest.mark.parametrize(
    ("config", "versions", "expected"),
    [
        ("weak", ["TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"], Outcome.FAILED),
        ("strong", ["TLS 1.2", "TLS 1.3"], Outcome.PASSED),
    ],
)
def test_init_reads_what_s_server_offers(
    tmp_path: Path,
    loopback_address: str,
    private_network: None,
    config: str,
    versions: list[str],
    expected: Outcome,
) -> None:
    pki = crypto_daemons.make_pki(tmp_path, loopback_address)
    flags = {"TLS 1.0": "-tls1", "TLS 1.1": "-tls1_1", "TLS 1.2": "-tls1_2", "TLS 1.3": "-tls1_3"}
    with crypto_daemons.tls_server(loopback_address, tmp_path, pki, config) as port:
        assert versions == [
            v for v, flag in flags.items() if daemons.s_client_accepts(loopback_address, port, flag)
        ]
        draft = tmp_path / "tls.yaml"
        document = _init(loopback_address, draft)
        assert _services(document) == {port: "https"}  # s_server -www answers HTTP
        service = next(line for line in draft.read_text().splitlines() if f"port: {port}," in line)
        assert service.endswith("# " + ", ".join(versions) + "; HTTP 200 to GET /")
        assert f"CN={loopback_address}" in draft.read_text()
        run = medsec_run(draft, tmp_path / "run", "--suite", "crypto", "--", "-k", "below_minimum")
    results = load(tmp_path / "run" / "results.json")
    check = next(c for c in results.checks if c.id == "CRYPTO-001")
    assert check.outcome is expected, (check.reason, run.stderr)
