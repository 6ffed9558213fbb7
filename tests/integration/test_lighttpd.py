"""lighttpd over TLS with HTTP Basic authentication and a WebDAV folder, weak and hardened.

Weak: a self-signed certificate (its chain does not reach `tls.ca_file`), admin/admin,
and a WebDAV folder outside the authentication. Hardened: a certificate from the test
CA, a strong password, WebDAV behind Basic authentication. The AUTH checks must judge
authentication whatever the chain (CRYPTO-005 fails the weak one), `http.login.style:
basic` must log in with GET on a static page, and lighttpd's 400 to a malformed
`Authorization` header, with the file read back unchanged, is a refusal. With
`http.verify_tls: true` the same weak server ends the HTTP checks as errors that say
why, AUTH-009 included (it used to crash on that path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from harness.reporting.results import Outcome
from tests.integration import crypto_daemons, daemons, embedded, pki
from tests.integration.verdicts import concurrently, outcomes, reasons, run

CHECKS = (
    "--suite", "auth,crypto", "--allow-destructive", "--",
    "-k", "(http and not password) or chain_and_validity",
)  # fmt: skip


def _self_signed(folder: Path, host: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    pki.write_certificate(folder / "self.pem", pki.certificate(host, key, days=60, ip=host))
    pki.write_key(folder / "self.key", key)
    return _pem(folder / "self", folder / "self.pem", folder / "self.key")


def _pem(path: Path, cert: Path, key: Path) -> Path:
    """Certificate and key in one file, as lighttpd's ssl.pemfile wants them."""
    combined = path.with_suffix(".combined.pem")
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    return combined


def _profile(host: str, port: int, ca: Path, password: str, **http: Any) -> dict[str, Any]:
    account = {"username": "admin", "password": password}
    return {
        "network": {
            "host": host,
            "expected_tcp": [port],
            "services": [{"name": "web", "port": port, "protocol": "https"}],
        },
        "tls": {"ca_file": str(ca)},
        "http": {
            "base_url": f"https://{host}:{port}",
            "login": {"path": "/", "style": "basic"},  # no method: GET for Basic
            "account": account,
            "protected": [
                {
                    "name": "config",
                    "method": "PUT",
                    "path": "/dav/config.txt",
                    "body": "rate=99\n",
                    "state_path": "/dav/config.txt",
                }
            ],
            **http,
        },
        "auth": {"lockout_account": {"http": account}},
        "policy": {"lockout_after_failures": 3, "lockout_delay_s": 2, "timeout_s": 5},
    }


def test_lighttpd_weak_hardened_and_verifying(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    ca = crypto_daemons.make_pki(tmp_path, hardened_host)
    strong = daemons.random_password()
    with (
        embedded.lighttpd(
            weak_host,
            tmp_path / "weak",
            embedded.WebServer(_self_signed(tmp_path, weak_host), {"admin": "admin"}, False),
        ) as weak,
        embedded.lighttpd(
            hardened_host,
            tmp_path / "hardened",
            embedded.WebServer(
                _pem(tmp_path / "ec", ca.ec_cert, ca.ec_key), {"admin": strong}, True
            ),
        ) as hardened,
    ):
        runs = concurrently(
            weak=lambda: run(
                tmp_path, weak_host, "lighttpd-weak", *CHECKS,
                **_profile(weak_host, weak, ca.ca, "admin"),
            ),
            hardened=lambda: run(
                tmp_path, hardened_host, "lighttpd-hardened", *CHECKS,
                **_profile(hardened_host, hardened, ca.ca, strong),
            ),
            verifying=lambda: run(
                tmp_path, weak_host, "lighttpd-verifying", *CHECKS,
                **_profile(weak_host, weak, ca.ca, "admin", verify_tls=True),
            ),
        )  # fmt: skip
    weak_run, hardened_run, verifying = runs["weak"], runs["hardened"], runs["verifying"]
    assert outcomes(weak_run) == {
        "AUTH-003[http]": Outcome.FAILED,  # admin / admin, although the chain fails
        "AUTH-009[http]": Outcome.FAILED,  # lighttpd neither locks nor delays
        "AUTH-010[http]": Outcome.FAILED,  # WebDAV PUT without credentials
        "CRYPTO-005[web]": Outcome.FAILED,  # self-signed
    }, reasons(weak_run)
    checks = weak_run["checks"]
    assert "/ ad***" in checks["AUTH-003[http]"].reason
    assert "no credentials: HTTP 204 and the state changed" in checks["AUTH-010[http]"].reason
    assert any(
        "does not verify against ca.pem" in line for line in checks["AUTH-003[http]"].summary
    )
    assert outcomes(hardened_run) == {
        "AUTH-003[http]": Outcome.PASSED,
        "AUTH-009[http]": Outcome.FAILED,  # lighttpd has no lockout whatever its configuration
        "AUTH-010[http]": Outcome.PASSED,  # 401 without credentials, 400 to a malformed one
        "CRYPTO-005[web]": Outcome.PASSED,
    }, reasons(hardened_run)
    access = (hardened_run["out"] / "evidence/AUTH-010/http/access.json").read_text()
    assert '"status": 400' in access
    assert '"status": 401' in access
    assert outcomes(verifying) == {
        "AUTH-003[http]": Outcome.ERROR,
        "AUTH-009[http]": Outcome.ERROR,
        "AUTH-010[http]": Outcome.ERROR,
        "CRYPTO-005[web]": Outcome.FAILED,
    }, reasons(verifying)
    for key in ("AUTH-003[http]", "AUTH-009[http]", "AUTH-010[http]"):
        assert "does not verify against ca.pem" in verifying["checks"][key].reason, key
