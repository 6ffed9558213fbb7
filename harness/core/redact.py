"""Keeping secrets out of evidence: redacted forms, and scrubbing text and bytes.

A device can echo a password back in any encoding (a login body in hex, an Authorization
header in base64, a URL-encoded form, a JSON string), so every known secret is scrubbed
in each of those forms, wherever it sits in the text or bytes. Python and JSON escape it
too, one escaping over another (a traceback with `--showlocals` shows the repr of a JSON
body), so every such escaping is scrubbed as well. In text, a profiled secret is replaced by its
name, the profile key that holds it (`«ssh.password»`), so a reason that contained it
still reads; a secret without a name shows as `ad***`. A secret shorter than
`MIN_SCRUB_LEN` is scrubbed only where it stands quoted (`'ab'`, `"ab"`): anywhere else it
would blank out ordinary words and bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

Secret = str | SecretStr
"""A password or token: a profiled one stays `SecretStr` (its repr and str are
`**********`, so no traceback, log or assertion prints it) until a transport writes it;
default credentials, public knowledge, are plain `str`."""

MIN_SCRUB_LEN = 4  # shorter values would blank out ordinary words: scrubbed quoted only
ESCAPE_DEPTH = 3  # escapings one over another that are scrubbed (a repr of a repr of JSON)
MIN_BASE64_CORE = 6  # characters of a base64 run that depend on the secret alone
CUT = b"..."  # where pytest shortened a long repr to its head and tail
MIN_CUT_PIECE = 2  # bytes of a secret's form beside a cut that are replaced (1 would be noise)


def reveal(secret: Secret) -> str:
    """The value itself, for the one call that sends it."""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def shown(secret: Secret) -> str:
    """A secret as reports show it: `admin` -> `ad***`, empty -> `(empty)`."""
    secret = reveal(secret)
    if not secret:
        return "(empty)"
    return secret[:2] + "***" if len(secret) > 3 else "***"


@dataclass(frozen=True)
class _Form:
    """One encoding of a secret as it may appear, and what replaces it."""

    found: bytes
    replacement: bytes  # in text: `«ssh.password»` where it reads as a password, else same-length
    masked: bytes = b""  # in raw bytes: the same length, so offsets in a dump still hold

    def __post_init__(self) -> None:
        if not self.masked:
            object.__setattr__(self, "masked", b"*" * len(self.found))


def _base64_cores(raw: bytes) -> set[bytes]:
    """The base64 characters that encode `raw` whatever precedes it (three alignments).

    `user:password` encoded as a whole contains the core of `password` at one of the
    three alignments, so the password is found without knowing the user name.
    """
    cores = set()
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + raw)
        skip = -(-lead * 4 // 3)  # characters touched by the lead bytes
        full = (lead + len(raw)) // 3 * 4  # characters of complete groups only
        core = encoded[skip:full]
        if len(core) >= MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(bytes.maketrans(b"+/", b"-_")))  # URL-safe alphabet
    return cores


Pieces = tuple[str, ...]  # a text cut where a replacement starts and ends


def _inside(render: Callable[[str], str], pieces: Pieces) -> set[Pieces]:
    """What `render` (repr, ascii, a bytes repr) writes for the pieces inside a longer string.

    Python quotes a string that holds both quotes with `'` (escaping `'`), one that holds
    only `'` with `"`: which depends on the whole string, so both are returned.
    """
    found = set()
    for around in ("'\"", "'"):
        if around == "'" and '"' in "".join(pieces):
            continue  # the whole string would hold both quotes
        skip = len(render(around)) - 1
        found.add(tuple(render(around + piece)[skip:-1] for piece in pieces))
    return found


def _utf8_repr(text: str) -> str:
    return repr(text.encode())


def _json(pieces: Pieces) -> set[Pieces]:
    return {
        tuple(json.dumps(piece, ensure_ascii=ascii_only)[1:-1] for piece in pieces)
        for ascii_only in (True, False)
    }


_ESCAPES: tuple[Callable[[Pieces], set[Pieces]], ...] = (
    lambda pieces: _inside(repr, pieces),
    lambda pieces: _inside(ascii, pieces),  # \xe4, \u20ac
    lambda pieces: _inside(_utf8_repr, pieces),  # the bytes sent: \xc3\xa4
    _json,
)


def _escaped(pieces: Pieces, depth: int = ESCAPE_DEPTH) -> set[Pieces]:
    """The pieces themselves and as Python's and JSON's escaping write them, up to `depth`
    times over (an exception's repr, holding the repr of a JSON body, in a local), each
    piece escaped as it is inside the whole."""
    found = layer = {pieces}
    for _ in range(depth):
        layer = {out for text in layer for escape in _ESCAPES for out in escape(text)} - found
        found = found | layer
    return found


def _quoted_forms(secret: str, label: str) -> list[_Form]:
    """A short secret where it stands quoted: `'ab'`, `"ab"`, JSON's `"\\u00e4"`, and each
    of those escaped in turn (`\\'ab\\'`, `\\"ab\\"`). The quotes stay, only what they
    hold is replaced."""
    quoted = {(mark, body, mark) for (body,) in _escaped((secret,), 1) for mark in "'\""}
    forms = []
    for before, body, after in set().union(*(_escaped(q, ESCAPE_DEPTH - 1) for q in quoted)):
        found = (before + body + after).encode()
        replacement = (before + label + after).encode()
        masked = (before + "*" * len(body.encode()) + after).encode()
        forms.append(_Form(found, replacement, masked))
    return forms


def _forms(secret: str, label: str) -> list[_Form]:
    if len(secret) < MIN_SCRUB_LEN:
        return sorted(_quoted_forms(secret, label), key=lambda f: len(f.found), reverse=True)
    raw = secret.encode()
    masked = b"*" * len(raw)
    readable = label.encode()
    forms = [_Form(body.encode(), readable) for (body,) in _escaped((secret,))]
    for encoded in {quote(secret, safe="").encode(), quote_plus(secret).encode()}:
        forms.append(_Form(encoded, readable))
    hexed = binascii.hexlify(raw)
    forms.append(_Form(hexed, binascii.hexlify(masked), binascii.hexlify(masked)))
    forms.append(
        _Form(hexed.upper(), binascii.hexlify(masked).upper(), binascii.hexlify(masked).upper())
    )
    forms += [_Form(core, b"*" * len(core)) for core in _base64_cores(raw)]
    # Longest first, so a form that contains another is replaced whole.
    unique = {f.found: f for f in forms if f.found}
    return sorted(unique.values(), key=lambda f: len(f.found), reverse=True)


def _cut_piece(part: bytes, forms: list[_Form], *, head: bool) -> bytes:
    """`part` without the longest piece of a form that a cut left at its end (`head`: the
    form's start) or at its start (the form's end)."""
    best, replacement = 0, b""
    for form in forms:
        for size in range(len(form.found) - 1, max(MIN_CUT_PIECE, best + 1) - 1, -1):
            piece = form.found[:size] if head else form.found[-size:]
            if part.endswith(piece) if head else part.startswith(piece):
                best, replacement = size, form.replacement
                break
    if not best:
        return part
    return part[:-best] + replacement if head else replacement + part[best:]


class Redactor:
    """Replaces every known secret, in every form above, with a redacted form.

    `secrets` maps each secret to its name (a mapping), or lists unnamed secrets.
    """

    def __init__(self, secrets: Mapping[str, str] | Iterable[str] = ()) -> None:
        self._names: dict[str, str | None] = {}
        self._forms: list[_Form] = []
        self._long_forms: list[_Form] = []  # of secrets scrubbed wherever they stand
        self.add(secrets)

    def add(self, secrets: Mapping[str, str] | Iterable[str]) -> None:
        names: Mapping[str, str | None] = (
            secrets if isinstance(secrets, Mapping) else dict.fromkeys(secrets)
        )
        new = {s: n for s, n in names.items() if s and s not in self._names}
        if not new:
            return
        self._names |= new
        forms = {f.found: f for s in self._names for f in _forms(s, self._label(s))}
        self._forms = sorted(forms.values(), key=lambda f: len(f.found), reverse=True)
        long = {s for s in self._names if len(s) >= MIN_SCRUB_LEN}
        self._long_forms = [
            f for s in long for f in _forms(s, self._label(s)) if len(f.found) > MIN_CUT_PIECE
        ]

    def _label(self, secret: str) -> str:
        """`«ssh.password»`, unless the name would show a secret itself: then `ss***`."""
        name = self._names[secret]
        if name is None:
            return shown(secret)
        label = f"«{name}»"
        # A short secret is scrubbed only quoted, and a label holds no quotes.
        long = (s for s in self._names if len(s) >= MIN_SCRUB_LEN)
        return shown(secret) if any(s in label for s in long) else label

    def bytes(self, value: bytes) -> bytes:
        """`value` with every form of every secret masked, its length kept."""
        for form in self._forms:
            if form.found in value:
                value = value.replace(form.found, form.masked)
        return value

    def text(self, value: str) -> str:
        """`value` with every form of every secret replaced by a redacted form."""
        if not self._forms:
            return value
        encoded = value.encode("utf-8", "surrogateescape")
        scrubbed = encoded
        for form in self._forms:
            if form.found in scrubbed:
                scrubbed = scrubbed.replace(form.found, form.replacement)
        return value if scrubbed is encoded else scrubbed.decode("utf-8", "surrogateescape")

    def cut_text(self, value: str) -> str:
        """`text`, and what is left of a secret where pytest cut a long repr to its head and
        tail (`{'body': 'pass...word'}`): the start of a form before a `...`, its end after.
        """
        scrubbed = self.text(value)
        if CUT not in scrubbed.encode("utf-8", "surrogateescape") or not self._long_forms:
            return scrubbed
        parts = scrubbed.encode("utf-8", "surrogateescape").split(CUT)
        for n in range(len(parts)):
            if n > 0:
                parts[n] = _cut_piece(parts[n], self._long_forms, head=False)
            if n < len(parts) - 1:
                parts[n] = _cut_piece(parts[n], self._long_forms, head=True)
        return CUT.join(parts).decode("utf-8", "surrogateescape")
