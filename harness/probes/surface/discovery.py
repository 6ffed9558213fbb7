"""A first look at a device nobody has profiled yet: what it exposes and what each port speaks.

One TCP connect scan, then per open port the cleartext identification (a greeting, else
an HTTP request, else an MQTT CONNECT); an SSH port is asked its identification, algorithm
lists, host keys and the authentication methods it offers; a port that is not
recognised in the clear is offered TLS, and a TLS port is asked its versions and
certificate and then, inside TLS, HTTP or MQTT; a web server is asked how it logs users
in. The UDP services' own ports are asked too (SURFACE-002's sweep, on those ports
only). Nothing logs in and nothing is judged: this is what `medsec init` writes a draft
profile from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext, ssh_algos, tls, tls_identity
from harness.probes.crypto.cleartext import PortFinding, Speaks
from harness.probes.crypto.tls_identity import TlsIdentity
from harness.probes.surface import udp_exposure, web_login
from harness.probes.surface.udp_services import UdpFinding
from harness.probes.surface.web_login import WebFront
from harness.transports import net

MAX_IDENTIFIED = 32  # open ports asked what they speak; a device with more is listed only
CONCURRENT_PORTS = 4
SCAN_BUDGET_S = 900.0
NONE_AUTH_USER = "medsec-init"  # the user name `none` authentication is asked for
NOT_CLEARTEXT = frozenset({Speaks.TLS, Speaks.UNKNOWN, Speaks.SILENT, Speaks.CLOSED})
PROTOCOL_OF = {  # a port identified in the clear -> the profile's service protocol
    Speaks.SSH: "ssh",
    Speaks.HTTP: "http",
    Speaks.HTTP_REDIRECT: "http",
    Speaks.MQTT: "mqtt",
    Speaks.TELNET: "telnet",
}


@dataclass(frozen=True)
class SshIdentity:
    """An SSH server's identification, host keys and the methods it offers to `none`."""

    identification: str
    host_keys: tuple[ssh_algos.HostKey, ...]
    auth_methods: tuple[str, ...] | None  # None: not learnt
    note: str = ""

    @property
    def offers_password(self) -> bool:
        methods = self.auth_methods or ()
        return "password" in methods or "keyboard-interactive" in methods


@dataclass(frozen=True)
class PortSurvey:
    """One open TCP port: what it speaks, as the profile names protocols, and what showed it."""

    port: int
    protocol: str  # https, mqtts, tls, ssh, http, mqtt, telnet, other
    finding: PortFinding  # the cleartext identification
    ssh: SshIdentity | None = None
    tls: TlsIdentity | None = None
    web: WebFront | None = None
    mqtt: PortFinding | None = None  # the CONNACK to a CONNECT inside TLS

    def describe(self, *, certificate: bool = True) -> str:
        """What the port showed, in a line (`certificate=False`: TLS versions only)."""
        if self.ssh is not None:
            return self.ssh.identification
        parts = []
        if self.tls is not None:
            parts.append(self.tls.describe() if certificate else self.tls.versions)
        if self.web is not None:
            page = self.web.pages[0]
            server = f", {self.web.server}" if self.web.server else ""
            parts.append(f"HTTP {page.status} to GET /{server}")
        if self.mqtt is not None:
            parts.append(self.mqtt.detail)
        return "; ".join(parts) or self.finding.detail


@dataclass(frozen=True)
class DeviceSurvey:
    """Everything the first look found."""

    host: str
    scan: net.ScanResult
    ports: tuple[PortSurvey, ...]
    unidentified: tuple[int, ...]  # open beyond MAX_IDENTIFIED: listed, not asked
    udp: tuple[UdpFinding, ...]
    duration_s: float

    def first(self, *protocols: str) -> PortSurvey | None:
        return next((p for p in self.ports if p.protocol in protocols), None)


