"""YAML documents that remember where each value came from, for errors that name file:line.

Profiles and threat models are read through here: PyYAML's safe loader builds the data,
and a walk of the same node tree records the line of every key and list item, so a
pydantic error location such as `("network", "services", 0, "port")` becomes
`pump.yaml:14: network.services[0].port: ...`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.core.errors import ProfileError, ProfileIssue

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
MAX_BYTES = 1 << 20  # a profile or threat model; real ones are a few kB
MAX_DEPTH = 64  # nested mappings and lists
MAX_NODES = 100_000  # values once every alias is expanded (a billion-laughs file has 10^9)
MAX_DIGITS = 100  # in a number: Python refuses to convert 4,300 and more, losing the line
_LONG_DECIMAL = re.compile(rf"[-+]?[0-9][0-9_]{{{MAX_DIGITS},}}")
# YAML 1.1's printable set: tab, line ends and the printable planes, nothing else.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class LocatedDocument:
    """Parsed YAML data plus the line of every key path in it."""

    path: Path
    data: Any
    lines: dict[Loc, int]
    sha256: str = ""  # of the bytes read, so the digest is of what was validated
    secrets: dict[str, list[str]] = field(default_factory=dict)  # value -> key paths, from env
    unset: list[ProfileIssue] = field(default_factory=list)  # ${VAR}s left empty (lenient)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def issue(self, loc: Loc, message: str) -> ProfileIssue:
        return ProfileIssue(str(self.path), self.line_of(loc), dotted(loc), message)


def dotted(loc: Loc) -> str:
    """`("services", 0, "port")` -> `"services[0].port"`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load(
    path: Path,
    *,
    expand_env: bool = False,
    env: Mapping[str, str] | None = None,
    require_env: bool = True,
) -> LocatedDocument:
    """Read and parse `path`; every problem raises ProfileError naming file and line.

    A profile comes from someone else's hands: it is read only if it is a regular file of
    at most `MAX_BYTES`, and parsed only if its nesting, alias expansion and numbers stay
    within bounds, so a hostile file ends as a located error, never a hang or a traceback.
    With `expand_env`, `${VAR}` reads `env` (default the process environment); a variable
    that is unset is an error, or with `require_env=False` it is left empty and noted in
    `unset`, for a check of the profile that runs nothing.
    """
    raw = _read_bounded(path)
    text = _decode(raw, path)
    _check_printable(text, path)
    _check_structure(text, path)
    loader = yaml.SafeLoader(text)
    lines: dict[Loc, int] = {}
    issues: list[ProfileIssue] = []
    try:
        node = loader.get_single_node()
        # Walked before construction, which merges `<<: *alias` keys into the node itself
        # (they would look like duplicates of the keys that override them).
        for loc, line, duplicate in _walk(node, ()) if node is not None else ():
            if duplicate:
                issues.append(ProfileIssue(str(path), line, dotted(loc), "duplicate key"))
            lines.setdefault(loc, line)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise _unmarked_error(exc, path) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProfileError([ProfileIssue(str(path), 1, "", "the document must be a mapping")])
    document = LocatedDocument(path, data, lines, sha256=hashlib.sha256(raw).hexdigest())
    if expand_env:
        variables = os.environ if env is None else env
        missing = issues if require_env else document.unset
        document.data = _expand(document.data, (), document, variables, missing)
    if issues:
        raise ProfileError(issues)
    return document


def _issue(path: Path, line: int | None, message: str) -> ProfileError:
    return ProfileError([ProfileIssue(str(path), line, "", message)])


