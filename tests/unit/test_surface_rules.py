"""SURFACE-004...007 rules: version tokens, banner fingerprints, the SBOM, web headers, and
the debug protocols' parsers (against the emulator's GDB stub and a fake ADB daemon)."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cyclonedx.model.bom import Bom

from harness.config import sbom
from harness.config.profile import DEFAULT_SSH_BANNER
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.probes.surface import components, debug_services, fingerprints, web_headers
from harness.probes.surface.banners import Banner
from harness.probes.surface.debug_services import Debug
from harness.probes.surface.disclosure import DisclosureRules, version_tokens
from harness.sim.console import boot_log
from harness.sim.gdb_stub import GdbStub

# --- SURFACE-004: version tokens and the disclosure rules ---------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("nginx/1.22.1", ["nginx 1.22.1"]),
        ("pumpd/2.4.1 OpenSSL/1.1.1k", ["pumpd 2.4.1", "OpenSSL 1.1.1k"]),
        ("<hr><center>nginx/1.22.1</center>", ["nginx 1.22.1"]),
        ("BusyBox v1.36.1 (Debian 1:1.36.1-9) built-in shell", ["BusyBox 1.36.1"]),
        ("Linux version 6.1.0-23-amd64", ["Linux 6.1.0"]),
        ("Ubuntu 22.04.3 LTS", ["Ubuntu 22.04.3"]),
        ("Apache/2.4.57 (Debian) Server at 127.0.0.1 Port 80", ["Apache 2.4.57"]),
        ("GoAhead-Webs/2.5.0", ["GoAhead-Webs 2.5.0"]),
        ("Boa/0.94.14rc21", ["Boa 0.94.14rc21"]),
        ("mosquitto version 2.0.11", ["mosquitto 2.0.11"]),
        ("nginx", []),
        ("Apache/2", []),  # a major version alone is not an exact one
        ("Ubuntu 22.04 LTS", []),  # two parts after a space: too easily something else
        ("Temperature 36.6 C", []),
        ("IP-100 login:", []),
        ("Debian GNU/Linux 12", []),
        ("[    0.412203] mmcblk0: mmc0:0001 8GTF4R 7.28 GiB", []),
    ],
)
def test_version_tokens(text: str, tokens: list[str]) -> None:
    assert [str(t) for t in version_tokens(text)] == tokens


def test_the_pumps_boot_log_names_no_version() -> None:
    assert version_tokens(boot_log().decode()) == []


def _banner(kind: str, text: str) -> Banner:
    return Banner("where", kind, text)  # type: ignore[arg-type]


def test_ssh_identification_is_judged_by_the_pattern_only() -> None:
    rules = DisclosureRules(False, DEFAULT_SSH_BANNER)
    debian = _banner("ssh-identification", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10")
    plain = _banner("ssh-identification", "SSH-2.0-OpenSSH_9.2p1")
    dropbear = _banner("ssh-identification", "SSH-2.0-dropbear_2022.83")
    assert [p.banner for p in rules.problems([debian, plain, dropbear])] == [debian]
    strict = DisclosureRules(True, r"^SSH-2\.0-pumpd$")
    assert [
        p.banner for p in strict.problems([plain, _banner("ssh-identification", "SSH-2.0-pumpd")])
    ] == [plain]


def test_versions_elsewhere_fail_unless_the_policy_allows_them() -> None:
    shown = [
        _banner("http-header", "nginx/1.22.1"),
        _banner("error-page", "<center>nginx</center>"),
        _banner("console", "Debian GNU/Linux 12 pump ttyS0\nBusyBox v1.36.1 built-in shell"),
    ]
    found = DisclosureRules(False, DEFAULT_SSH_BANNER).problems(shown)
    assert [str(p) for p in found] == ["where: names nginx 1.22.1", "where: names BusyBox 1.36.1"]
    assert DisclosureRules(True, DEFAULT_SSH_BANNER).problems(shown) == []


# --- SURFACE-007: fingerprints, the SBOM, the comparison ----------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "product", "version", "revision"),
    [
        (
            "ssh-identification",
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10",
            "openssh",
            "9.2p1",
            "2+deb12u10",
        ),
        (
            "ssh-identification",
            "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
            "openssh",
            "8.9p1",
            "3ubuntu0.10",
        ),
        ("ssh-identification", "SSH-2.0-OpenSSH_9.6", "openssh", "9.6", ""),
        ("ssh-identification", "SSH-2.0-dropbear_2022.83", "dropbear", "2022.83", ""),
        ("ssh-identification", "SSH-2.0-dropbear", "dropbear", "", ""),
        ("http-header", "lighttpd/1.4.69", "lighttpd", "1.4.69", ""),
        ("error-page", "<hr><center>nginx/1.22.1</center>", "nginx", "1.22.1", ""),
        ("http-header", "nginx", "nginx", "", ""),
        ("console", "BusyBox v1.35.0 (Debian 1:1.35.0-4) built-in shell", "busybox", "1.35.0", ""),
        ("http-header", "mosquitto/2.0.11", "mosquitto", "2.0.11", ""),
        ("http-header", "GoAhead-Webs", "goahead", "", ""),
        ("http-header", "GoAhead-http/5.1.1", "goahead", "5.1.1", ""),
        ("http-header", "Boa/0.94.14rc21", "boa", "0.94.14rc21", ""),
        ("http-header", "pumpd/2.4.1 OpenSSL/1.1.1k", "openssl", "1.1.1k", ""),
    ],
)
def test_fingerprints(kind: str, text: str, product: str, version: str, revision: str) -> None:
    found = fingerprints.identify((_banner(kind, text),))
    assert [(o.rule.product, o.version, o.revision) for o in found.observed] == [
        (product, version, revision)
    ]


def test_tokens_no_rule_covers_are_unidentified_and_bare_names_silent() -> None:
    found = fingerprints.identify(
        (
            _banner("http-header", "pumpd/2.4.1 OpenSSL/1.1.1k"),
            _banner("error-page", '{"server": "pumpd/2.4.1 OpenSSL/1.1.1k"}'),
            _banner("ssh-identification", "SSH-2.0-pumpd"),
        )
    )
    assert [token for _, token in found.unidentified] == ["pumpd 2.4.1"]  # once, not per page
    assert [b.text for b in found.silent] == ["SSH-2.0-pumpd"]


def test_a_product_seen_with_its_version_is_not_also_listed_without() -> None:
    found = fingerprints.identify(
        (_banner("http-header", "nginx"), _banner("error-page", "<center>nginx/1.22.1</center>"))
    )
    assert [o.shown for o in found.observed] == ["nginx 1.22.1"]


@pytest.mark.parametrize(
    ("version", "parts"),
    [
        ("1:9.2p1-2+deb12u10", ("9.2p1", "2+deb12u10")),
        ("9.2p1", ("9.2p1", "")),
        ("1.22.1-9+deb12u11", ("1.22.1", "9+deb12u11")),
        ("v2.0.11", ("2.0.11", "")),
        ("1.36.1-r2", ("1.36.1", "r2")),
        ("1.0.2-beta", ("1.0.2-beta", "")),
    ],
)
def test_split_version(version: str, parts: tuple[str, str]) -> None:
    assert sbom.split_version(version) == parts


def test_cpe_parse() -> None:
    assert sbom.Cpe.parse("cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*") == sbom.Cpe(
        "openbsd", "openssh", "9.2p1"
    )
    assert sbom.Cpe.parse("cpe:/a:f5:nginx:1.22.1") == sbom.Cpe("f5", "nginx", "1.22.1")
    assert sbom.Cpe.parse("not a cpe") is None


def _write_sbom(path: Path, *entries: dict[str, str]) -> Path:
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [{"type": "application", **entry} for entry in entries],
    }
    path.write_text(json.dumps(document))
    return path


def _observed(text: str, kind: str = "ssh-identification") -> fingerprints.Observed:
    (found,) = fingerprints.identify((_banner(kind, text),)).observed
    return found


DEBIAN_SSH = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"


@pytest.mark.parametrize(
    ("entry", "verdict"),
    [
        ({"name": "openssh-server", "version": "1:9.2p1-2+deb12u10"}, components.Verdict.DECLARED),
        ({"name": "OpenSSH", "version": "9.2p1"}, components.Verdict.DECLARED),
        (
            {"name": "ssh", "version": "x", "cpe": "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*"},
            components.Verdict.DECLARED,
        ),
        (
            {
                "name": "sshd",
                "version": "1:9.2p1-2+deb12u10",
                "purl": "pkg:deb/debian/openssh-server@1:9.2p1-2%2Bdeb12u10",
            },
            components.Verdict.DECLARED,
        ),
        ({"name": "openssh-server", "version": "1:9.2p1-2+deb12u3"}, components.Verdict.MISMATCH),
        ({"name": "openssh", "version": "9.3p1"}, components.Verdict.MISMATCH),
        ({"name": "dropbear", "version": "2022.83"}, components.Verdict.UNDECLARED),
    ],
)
def test_compare_by_name_purl_or_cpe(
    tmp_path: Path, entry: dict[str, str], verdict: components.Verdict
) -> None:
    declared = sbom.load(_write_sbom(tmp_path / "sbom.json", entry))
    assert components.compare(_observed(DEBIAN_SSH), declared).verdict is verdict


def test_a_banner_without_version_needs_only_the_name(tmp_path: Path) -> None:
    declared = sbom.load(
        _write_sbom(tmp_path / "sbom.json", {"name": "nginx", "version": "1.22.1"})
    )
    comparison = components.compare(_observed("nginx", "http-header"), declared)
    assert comparison.verdict is components.Verdict.NAME_ONLY
    assert components.problems([comparison]) == []


def test_sbom_reads_xml_nested_and_metadata_components(tmp_path: Path) -> None:
    path = tmp_path / "sbom.xml"
    path.write_text(
        '<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">'
        '<metadata><component type="firmware"><name>pump</name><version>2.4.1</version>'
        "</component></metadata><components>"
        '<component type="application"><name>lighttpd</name><version>1.4.69</version>'
        '<components><component type="library"><name>openssl</name><version>3.0.11</version>'
        "</component></components></component></components></bom>"
    )
    declared = sbom.load(path)
    assert {c.describe() for c in declared.components} == {
        "lighttpd 1.4.69",
        "openssl 3.0.11",
        "pump 2.4.1",
    }


@pytest.mark.parametrize(
    "content",
    ['{"bomFormat": "SPDX"}', "not json at all", '{"bomFormat": "CycloneDX", "components": 7}'],
)
def test_an_unreadable_sbom_says_why(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sbom.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"CycloneDX|Expecting"):
        sbom.load(path)


def test_observed_bom_is_cyclonedx_the_library_reads() -> None:
    found = fingerprints.identify(
        (_banner("ssh-identification", DEBIAN_SSH), _banner("http-header", "pumpd/2.4.1"))
    )
    document = json.loads(components.observed_bom(found, device="IP-100", firmware="2.4.1"))
    bom = Bom.from_json(document)  # type: ignore[attr-defined]
    assert {(c.name, c.version) for c in bom.components} == {
        ("openssh", "9.2p1"),
        ("pumpd", "2.4.1"),
    }
    assert bom.metadata.component.name == "IP-100"


# --- SURFACE-006: headers and cookies -------------------------------------------------------------

GOOD = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Set-Cookie", "sid=abc; Path=/; Secure; HttpOnly; SameSite=Strict"),
)


def _page(headers: tuple[tuple[str, str], ...], **kwargs: bool) -> web_headers.Page:
    return web_headers.Page("page", "GET /", 200, headers, **kwargs)


def test_a_hardened_page_passes() -> None:
    assert web_headers.HeaderRules().problems(_page(GOOD, authenticated=True), https=True) == []


def test_each_missing_header_is_named() -> None:
    weak = (
        ("Strict-Transport-Security", "max-age=86400"),
        ("X-Frame-Options", "ALLOW-FROM https://example.com"),
        ("Content-Security-Policy", "frame-ancestors *"),
        ("Set-Cookie", "sid=abc; Path=/; SameSite=None"),
    )
    problems = web_headers.HeaderRules().problems(_page(weak, authenticated=True), https=True)
    assert problems == [
        "cookie 'sid' lacks Secure, HttpOnly, SameSite=Lax or Strict (has none)",
        "Strict-Transport-Security max-age 86400 is below 31536000",
        "no CSP frame-ancestors limited to 'none', 'self' or named hosts, and no "
        "X-Frame-Options DENY/SAMEORIGIN",
        "no X-Content-Type-Options: nosniff",
        "no Cache-Control: no-store",
    ]


@pytest.mark.parametrize(
    ("ancestors", "denied"),
    [
        ("'none'", True),
        ("'self'", True),
        ("'self' https://console.vendor.example", True),
        ("*.vendor.example:443", True),
        ("", True),  # an empty source list is 'none'
        ("*", False),
        ("https:", False),  # every https origin
        ("'self' https:", False),
        ("https://*", False),
        ("data: 'self'", False),
    ],
)
def test_frame_ancestors_must_name_who_may_frame(ancestors: str, denied: bool) -> None:
    headers = (
        ("Content-Security-Policy", f"default-src 'self'; frame-ancestors {ancestors}"),
        ("X-Frame-Options", "DENY"),  # ignored by browsers beside frame-ancestors
    )
    framing = any("frame-ancestors" in p for p in web_headers.HeaderRules().problems(
        _page(headers), https=True
    ))  # fmt: skip
    assert framing is not denied


def test_x_frame_options_alone_suffices_and_plain_http_cannot_have_hsts() -> None:
    headers = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"))
    assert web_headers.HeaderRules().problems(_page(headers), https=False) == [
        "served over plain HTTP, where Strict-Transport-Security cannot apply"
    ]


def test_the_login_answer_is_judged_for_its_cookies_only() -> None:
    cookie = (("Set-Cookie", "sid=abc; Secure; HttpOnly"),)
    assert web_headers.HeaderRules().problems(_page(cookie, cookies_only=True), https=True) == [
        "cookie 'sid' lacks SameSite=Lax or Strict (has none)"
    ]


# --- SURFACE-005: debug protocols -----------------------------------------------------------------


def test_gdb_packets() -> None:
    assert debug_services.gdb_packet(b"qSupported") == b"$qSupported#37"
    assert (
        debug_services.parse_gdb(b"+$PacketSize=4000#" + b"%02x" % (sum(b"PacketSize=4000") % 256))
        == "PacketSize=4000"
    )
    assert debug_services.parse_gdb(b"$OK#00") is None  # wrong checksum
    assert debug_services.parse_gdb(b"HTTP/1.1 400 Bad Request") is None


def test_adb_messages() -> None:
    message = debug_services.adb_message(debug_services.ADB_CNXN, 1, 2, b"device::\x00")
    assert debug_services.parse_adb(message) == "CNXN (arg0 0x1)"
    assert debug_services.parse_adb(message[:20]) is None
    assert debug_services.parse_adb(b"\x16\x03\x01" + bytes(21)) is None


def test_openocd_tcl_reply() -> None:
    assert debug_services.parse_openocd_tcl(b"Open On-Chip Debugger 0.12.0\x1a") == (
        "Open On-Chip Debugger 0.12.0"
    )
    assert debug_services.parse_openocd_tcl(b"HTTP/1.1 400") is None


@pytest.fixture
def scope() -> Scope:
    return Scope((ipaddress.ip_network("127.0.0.1/32"),))


@pytest.fixture
def gdb_stub() -> Iterator[int]:
    stub = GdbStub(host="127.0.0.1", log=logging.getLogger("test"), port=0)
    stub.start()
    try:
        yield stub.port
    finally:
        stub.stop()


@pytest.fixture
def adb_daemon() -> Iterator[int]:
    """A listener that answers an ADB CNXN with an AUTH challenge, as adbd with keys does."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        with server:
            for _ in range(3):  # the greeting wait and GDB, then ADB
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(3)
                    try:
                        data = conn.recv(1024)
                    except OSError:
                        continue
                    if struct.unpack("<I", data[:4])[0] == debug_services.ADB_CNXN:
                        token = bytes(20)
                        conn.sendall(
                            debug_services.adb_message(debug_services.ADB_AUTH, 1, 0, token)
                        )
                        return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(timeout=5)


def test_identify_finds_a_gdb_stub_and_adb_by_protocol(
    scope: Scope, gdb_stub: int, adb_daemon: int
) -> None:
    found = debug_services.survey(scope, "127.0.0.1", [gdb_stub, adb_daemon], timeout=2)
    kinds = {a.port: a.debug for a in found.answers}
    assert kinds == {gdb_stub: Debug.GDB, adb_daemon: Debug.ADB}
    assert found.judged == {gdb_stub: "GDB remote stub", adb_daemon: "Android Debug Bridge"}
    assert len(found.transcripts) == 2
    found.raise_if_incomplete()


def test_a_port_that_refuses_now_leaves_the_survey_incomplete(scope: Scope) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # open at "the scan", closed when asked
    found = debug_services.survey(scope, "127.0.0.1", [port], timeout=1)
    (answer,) = found.answers
    assert answer.debug is None
    assert "open at the scan, could not be asked" in answer.detail
    assert answer.record()["error"]
    with pytest.raises(DeviceError):
        found.raise_if_incomplete()
