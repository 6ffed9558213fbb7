"""nginx and OpenSSH as a device's web UI and service port: SURFACE-004, 006 and 007, and nmap.

Weak: nginx names its version in `Server` and on every error page and sends no security
header and a cookie without flags; sshd says `Debian-<revision>` after its version
(Debian's default). Hardened: `server_tokens off`, HSTS, a framing ban, nosniff and
no-store on every answer, a Secure HttpOnly SameSite cookie, and `DebianBanner no`.
SURFACE-007 reads each against an SBOM of the installed Debian packages: it matches on
the weak pair, whose banners show the versions; an SBOM naming another Debian revision
of openssh-server and no nginx fails it. `nmap -sV` on the same ports must name the same
products and versions that `observed.cdx.json` records, and the same as our rule table
for a dropbear and a lighttpd beside them.
"""

from __future__ import annotations

import ipaddress
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.config.sbom import split_version
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.surface import banners, fingerprints
from harness.reporting.results import Outcome
from harness.transports.http import TlsTrust
from tests.integration import crypto_daemons, daemons, embedded, web_daemons
from tests.integration.embedded import Account
from tests.integration.verdicts import concurrently, outcomes, reasons, run

ALL = ("--suite", "surface", "--", "-k", "disclosure or web_security or observed_components")
SBOM_ONLY = ("--suite", "surface", "--", "-k", "observed_components")


def _profile(host: str, web: int, ssh: int, ca: Path, password: str, sbom: Path) -> dict[str, Any]:
    return {
        "network": {
            "host": host,
            "expected_tcp": [web, ssh],
            "services": [
                {"name": "web", "port": web, "protocol": "https"},
                {"name": "service-ssh", "port": ssh, "protocol": "ssh"},
            ],
        },
        "tls": {"ca_file": str(ca)},
        "http": {
            "base_url": f"https://{host}:{web}",
            # `prefs` is not the session: HTTP Basic is.
            "login": {"path": "/", "style": "basic", "session_cookie": "sid"},
            "account": {"username": "admin", "password": password},
        },
        "sbom": str(sbom),
        "policy": {"timeout_s": 5},
    }


