"""What crossed the wire: every transport appends here, evidence renders it.

Secrets never enter a transcript: a transport that types a password records
`send_secret(shown)` with an already redacted form instead of the bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

Direction = Literal["send", "recv", "event"]
MAX_BYTES = 1 << 20  # per transcript; a flooding device cannot fill the disk


@dataclass(frozen=True)
class Exchange:
    """One step: bytes sent or received, or an event note, at `t` seconds from the start."""

    t: float
    direction: Direction
    data: bytes
    note: str = ""


class Transcript:
    """An append-only, bounded, thread-safe record of one conversation with the device."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started_utc = dt.datetime.now(dt.timezone.utc)
        self._t0 = time.monotonic()
        self._items: list[Exchange] = []
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def _add(self, direction: Direction, data: bytes, note: str) -> None:
        with self._lock:
            if self._size + len(data) > MAX_BYTES:
                self._dropped += len(data)
                data = b""
                note = note or "(data dropped: transcript limit reached)"
            self._size += len(data)
            self._items.append(Exchange(time.monotonic() - self._t0, direction, data, note))

    def sent(self, data: bytes, note: str = "") -> None:
        self._add("send", data, note)

    def received(self, data: bytes, note: str = "") -> None:
        self._add("recv", data, note)

    def event(self, note: str) -> None:
        self._add("event", b"", note)

    def send_secret(self, shown: str) -> None:
        """Record that a secret was sent, without its bytes."""
        self._add("send", b"", f"secret {shown}")

    @property
    def items(self) -> tuple[Exchange, ...]:
        with self._lock:
            return tuple(self._items)

    def scrubbed(self, scrub: Callable[[bytes], bytes]) -> Transcript:
        """A copy whose bytes went through `scrub`, each direction as one stream.

        A device may echo a secret a few bytes per read (a console, a slow socket); no
        read alone holds it, their concatenation does. `scrub` must keep lengths (as
        `Redactor.bytes` does) for the stream to be cut back into its steps; one that
        does not is applied step by step.
        """
        copy = Transcript(self.label)
        copy.started_utc, copy._dropped = self.started_utc, self._dropped
        steps = list(self.items)
        for direction in ("send", "recv"):
            indices = [n for n, step in enumerate(steps) if step.direction == direction]
            stream = b"".join(steps[n].data for n in indices)
            clean = scrub(stream)
            if clean == stream:
                continue
            if len(clean) != len(stream):
                for n in indices:
                    steps[n] = replace(steps[n], data=scrub(steps[n].data))
                continue
            offset = 0
            for n in indices:
                length = len(steps[n].data)
                steps[n] = replace(steps[n], data=clean[offset : offset + length])
                offset += length
        copy._items = steps
        return copy

    def to_text(self) -> str:
        """One line per step: `+0.012s > 'text'`, bytes shown as Python-escaped text
        (as recorded: evidence renders the `scrubbed` copy)."""
        marks = {"send": ">", "recv": "<", "event": "#"}
        lines = [f"# {self.label}, started {self.started_utc.isoformat(timespec='milliseconds')}"]
        for item in self.items:
            body = _printable(item.data) if item.data else ""
            note = f"  ({item.note})" if item.note and item.data else item.note
            lines.append(f"+{item.t:8.3f}s {marks[item.direction]} {body}{note}".rstrip())
        if self._dropped:
            lines.append(f"# {self._dropped} bytes beyond the {MAX_BYTES}-byte limit were dropped")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The steps with their bytes in hex, for tools."""
        return {
            "label": self.label,
            "started": self.started_utc.isoformat(),
            "steps": [
                {"t": round(i.t, 6), "dir": i.direction, "hex": i.data.hex(), "note": i.note}
                for i in self.items
            ],
        }

    def json_text(self) -> str:
        """`to_json` as a JSON document with one step per line: json's C encoder writes
        each line (an indented document is written by its pure-Python one, 10x slower)."""
        document = self.to_json()
        steps = document.pop("steps")
        head = json.dumps(document, sort_keys=True)[:-1]
        lines = ",\n".join("  " + json.dumps(step, sort_keys=True) for step in steps)
        return f'{head}, "steps": [\n{lines}\n]}}\n'


class _Escapes(dict[int, str]):
    """Code point -> how a transcript line shows it, computed on first sight; for
    `str.translate`, which looks each character up in C instead of a Python loop."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch == "\n":
            shown = "\\n"
        elif ch == "\r":
            shown = "\\r"
        elif ch == "\t" or ch.isprintable():
            shown = ch
        else:
            shown = f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"
        if code < _CACHED_BELOW:
            self[code] = shown
        return shown


_CACHED_BELOW = 0x800  # one- and two-byte UTF-8: what binary protocols decode to
_ESCAPES = _Escapes()


def _printable(data: bytes) -> str:
    return "'" + data.decode("utf-8", "backslashreplace").translate(_ESCAPES) + "'"
