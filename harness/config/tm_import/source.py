"""What every importer turns its tool's file into, and the safe reading of that file.

A source file comes from someone else's hands: it is read only if it is a regular file of
at most `MAX_BYTES`, parsed without running anything, and every value is asked for through
a `Node`, which knows its path in the document: a missing or mistyped field is a
`ProfileError` naming the file (and line, for YAML) and the field, never a traceback.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from harness.config import yamlfile
from harness.config.threatmodel import SourceFormat, Stride
from harness.core.errors import ProfileError, ProfileIssue
from harness.core.terminal import clean

MAX_BYTES = 32 << 20  # JSON and XML sources; a large Threat Modeling Tool file is a few MB
MAX_JSON_DEPTH = 256
TITLE_CHARS = 300  # a title longer than this is cut (the description keeps the whole text)
STRIDE_WORDS: dict[str, Stride] = {
    "spoofing": "Spoofing",
    "tampering": "Tampering",
    "repudiation": "Repudiation",
    "information disclosure": "Information disclosure",
    "information-disclosure": "Information disclosure",
    "denial of service": "Denial of service",
    "denial-of-service": "Denial of service",
    "elevation of privilege": "Elevation of privilege",
    "elevation-of-privilege": "Elevation of privilege",
}
_CAPEC_URL = re.compile(r"capec\.mitre\.org/data/definitions/(\d+)\.html", re.IGNORECASE)
_CWE_URL = re.compile(r"cwe\.mitre\.org/data/definitions/(\d+)\.html", re.IGNORECASE)
_CODE = re.compile(r"\b(CAPEC|CWE)-(\d+)\b", re.IGNORECASE)
# `medsec: AUTH-001, CRYPTO-002` in a field the user edits in their tool (any case: some
# tools lower-case their tags).
_TAG = re.compile(r"medsec\s*:\s*([A-Za-z]+-\d+(?:\s*,\s*[A-Za-z]+-\d+)*)", re.IGNORECASE)


@dataclass(frozen=True)
class SourceMitigation:
    """A mitigation the source lists once and several threats may name (OTM)."""

    key: str
    title: str
    description: str
    tagged: tuple[str, ...] = ()  # check ids from an inline `medsec:` tag
    tag_field: str = ""  # where that tag was written, for errors


@dataclass(frozen=True)
class SourceThreat:
    """One threat as the source states it, before checks are mapped to it."""

    key: str  # the source's stable id
    title: str
    description: str = ""
    stride: Stride | None = None
    capec: tuple[str, ...] = ()
    cwe: tuple[str, ...] = ()
    asset: str | None = None
    status: str = ""
    mitigated: bool = False
    severity: str | None = None
    mitigation: str = ""  # the source's mitigation text, the title of its control
    mitigations: tuple[str, ...] = ()  # keys of SourceMitigations (OTM)
    tagged: tuple[str, ...] = ()
    tag_field: str = ""
    where: str = ""  # the threat's place in the file, for errors


@dataclass(frozen=True)
class ImportedSource:
    """A whole source file read: its identity and its threats in the source's order."""

    format: SourceFormat
    path: Path
    sha256: str
    system: str
    version: str | None
    threats: tuple[SourceThreat, ...]
    mitigations: tuple[SourceMitigation, ...] = ()
    notes: tuple[str, ...] = ()  # what the importer had to decide, printed to the user


def source_error(path: Path, field: str, message: str, line: int | None = None) -> ProfileError:
    return ProfileError([ProfileIssue(str(path), line, field, message)])


