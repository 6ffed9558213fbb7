"""A device's power switch on the network, as a labgrid place's `NetworkPowerPort` names it.

Two of labgrid's power models are driven here, with the harness's own HTTP client (so the
switch's address is scope-checked and pinned, and every request has a timeout, which
labgrid's own backends do not set):

- `rest`: `host` is a URL with `{index}`; GET answers `0` or `1`, PUT with body `0`/`1` switches.
- `simplerest`: `host` is a URL with `{index}` and `{value}`; GET with value `0`/`1` switches,
  GET with an empty value (trailing `/` removed) answers the state.

Other models are reported as not driven, and a reset falls back to `serial.reset_command`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.core.errors import DeviceError, DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import http

MODELS = ("rest", "simplerest")


@dataclass(frozen=True)
class PowerPort:
    """One outlet of a network power switch."""

    model: str  # one of MODELS
    url: str  # labgrid's `host`: a URL template with {index} (and {value} for simplerest)
    index: int
    resource: str  # where it came from: exporter/group/NetworkPowerPort/name

    @property
    def described(self) -> str:
        return f"{self.resource} ({self.model} {self.url}, outlet {self.index})"

    def host(self) -> str:
        """The switch's host name or address, as the URL names it."""
        host = urlsplit(self.url).hostname
        if not host:
            raise ValueError(f"the power port's URL names no host: {self.url}")
        return host


def power_port(model: str, url: str, index: int, resource: str) -> PowerPort | str:
    """The port, or why this harness does not drive it (a model it does not speak, a URL
    that is not http(s))."""
    if model not in MODELS:
        known = ", ".join(MODELS)
        return f"{resource}: power model {model!r} is not driven by this harness ({known} are)"
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        return f"{resource}: the {model} power port needs an http(s) URL, not {url!r}"
    return PowerPort(model, url, index, resource)


def _switch_url(port: PowerPort, value: str) -> tuple[str, str, bytes | None]:
    """(method, URL, body) that sets the outlet to `value` ('0' or '1'); '' reads it."""
    if port.model == "rest":
        url = port.url.format(index=port.index)
        return ("GET", url, None) if value == "" else ("PUT", url, value.encode())
    url = port.url.format(index=port.index, value=value)
    return "GET", url.rstrip("/") if value == "" else url, None


def _send(port: PowerPort, scope: Scope, value: str, timeout: float, transcript: Transcript) -> str:
    method, url, body = _switch_url(port, value)
    answer = http.request(scope, method, url, timeout=timeout, transcript=transcript, body=body)
    if not 200 <= answer.status < 300:
        raise DeviceUnreachable(port.resource, f"the power switch answered {answer.status}")
    return answer.text.strip()


def set_power(
    port: PowerPort, scope: Scope, on: bool, timeout: float, transcript: Transcript
) -> None:
    """Switch the outlet, then read it back: it must say what was asked."""
    wanted = "1" if on else "0"
    _send(port, scope, wanted, timeout, transcript)
    state = _send(port, scope, "", timeout, transcript)
    if state != wanted:
        raise DeviceUnreachable(
            port.resource, f"the power switch reads {state!r} after being set to {wanted}"
        )


def power_cycle(
    port: PowerPort, scope: Scope, off_s: float, timeout: float, transcript: Transcript
) -> None:
    """Off, `off_s` seconds, on. If switching off worked and anything after it fails, the
    outlet is switched on once more (best effort) before the error is raised."""
    transcript.event(f"power off: {port.described}")
    set_power(port, scope, False, timeout, transcript)
    try:
        time.sleep(off_s)
        transcript.event(f"power on after {off_s:.1f}s off")
        set_power(port, scope, True, timeout, transcript)
    except BaseException:
        try:
            _send(port, scope, "1", timeout, transcript)
        except DeviceError as exc:
            transcript.event(f"power could not be restored: {exc}")
        raise
