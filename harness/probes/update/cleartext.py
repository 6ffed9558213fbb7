"""Does a cleartext HTTP endpoint take update uploads? (UPDATE-009)

Plain HTTP on the upload URL's own port and on port 80 each get one empty POST to the
upload path. An endpoint that does not listen, answers nothing in HTTP, or redirects to
an https:// URL takes no image in cleartext; any other HTTP answer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.update.delivery import SWUPDATE_UPLOAD_PATH
from harness.transports import http_upload
from harness.transports.http import HttpResponse

HTTP_PORT = 80
HTTPS_PORT = 443


@dataclass(frozen=True)
class CleartextEndpoint:
    """What one plain-HTTP upload URL answered to an empty POST."""

    url: str
    status: int | None  # the HTTP status it answered (None: no HTTP answer)
    redirect: str  # the https:// URL it redirected to ("" if it did not)
    cleartext: bool  # it answered the upload in cleartext
    note: str  # one evidence line saying what answered


@dataclass(frozen=True)
class ChannelEncryption:
    """The profiled upload URL's scheme, and every cleartext endpoint tried beside it."""

    url: str
    https: bool
    endpoints: tuple[CleartextEndpoint, ...]

    @property
    def cleartext(self) -> tuple[CleartextEndpoint, ...]:
        return tuple(e for e in self.endpoints if e.cleartext)


def cleartext_urls(url: str, path: str = "") -> list[str]:
    """The plain-HTTP URLs of the upload: on the URL's own port, then on port 80."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    full = (parts.path.rstrip("/") + path) or "/"
    ports = [parts.port or (HTTPS_PORT if parts.scheme == "https" else HTTP_PORT), HTTP_PORT]
    return [f"http://{host}:{port}{full}" for port in dict.fromkeys(ports)]


def classify(url: str, response: HttpResponse | None, lost: str) -> CleartextEndpoint:
    """The finding for one URL from its HTTP answer (None: nothing answered in HTTP)."""
    if response is None:
        note = f"{url}: no HTTP answer in cleartext ({lost or 'connection closed'})"
        return CleartextEndpoint(url, None, "", False, note)
    location = response.header("Location") or ""
    if 300 <= response.status < 400 and location.startswith("https://"):
        note = f"{url}: redirect to {location} (no image accepted in cleartext)"
        return CleartextEndpoint(url, response.status, location, False, note)
    note = f"CLEARTEXT {url}: answered HTTP {response.status} {response.reason}"
    return CleartextEndpoint(url, response.status, "", True, note)


def probe_endpoint(
    scope: Scope, url: str, *, timeout: float, transcript: Transcript
) -> CleartextEndpoint:
    """One empty POST to `url` over plain HTTP; what answered."""
    try:
        result = http_upload.upload(
            scope,
            "POST",
            url,
            length=0,
            chunks=[],
            headers={"Content-Type": "application/octet-stream"},
            timeout=timeout,
            transcript=transcript,
        )
    except DeviceError as exc:
        return CleartextEndpoint(url, None, "", False, f"{url}: no cleartext listener ({exc})")
    return classify(url, result.response, result.lost)


def channel_encryption(
    scope: Scope, url: str, channel: str, *, timeout: float, transcript: Transcript
) -> ChannelEncryption:
    """The upload URL of an `https` or `swupdate` channel, and its cleartext twins probed."""
    path = SWUPDATE_UPLOAD_PATH if channel == "swupdate" else ""
    endpoints = tuple(
        probe_endpoint(scope, u, timeout=timeout, transcript=transcript)
        for u in cleartext_urls(url, path)
    )
    return ChannelEncryption(url, url.startswith("https://"), endpoints)