def read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (never a FIFO or a device)."""
    return yamlfile.read_bounded(path, limit)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_json(path: Path, data: bytes) -> Any:
    """Parse JSON text, bounded in depth; a problem is a located error, never a traceback."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise source_error(path, "", f"not UTF-8 (byte 0x{data[exc.start]:02x})") from None
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise source_error(path, "", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise source_error(path, "", f"invalid JSON: {exc.msg}", exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise source_error(path, "", f"invalid JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _max_depth(text: str) -> int:
    """The deepest bracket nesting outside strings (checked before the recursive parser)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_yaml(path: Path) -> yamlfile.LocatedDocument:
    """A YAML source, read with the profile's bounds (size, nesting, aliases, numbers)."""
    return yamlfile.load(path)


@dataclass(frozen=True)
class Node:
    """A value of a source document and where it is, so every error can say so."""

    value: Any
    path: Path
    loc: tuple[str | int, ...] = ()
    document: yamlfile.LocatedDocument | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        return yamlfile.dotted(self.loc)

    def fail(self, message: str) -> NoReturn:
        line = self.document.line_of(self.loc) if self.document is not None else None
        raise source_error(self.path, self.where, message, line)

    def child(self, key: str | int, value: Any) -> Node:
        return Node(value, self.path, (*self.loc, key), self.document)

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail(f"must be a mapping, not {_kind(self.value)}")
        return self.value

    def get(self, key: str) -> Node | None:
        """The field `key` (None when absent or null)."""
        value = self.mapping().get(key)
        return None if value is None else self.child(key, value)

    def need(self, key: str) -> Node:
        found = self.get(key)
        if found is None:
            self.child(key, None).fail("missing (required)")
        return found

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        """A string field (a number is taken as its text); control characters removed."""
        found = self.need(key) if required else self.get(key)
        if found is None:
            return default
        return found.as_text()

    def as_text(self) -> str:
        if isinstance(self.value, bool) or not isinstance(
            self.value, (str, int, float, datetime.date)
        ):
            self.fail(f"must be a string, not {_kind(self.value)}")
        return clean(str(self.value), keep_newlines=True).strip()

    def items(self, key: str) -> Iterator[Node]:
        """Each item of a list field (none when absent or null)."""
        found = self.get(key)
        if found is None:
            return
        if not isinstance(found.value, list):
            found.fail(f"must be a list, not {_kind(found.value)}")
        for index, item in enumerate(found.value):
            yield found.child(index, item)

    def entries(self, key: str) -> Iterator[tuple[str, Node]]:
        """Each (name, value) of a mapping field (none when absent or null)."""
        found = self.get(key)
        if found is None:
            return
        for name, value in found.mapping().items():
            yield str(name), found.child(str(name), value)

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings (nulls skipped)."""
        return tuple(item.as_text() for item in self.items(key) if item.value is not None)

    def flag(self, key: str) -> bool:
        found = self.get(key)
        if found is None:
            return False
        if not isinstance(found.value, bool):
            found.fail(f"must be true or false, not {_kind(found.value)}")
        return found.value


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        datetime.date: "a date",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def one_line(text: str, limit: int = TITLE_CHARS) -> str:
    """`text` on one line, its spaces squeezed, cut to `limit` characters."""
    line = " ".join(clean(text, keep_newlines=True).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def stride_of(word: str) -> Stride | None:
    """A STRIDE category from its English name in any case or spelling the tools use."""
    return STRIDE_WORDS.get(" ".join(word.lower().replace("_", " ").split()))


def capec_cwe(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """CAPEC and CWE ids named in `text`, as URLs of mitre.org or as CAPEC-n/CWE-n."""
    capec = [f"CAPEC-{n}" for n in _CAPEC_URL.findall(text)]
    cwe = [f"CWE-{n}" for n in _CWE_URL.findall(text)]
    for kind, number in _CODE.findall(text):
        (capec if kind.upper() == "CAPEC" else cwe).append(f"{kind.upper()}-{number}")
    return tuple(dict.fromkeys(capec)), tuple(dict.fromkeys(cwe))


def inline_checks(*fields: tuple[str, str]) -> tuple[tuple[str, ...], str]:
    """Check ids tagged `medsec: ID, ID` in the (name, text) fields, and the first field
    that held a tag; ids are upper-cased, not yet checked against the catalogue."""
    found: list[str] = []
    where = ""
    for name, text in fields:
        for match in _TAG.finditer(text):
            found += [part.strip().upper() for part in match.group(1).split(",")]
            where = where or name
    return tuple(dict.fromkeys(found)), where


def without_tags(text: str) -> str:
    """`text` with its `medsec:` tags taken out (for a title shown in the report)."""
    return " ".join(_TAG.sub("", text).split()).strip(" ;,.")