# PyYAML's problems that quote the document (an alias name, a tag, a character of a
# value: a password's, perhaps), found by its problem or context, and what is said instead.
_YAML_KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        ("could not find expected ':'", "a key without ':' after it"),
        ("undefined alias", "an undefined alias (a value starting with *: quote it)"),
        ("duplicate anchor", "an anchor defined twice (a value starting with &: quote it)"),
        (
            "an? (anchor|alias)$",
            "an invalid anchor or alias (a value starting with & or *: quote it)",
        ),
        (
            "constructor for the tag|tag handle|a tag$",
            "an unknown tag (a value starting with !: quote it)",
        ),
        (
            "cannot start any token",
            "a character that cannot start a value (a value starting with @, ` or %: quote it; "
            "indent with spaces, not tabs)",
        ),
        ("escape", "an invalid escape in a double-quoted value (write \\\\ for a backslash)"),
        (
            "block scalar$",
            "an invalid block scalar header (a value starting with | or >: quote it)",
        ),
        ("directive$", "an invalid directive (a line starting with %: quote it)"),
        ("base64", "invalid base64 after !!binary"),
    )
)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
_TOKEN = re.compile(r"'(?:<[a-z ]+>|[-,?:\[\]{}])'")  # a parser's token, not the document's


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> ProfileError:
    """The file, line and column, and what kind of problem: never the text found there,
    which may be a value (a password that starts with `*` reads as an alias name)."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    where = f" at column {mark.column + 1}" if mark is not None else ""
    return _issue(path, line, f"invalid YAML{where}: {_yaml_kind(exc)}")


def _yaml_kind(exc: yaml.MarkedYAMLError) -> str:
    said = [text for text in (exc.problem, exc.context) if text]
    for pattern, kind in _YAML_KINDS:
        if any(pattern.search(text) for text in said):
            return kind
    if not said:
        return "a syntax error"
    # Otherwise only a parser's tokens (`expected <block end>, but found '<scalar>'`) stay.
    keep = _TOKEN if isinstance(exc, yaml.parser.ParserError) else None
    text = _QUOTED.sub(lambda m: m[0] if keep and keep.fullmatch(m[0]) else "(…)", said[0])
    unquoted = _QUOTED.sub("", text)
    if "'" in unquoted or '"' in unquoted:
        return "a syntax error (PyYAML's description quotes the file: not shown)"
    return text


def _unmarked_error(exc: BaseException, path: Path) -> ProfileError:
    """A problem PyYAML did not locate: its words, too, may quote a value."""
    if isinstance(exc, RecursionError):
        return _issue(path, None, "invalid YAML: nested too deeply")
    if isinstance(exc, ValueError):
        kind = "a value that reads as a date or a number but is not one (quote it)"
        return _issue(path, None, f"invalid YAML: {kind}")
    return _issue(path, None, "invalid YAML")


def _read_bounded(path: Path) -> bytes:
    return read_bounded(path, MAX_BYTES)


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, if it is a regular file of at most `limit` bytes (never blocks on a
    FIFO); otherwise a ProfileError naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _issue(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _issue(path, None, "cannot read: not a regular file")
        if info.st_size > limit:
            raise _issue(path, None, f"{info.st_size} bytes: larger than {limit} bytes")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _issue(path, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _issue(path, None, f"larger than {limit} bytes")
    return b"".join(chunks)


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _issue(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from None


def _check_printable(text: str, path: Path) -> None:
    """YAML allows no control characters but tab and line ends: say which one, and where."""
    found = _NOT_PRINTABLE.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        code = f"U+{ord(found.group()):04X}"
        raise _issue(path, line, f"control character {code} at column {column}")


def _check_structure(text: str, path: Path) -> None:
    """Nesting depth, alias expansion and number sizes, from the parser's events alone.

    The events come from PyYAML's iterative parser, before anything recursive (composer,
    constructor, our walk) sees the document: a deep or alias-bomb file stops here.
    """
    loader = yaml.SafeLoader(text)
    open_counts: list[int] = [0]  # nodes inside each open collection, after expansion
    open_anchors: list[str | None] = []
    anchored: dict[str, int] = {}
    try:
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_anchors) >= MAX_DEPTH:
                    raise _issue(path, line, f"nested deeper than {MAX_DEPTH} levels")
                open_counts.append(1)
                open_anchors.append(event.anchor)
            elif isinstance(event, yaml.CollectionEndEvent):
                count = open_counts.pop()
                anchor = open_anchors.pop()
                if anchor is not None:
                    anchored[anchor] = count
                open_counts[-1] += count
            elif isinstance(event, yaml.ScalarEvent):
                if event.style is None and _LONG_DECIMAL.fullmatch(event.value):
                    raise _issue(path, line, f"a number of more than {MAX_DIGITS} digits")
                if event.anchor is not None:
                    anchored[event.anchor] = 1
                open_counts[-1] += 1
            elif isinstance(event, yaml.AliasEvent):
                open_counts[-1] += anchored.get(event.anchor or "", 1)
            if open_counts[0] + sum(open_counts[1:]) > MAX_NODES:
                raise _issue(path, line, f"more than {MAX_NODES} values once aliases are expanded")
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise _unmarked_error(exc, path) from None
    finally:
        loader.dispose()


def _walk(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, int, bool]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            yield (*loc, key), key_node.start_mark.line + 1, key in seen
            seen.add(key)
            yield from _walk(value_node, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield (*loc, index), item.start_mark.line + 1, False
            yield from _walk(item, (*loc, index))


def _expand(
    value: Any,
    loc: Loc,
    document: LocatedDocument,
    env: Mapping[str, str],
    missing: list[ProfileIssue],
) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in strings; remember what came from the env."""
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, str(k)), document, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), document, env, missing) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is None and default is None:
            missing.append(document.issue(loc, unset_message(name)))
            return ""
        if found:
            paths = document.secrets.setdefault(found, [])
            if dotted(loc) not in paths:
                paths.append(dotted(loc))
        return found if found is not None else default or ""

    return _ENV_REF.sub(substitute, value)


def unset_message(name: str) -> str:
    """What to do about a `${NAME}` the environment does not set."""
    return (
        f"environment variable {name} is not set: export {name}=..., or write "
        f"{name}=... in a file and pass it with --env-file"
    )


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (`export ` allowed, `#` comments, blank lines, one pair of quotes
    around a value), bounded like a profile; a bad line is a located error that never
    shows the line itself, since it holds secrets."""
    text = _decode(_read_bounded(path), path)
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ENV_LINE.match(stripped)
        if match is None:
            raise _issue(path, number, "not a NAME=value line")
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[name] = value
    return found


def raise_validation(exc: ValidationError, document: LocatedDocument) -> ProfileError:
    """Turn pydantic's errors into one ProfileError with a located line per error."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not _is_pydantic_tag(part))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (misspelt, or not part of this schema)"
        issues.append(document.issue(loc, message))
    return ProfileError(issues)


def _is_pydantic_tag(part: str | int) -> bool:
    # Union and function validators insert tags such as "function-after[...]" into locations.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
