"""Text a device controls, made safe for the user's terminal.

A banner, version string or file name may carry escape sequences (`ESC]0;...` sets the
window title, `ESC[2J` clears the screen), other control characters, or Unicode bidi
controls (U+202E shows text reversed). `clean` removes all of them and keeps the rest;
`markup_safe` also escapes rich's `[...]` markup, for text printed through rich.
"""

from __future__ import annotations

import re
import unicodedata

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte ESC sequences.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-_]?"
)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """`text` without escape sequences, control characters and bidi controls."""
    text = _ESCAPES.sub("", text)
    kept = []
    for char in text:
        if char == "\n" and keep_newlines:
            kept.append(char)
        elif char == "\t":
            kept.append(" ")
        elif char in _BIDI or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            kept.append("\ufffd" if unicodedata.category(char) == "Cc" else "")
        else:
            kept.append(char)
    return "".join(kept)


def markup_safe(text: str, *, keep_newlines: bool = False) -> str:
    """`clean(text)`, with rich's markup brackets escaped so `[/]` prints as itself."""
    from rich.markup import escape

    return escape(clean(text, keep_newlines=keep_newlines))
