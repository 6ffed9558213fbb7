"""YAML documents that remember where each value came from, for errors that name file:line.

Profiles and threat models are read through here: PyYAML's safe loader builds the data,
and a walk of the same node tree records the line of every key and list item, so a
pydantic error location such as `("network", "services", 0, "port")` becomes
`pump.yaml:14: network.services[0].port: ...`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.core.errors import ProfileError, ProfileIssue

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LocatedDocument:
    """Parsed YAML data plus the line of every key path in it."""

    path: Path
    data: Any
    lines: dict[Loc, int]
    secrets: set[str] = field(default_factory=set)

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


def load(path: Path, *, expand_env: bool = False) -> LocatedDocument:
    """Read and parse `path`; every problem raises ProfileError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([ProfileIssue(str(path), None, "", f"cannot read: {exc}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise ProfileError([ProfileIssue(str(path), line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise ProfileError([ProfileIssue(str(path), None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProfileError([ProfileIssue(str(path), 1, "", "the document must be a mapping")])
    assert node is not None  # an empty document is not a mapping
    lines: dict[Loc, int] = {}
    issues: list[ProfileIssue] = []
    for loc, line, duplicate in _walk(node, ()):
        if duplicate:
            issues.append(ProfileIssue(str(path), line, dotted(loc), "duplicate key"))
        lines.setdefault(loc, line)
    document = LocatedDocument(path, data, lines)
    if expand_env:
        document.data = _expand(document.data, (), document, issues)
    if issues:
        raise ProfileError(issues)
    return document


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


def _expand(value: Any, loc: Loc, document: LocatedDocument, issues: list[ProfileIssue]) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in strings; remember what came from the env."""
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, str(k)), document, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), document, issues) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None and default is None:
            issues.append(document.issue(loc, f"environment variable {name} is not set"))
            return ""
        result = found if found is not None else default
        if found is not None and found:
            document.secrets.add(found)
        return result or ""

    return _ENV_REF.sub(substitute, value)


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
