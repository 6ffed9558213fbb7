"""What a device says about itself before anyone logs in.

Per SSH service: the identification line and any lines a server sends before it (one
connection, nothing sent). Per web server: the `Server` and `X-Powered-By` headers and
the body of every error answer, to `GET /` and to a path that cannot exist. The console
text before its login prompt is read by the check, which owns the console. SURFACE-004
judges these for versions, SURFACE-007 maps them to components. A source that does not
answer is kept as an error while the others are still read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from harness.config.profile import Profile
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import http, net
from harness.transports.http import TlsTrust

BannerKind = Literal["ssh-identification", "ssh-preamble", "http-header", "error-page", "console"]
VERSION_HEADERS = ("Server", "X-Powered-By")
MAX_SSH_PREAMBLE = 8192  # RFC 4253 lets a server send lines before its identification
MAX_ERROR_PAGE = 64 * 1024  # bytes of an error page searched
HTTP_ERROR = 400
WEB_PROTOCOLS = frozenset({"http", "https"})


@dataclass(frozen=True)
class Banner:
    """One piece of text the device showed before login, and where."""

    where: str  # `ssh 192.0.2.1:22`, `https://192.0.2.1:443/ Server`, `console`
    kind: BannerKind
    text: str


@dataclass(frozen=True)
class Endpoint:
    """A pre-login source the profile names: an SSH service, or a web server (`base_url`)."""

    name: str
    host: str
    port: int
    base_url: str | None = None  # None: SSH

    @property
    def key(self) -> str:
        """What makes two endpoints the same source."""
        return (
            self.base_url.split("://", 1)[0] + f"://{self.host}:{self.port}"
            if self.base_url
            else f"ssh {self.host}:{self.port}"
        )


@dataclass(frozen=True)
class BannerSurvey:
    """Every banner read, and the sources that did not answer."""

    banners: tuple[Banner, ...]
    errors: tuple[DeviceError, ...]

    def raise_if_incomplete(self) -> None:
        """A source that did not answer leaves the verdict undecided."""
        if self.errors:
            raise self.errors[0]


def record(shown: Iterable[Banner]) -> list[dict[str, str]]:
    """Banners as evidence rows."""
    return [{"where": b.where, "kind": b.kind, "text": b.text} for b in shown]


def endpoints(profile: Profile) -> tuple[Endpoint, ...]:
    """The profile's SSH services and web servers, each once: `ssh`, `http.base_url` and
    the `network.services` entries speaking ssh, http or https."""
    found: list[Endpoint] = []
    if profile.ssh is not None:
        found.append(Endpoint("ssh", profile.ssh_host, profile.ssh.port))
    if profile.http is not None:
        base = profile.http.base_url.rstrip("/")
        parts = urlsplit(base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found.append(Endpoint("http", parts.hostname or "", port, base))
    if profile.network is not None:
        host = profile.network.host
        for service in profile.network.services:
            if service.protocol == "ssh":
                found.append(Endpoint(service.name, host, service.port))
            elif service.protocol in WEB_PROTOCOLS:
                base = f"{service.protocol}://{_url_host(host)}:{service.port}"
                found.append(Endpoint(service.name, host, service.port, base))
    unique: dict[str, Endpoint] = {}
    for endpoint in found:
        unique.setdefault(endpoint.key, endpoint)  # the first naming of a source wins
    return tuple(unique.values())


def survey(
    scope: Scope,
    sources: Iterable[Endpoint],
    *,
    timeout: float,
    trust: TlsTrust,
    transcript: Transcript,
) -> BannerSurvey:
    """Read every source in turn; a source's failure is kept and the rest still read."""
    banners: list[Banner] = []
    errors: list[DeviceError] = []
    for source in sources:
        try:
            if source.base_url is None:
                banners += ssh(scope, source.host, source.port, timeout, transcript)
            else:
                banners += web(scope, source.base_url, timeout, trust, transcript)
        except DeviceError as exc:
            transcript.event(f"{source.name}: {exc}")
            errors.append(exc)
    return BannerSurvey(tuple(banners), tuple(errors))


def ssh(scope: Scope, host: str, port: int, timeout: float, transcript: Transcript) -> list[Banner]:
    """The identification line and the lines before it; nothing is sent."""
    where = f"ssh {host}:{port}"
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        data = conn.recv_until(_has_identification, Deadline(timeout), limit=MAX_SSH_PREAMBLE)
    lines = data.decode("utf-8", "replace").split("\n")
    identification = next((i for i, line in enumerate(lines) if line.startswith("SSH-")), None)
    if identification is None:
        raise DeviceError(where, f"no SSH identification in the first {len(data)} bytes")
    found = [
        Banner(where, "ssh-preamble", line.rstrip("\r"))
        for line in lines[:identification]
        if line.strip()
    ]
    return [*found, Banner(where, "ssh-identification", lines[identification].rstrip("\r"))]


def _has_identification(data: bytes) -> bool:
    return any(line.startswith(b"SSH-") for line in data.split(b"\n")[:-1])


def web(
    scope: Scope, base_url: str, timeout: float, trust: TlsTrust, transcript: Transcript
) -> list[Banner]:
    """Version headers and error pages of `GET /` and of a path that cannot exist."""
    found: list[Banner] = []
    missing = f"/medsec-{secrets.token_hex(6)}-not-found"
    for path in ("/", missing):
        url = base_url + path
        answer = http.request(
            scope, "GET", url, timeout=timeout, transcript=transcript, trust=trust
        )
        for name in VERSION_HEADERS:
            for key, value in answer.headers:
                if key.lower() == name.lower():
                    found.append(Banner(f"{url} {name}", "http-header", value))
        if answer.status >= HTTP_ERROR and answer.body:
            page = answer.body[:MAX_ERROR_PAGE].decode("utf-8", "replace")
            found.append(Banner(f"{url} (HTTP {answer.status} page)", "error-page", page))
    return found


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