def _observed(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """observed.cdx.json of a run: {component: (version, package revision)}."""
    document = json.loads((result["out"] / "observed.cdx.json").read_text())
    found = {}
    for component in document.get("components", []):
        properties = {p["name"]: p["value"] for p in component.get("properties", [])}
        if properties.get("medsec:identified") != "false":
            revision = properties.get("medsec:revision", "")
            found[component["name"]] = (component.get("version", ""), revision)
    return found


def _nmap(host: str, ports: dict[str, int]) -> dict[str, Any]:
    services = web_daemons.nmap_versions(host, list(ports.values()))
    return {name: services.get(port) for name, port in ports.items()}


def test_nginx_and_sshd_weak_and_hardened(
    tmp_path: Path, loopback_address: str, private_network: None
) -> None:
    weak_host, hardened_host = embedded.addresses(loopback_address, 2)
    ca = crypto_daemons.make_pki(tmp_path, weak_host)  # names are CRYPTO-006's, not judged here
    password = daemons.random_password()
    installed = {p: web_daemons.package_version(p) for p in ("openssh-server", "nginx")}
    upstream_ssh, revision_ssh = split_version(installed["openssh-server"])
    epoch_upstream = installed["openssh-server"].rpartition("-")[0]
    matching = web_daemons.sbom(tmp_path / "matching.cdx.json", installed)
    stale = web_daemons.sbom(
        tmp_path / "stale.cdx.json", {"openssh-server": f"{epoch_upstream}-0+medsec1"}
    )
    with ExitStack() as stack:
        weak_web = stack.enter_context(
            web_daemons.nginx(
                weak_host,
                tmp_path / "weak-nginx",
                web_daemons.Nginx(ca.ec_cert, ca.ec_key, "admin", password, hardened=False),
            )
        )
        hardened_web = stack.enter_context(
            web_daemons.nginx(
                hardened_host,
                tmp_path / "hardened-nginx",
                web_daemons.Nginx(ca.ec_cert, ca.ec_key, "admin", password, hardened=True),
            )
        )
        weak_ssh = stack.enter_context(
            daemons.sshd(weak_host, tmp_path / "weak-sshd", password_auth=False, allow="nobody")
        )
        hardened_ssh = stack.enter_context(
            daemons.sshd(
                hardened_host,
                tmp_path / "hardened-sshd",
                password_auth=False,
                allow="nobody",
                extra="DebianBanner no\n",
            )
        )
        # Two more products of the rule table, beside the weak pair, for nmap to name too.
        etc = stack.enter_context(
            embedded.private_etc(tmp_path / "dropbear", [Account("service", None)])
        )
        dropbear = stack.enter_context(
            embedded.dropbear(
                weak_host, tmp_path / "dropbear", etc,
                [embedded.dropbear_key(tmp_path / "dropbear", "ed25519")], ["-s"],
            )
        )  # fmt: skip
        combined = tmp_path / "lighttpd.pem"
        combined.write_bytes(ca.ec_cert.read_bytes() + ca.ec_key.read_bytes())
        lighttpd = stack.enter_context(
            embedded.lighttpd(
                weak_host, tmp_path / "lighttpd", embedded.WebServer(combined, {}, True)
            )
        )
        weak_profile = _profile(weak_host, weak_web, weak_ssh, ca.ca, password, stale)
        hardened_profile = _profile(
            hardened_host, hardened_web, hardened_ssh, ca.ca, password, matching
        )
        runs = concurrently(
            weak=lambda: run(tmp_path, weak_host, "web-weak", *ALL, **weak_profile),
            hardened=lambda: run(tmp_path, hardened_host, "web-hardened", *ALL, **hardened_profile),
            matching=lambda: run(
                tmp_path, weak_host, "web-weak-matching", *SBOM_ONLY,
                **(weak_profile | {"sbom": str(matching)}),
            ),
            nmap_weak=lambda: _nmap(
                weak_host,
                {"web": weak_web, "ssh": weak_ssh, "dropbear": dropbear, "lighttpd": lighttpd},
            ),
            ours=lambda: _ours(weak_host, dropbear, lighttpd),
            nmap_hardened=lambda: _nmap(hardened_host, {"web": hardened_web, "ssh": hardened_ssh}),
        )  # fmt: skip
    weak, hardened, matching_run = runs["weak"], runs["hardened"], runs["matching"]
    assert outcomes(weak) == {
        "SURFACE-004[network]": Outcome.FAILED,
        "SURFACE-006[http]": Outcome.FAILED,
        "SURFACE-007[network]": Outcome.FAILED,
    }, reasons(weak)
    disclosed = weak["checks"]["SURFACE-004[network]"].reason
    assert f"Debian-{revision_ssh}" in disclosed  # the SSH comment
    assert "Server: names nginx 1.22" in disclosed
    assert "(HTTP 401 page): names nginx 1.22" in disclosed  # the error page too
    headers = weak["checks"]["SURFACE-006[http]"].reason
    for missing in ("no Strict-Transport-Security", "no X-Content-Type-Options", "no CSP"):
        assert missing in headers, missing
    assert "cookie 'prefs' lacks Secure, HttpOnly" in headers
    assert "no Cache-Control: no-store" in headers
    components = weak["checks"]["SURFACE-007[network]"].reason
    assert f"openssh {upstream_ssh} (package revision {revision_ssh})" in components
    assert "in the SBOM with another version" in components
    assert "nginx 1.22.1 (from" in components
    assert "not in the SBOM" in components

    assert outcomes(hardened) == {
        "SURFACE-004[network]": Outcome.PASSED,
        "SURFACE-006[http]": Outcome.PASSED,
        "SURFACE-007[network]": Outcome.PASSED,
    }, reasons(hardened)
    assert outcomes(matching_run) == {"SURFACE-007[network]": Outcome.PASSED}, reasons(matching_run)

    # nmap names what we name, on both pairs (the hardened one hides nginx's version).
    nmap_weak, nmap_hardened = runs["nmap_weak"], runs["nmap_hardened"]
    ours_weak, ours_hardened = _observed(matching_run), _observed(hardened)
    assert ours_weak == {"openssh": (upstream_ssh, revision_ssh), "nginx": ("1.22.1", "")}
    assert (nmap_weak["ssh"].product, nmap_weak["ssh"].version) == (
        "OpenSSH",
        f"{upstream_ssh} Debian {revision_ssh}",
    )
    assert (nmap_weak["web"].product, nmap_weak["web"].version) == ("nginx", "1.22.1")
    assert ours_hardened == {"openssh": (upstream_ssh, ""), "nginx": ("", "")}
    assert (nmap_hardened["ssh"].product, nmap_hardened["ssh"].version) == ("OpenSSH", upstream_ssh)
    assert (nmap_hardened["web"].product, nmap_hardened["web"].version) == ("nginx", "")
    dropbear_version = split_version(web_daemons.package_version("dropbear-bin"))[0]
    lighttpd_version = split_version(web_daemons.package_version("lighttpd"))[0]
    assert runs["ours"] == {"dropbear": dropbear_version, "lighttpd": lighttpd_version}
    assert (nmap_weak["dropbear"].product, nmap_weak["dropbear"].version) == (
        "Dropbear sshd",
        dropbear_version,
    )
    assert (nmap_weak["lighttpd"].product, nmap_weak["lighttpd"].version) == (
        "lighttpd",
        lighttpd_version,
    )


def _ours(host: str, dropbear: int, lighttpd: int) -> dict[str, Any]:
    """What our banner probe and rule table make of dropbear and lighttpd."""
    scope = Scope((ipaddress.ip_network(f"{host}/32"),))
    transcript = Transcript("dropbear and lighttpd")
    shown = banners.ssh(scope, host, dropbear, 5, transcript)
    shown += banners.web(scope, f"https://{host}:{lighttpd}", 5, TlsTrust(), transcript)
    return {o.rule.product: o.version for o in fingerprints.identify(tuple(shown)).observed}