def survey(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    *,
    timeout: float,
    scan_concurrency: int,
    scan_connect_timeout: float,
    transcript: Transcript,
) -> DeviceSurvey:
    """Scan `ports`, identify every open one (a few at a time), then the UDP services."""
    started = time.monotonic()
    scan = net.scan_tcp(
        scope, host, ports, concurrency=scan_concurrency,
        connect_timeout=scan_connect_timeout, deadline=Deadline(SCAN_BUDGET_S),
    )  # fmt: skip
    transcript.event(
        f"scanned {scan.ports_scanned} TCP ports of {scan.address}: open {list(scan.open)}"
    )
    asked = scan.open[:MAX_IDENTIFIED]
    with ThreadPoolExecutor(max_workers=CONCURRENT_PORTS, thread_name_prefix="init") as pool:
        found = tuple(pool.map(lambda port: _port(scope, host, port, timeout, transcript), asked))
    udp = udp_exposure.sweep(
        scope, host, (), (), concurrency=scan_concurrency,
        wait=min(timeout, cleartext.GREETING_WAIT_S), deadline=Deadline(SCAN_BUDGET_S),
        transcript=transcript,
    )  # fmt: skip
    return DeviceSurvey(
        host, scan, found, scan.open[MAX_IDENTIFIED:], udp.answering, time.monotonic() - started
    )


def _port(scope: Scope, host: str, port: int, timeout: float, transcript: Transcript) -> PortSurvey:
    finding = cleartext.identify(
        scope, host, port, timeout=timeout, new_transcript=_same(transcript)
    )
    if finding.speaks is Speaks.SSH:
        return PortSurvey(port, "ssh", finding, ssh=_ssh(scope, host, port, timeout, transcript))
    if finding.speaks in (Speaks.HTTP, Speaks.HTTP_REDIRECT):
        web = _web(scope, f"http://{_url_host(host)}:{port}", timeout, transcript)
        return PortSurvey(port, "http", finding, web=web)
    if finding.speaks not in NOT_CLEARTEXT:
        return PortSurvey(port, PROTOCOL_OF.get(finding.speaks, "other"), finding)
    server_name = tls.default_server_name(host, None)
    identity = tls_identity.identify(
        scope, host, port, timeout=timeout, server_name=server_name, transcript=transcript
    )
    if identity is None or not identity.accepted:
        return PortSurvey(port, "other", finding, tls=identity)
    web = _web(scope, f"https://{_url_host(host)}:{port}", timeout, transcript)
    if web is not None:
        return PortSurvey(port, "https", finding, tls=identity, web=web)
    try:
        mqtt = cleartext.mqtt_over_tls(
            scope, host, port, server_name=server_name, timeout=timeout, transcript=transcript
        )
    except DeviceError as exc:
        transcript.event(f"no MQTT inside TLS on {port}: {exc}")
        return PortSurvey(port, "tls", finding, tls=identity)
    protocol = "mqtts" if mqtt.speaks is Speaks.MQTT else "tls"
    return PortSurvey(port, protocol, finding, tls=identity, mqtt=mqtt)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _web(scope: Scope, base_url: str, timeout: float, transcript: Transcript) -> WebFront | None:
    """The web server's front and login, or None when the port does not answer HTTP."""
    try:
        return web_login.web_front(scope, base_url, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        transcript.event(f"no HTTP at {base_url}: {exc}")
        return None


def _same(transcript: Transcript) -> Callable[[str], Transcript]:
    """One transcript for every connection: a survey is explored, not judged."""

    def same(label: str) -> Transcript:
        transcript.event(label)
        return transcript

    return same


def _ssh(scope: Scope, host: str, port: int, timeout: float, transcript: Transcript) -> SshIdentity:
    """Identification and algorithm lists (one connection), then the host keys and the
    methods offered to `none` authentication (one handshake per host-key family)."""
    try:
        offered = ssh_algos.read_kexinit(scope, host, port, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        return SshIdentity("(no SSH identification)", (), None, str(exc))
    keys = ssh_algos.host_keys(
        scope, host, port, offered.kexinit.host_keys, username=NONE_AUTH_USER,
        timeout=timeout, new_transcript=_same(transcript),
    )  # fmt: skip
    note = "; ".join(str(e) for e in keys.errors)
    return SshIdentity(offered.identification, keys.keys, keys.auth_methods, note)
