"""What changed in one check's structured evidence between two runs.

Every JSON evidence file the two records share by name is read (never a transcript: its
bytes and timings differ on every run) and turned into *facts*: a named set (accepted
cipher suites, open ports) or a named value (certificate expiry, a banner). The kinds
this harness writes get readable names (`KINDS`); any other JSON is flattened generically,
leaving out what differs on every run (times, durations, hex dumps). A device wrote part
of this, so everything is bounded: file size, facts per file, items and characters shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.reporting.page_results import artifacts_of, read_evidence
from harness.reporting.results import CheckRecord

MAX_FILE_BYTES = 2 * 1024 * 1024  # a larger evidence file is named, not compared
MAX_FILES = 64  # JSON files compared per check and target
MAX_FACTS = 48  # changed facts shown per file
MAX_ITEMS = 40  # items shown of one added or removed set
MAX_CHARS = 200  # characters shown of one value
MAX_LEAVES = 4000  # values a generic file is flattened into
MAX_DEPTH = 12

Fact = frozenset[str] | str  # a set of items, or one value


@dataclass(frozen=True)
class FactChange:
    """One fact that differs: items added and removed, or a value before and after."""

    fact: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    more_added: int = 0  # items beyond MAX_ITEMS, counted not shown
    more_removed: int = 0
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class EvidenceDiff:
    """The changed facts of one evidence file of one check and target."""

    check_id: str
    target: str
    kind: str  # readable: "TLS cipher suites", or "evidence file x.json"
    file: str  # the file name in the check's evidence folder
    changes: tuple[FactChange, ...] = ()
    more_changes: int = 0  # changed facts beyond MAX_FACTS
    note: str = ""  # why it was not compared, or where it also appears
    also_in: tuple[str, ...] = ()  # other checks with the very same evidence


def clip(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return clip(value.rstrip())
    return clip(json.dumps(value, sort_keys=True, default=str))


def _items(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(_text(v) for v in values)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- the kinds this harness writes ----------------------------------------------------------


def _tls_versions(data: Any) -> dict[str, Fact]:
    versions = _as_dict(data)
    return {
        "TLS versions accepted": frozenset(
            str(v) for v, r in versions.items() if _as_dict(r).get("accepted") is True
        ),
        **{f"answer to {v}": _text(_as_dict(r).get("answer", "")) for v, r in versions.items()},
    }


def _suites(data: Any) -> dict[str, Fact]:
    facts: dict[str, Fact] = {"TLS versions with suites": frozenset(_as_dict(data))}
    for version, found in _as_dict(data).items():
        found = _as_dict(found)
        facts[f"{version} cipher suites"] = _items(_as_list(found.get("accepted")))
        facts[f"{version} Encrypt-then-MAC suites"] = _items(
            _as_list(found.get("encrypt_then_mac"))
        )
        facts[f"{version} server chooses the suite"] = _text(found.get("server_order"))
    return facts


def _key_exchange(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    facts: dict[str, Fact] = {
        f"key-exchange groups ({_text(data.get('groups_version', ''))})": _items(
            _as_list(data.get("groups"))
        ),
        "DH prime sizes": frozenset(
            f"{k}: {_text(v)} bits" for k, v in _as_dict(data.get("dh_bits")).items()
        ),
    }
    for version, kinds in _as_dict(data.get("suites")).items():
        facts[f"{version} key exchanges"] = _items(_as_list(kinds))
    return facts


def _chain(data: Any) -> dict[str, Fact]:
    facts: dict[str, Fact] = {"certificates in the chain": str(len(_as_list(data)))}
    for cert in _as_list(data)[:MAX_ITEMS]:
        cert = _as_dict(cert)
        at = f"certificate #{_text(cert.get('index', '?'))}"
        key = f"{_text(cert.get('key_type'))}-{_text(cert.get('key_bits'))}"
        if cert.get("curve"):
            key += f" {_text(cert.get('curve'))}"
        names = _as_list(cert.get("dns_names")) + _as_list(cert.get("ip_addresses"))
        facts.update(
            {
                f"{at} subject": _text(cert.get("subject")),
                f"{at} issuer": _text(cert.get("issuer")),
                f"{at} key": key,
                f"{at} signature": _text(cert.get("signature_algorithm")),
                f"{at} valid from": _text(cert.get("not_before")),
                f"{at} expires": _text(cert.get("not_after")),
                f"{at} SHA-256 fingerprint": _text(cert.get("sha256")),
                f"{at} subjectAltName": _items(names),
                f"{at} self-signed": _text(cert.get("self_signed")),
            }
        )
    return facts


_SSH_LISTS = (
    ("kex", "SSH key exchange"),
    ("host_keys", "SSH host key algorithms"),
    ("ciphers", "SSH ciphers"),
    ("macs", "SSH MACs"),
    ("compression", "SSH compression"),
)


def _ssh_algorithms(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    return {name: _items(_as_list(data.get(key))) for key, name in _SSH_LISTS}


def _host_keys(data: Any) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    for key in _as_list(data)[:MAX_ITEMS]:
        key = _as_dict(key)
        if key.get("absent"):
            shown = "advertised without a key"
        else:
            shown = f"{_text(key.get('bits'))} bits {_text(key.get('fingerprint'))}"
        facts[f"SSH host key {_text(key.get('algorithm'))}"] = shown
    return facts


def _auth_methods(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    return {
        "SSH authentication methods offered": _items(_as_list(data.get("offered"))),
        "SSH identification": _text(data.get("banner", "")),
        "'none' authentication accepted": _text(data.get("none_accepted")),
        "an unknown public key accepted": _text(data.get("untrusted_key_accepted")),
    }


def _tcp_scan(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    scan = _as_dict(data.get("scan"))
    return {
        "open TCP ports": _items(_as_list(scan.get("open"))),
        "open TCP ports not expected": _items(_as_list(data.get("unexpected"))),
        "expected TCP ports found closed": _items(_as_list(data.get("expected_closed"))),
    }


def _udp_sweep(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    answering = [
        f"{_text(a.get('port'))}/udp {_text(a.get('protocol', a.get('service', '')))}".strip()
        for a in map(_as_dict, _as_list(data.get("answering")))
    ]
    return {
        "answering UDP ports": frozenset(answering),
        "silent UDP ports (open|filtered)": _items(_as_list(data.get("silent_open_or_filtered"))),
    }


def _dual_stack(data: Any) -> dict[str, Fact]:
    data = _as_dict(data)
    return {
        f"open TCP ports over {family}": _items(_as_list(_as_dict(data.get(family)).get("open")))
        for family in ("ipv4", "ipv6")
    }


def _banners(data: Any) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    for row in map(_as_dict, _as_list(data)[: MAX_ITEMS * 4]):
        name = f"{_text(row.get('kind', 'banner'))} of {_text(row.get('where', '?'))}"
        previous = facts.get(name)
        text = _text(row.get("text", ""))
        facts[name] = text if previous is None else f"{previous} | {text}"
    return facts


def _firmware_read(data: Any) -> dict[str, Fact]:
    return {f"firmware version read over {k}": _text(v) for k, v in _as_dict(data).items()}


def _cleartext_ports(data: Any) -> dict[str, Fact]:
    return {
        "ports speaking cleartext": frozenset(
            f"{_text(p.get('port'))}/{_text(p.get('transport'))} {_text(p.get('speaks'))}"
            for p in map(_as_dict, _as_list(data))
            if p.get("speaks") not in ("silent", None)
        )
    }


def _debug_ports(data: Any) -> dict[str, Fact]:
    return {
        "debug services answering": frozenset(
            f"{_text(p.get('port'))} {_text(p.get('debug'))}"
            for p in map(_as_dict, _as_list(data))
            if p.get("debug")
        )
    }


def _service_protocols(data: Any) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    for service in map(_as_dict, _as_list(data)[:MAX_ITEMS]):
        name = f"{_text(service.get('name'))} speaks {_text(service.get('protocol'))}"
        instead = f", instead: {_text(service.get('instead'))}" if service.get("instead") else ""
        facts[name] = f"{_text(service.get('spoke'))}{instead} (port {_text(service.get('port'))})"
    return facts


@dataclass(frozen=True)
class Kind:
    """A kind of evidence this harness writes: which files, its readable name, its facts."""

    name: str
    checks: tuple[str, ...]  # check ids (a family prefix such as "CRYPTO-" also matches)
    file: str  # a regular expression for the file name
    facts: Callable[[Any], dict[str, Fact]]

    def matches(self, check_id: str, file_name: str) -> bool:
        return any(check_id.startswith(c) for c in self.checks) and bool(
            re.fullmatch(self.file, file_name)
        )


KINDS = (
    Kind("TLS versions", ("CRYPTO-001",), r"tls-versions\.json", _tls_versions),
    Kind("TLS cipher suites", ("CRYPTO-",), r"suites\.json", _suites),
    Kind("TLS key exchange and groups", ("CRYPTO-",), r"key-exchange\.json", _key_exchange),
    Kind("certificate", ("CRYPTO-",), r"chain-\d+\.json", _chain),
    Kind("SSH algorithms", ("CRYPTO-008",), r"algorithms\.json", _ssh_algorithms),
    Kind("SSH host keys", ("CRYPTO-009",), r"host-keys\.json", _host_keys),
    Kind("SSH authentication methods", ("AUTH-007",), r"methods\.json", _auth_methods),
    Kind("open TCP ports", ("SURFACE-001",), r"scan\.json", _tcp_scan),
    Kind("UDP services", ("SURFACE-002",), r"udp\.json", _udp_sweep),
    Kind("TCP ports over IPv4 and IPv6", ("SURFACE-009",), r"scans\.json", _dual_stack),
    Kind("banners and versions", ("SURFACE-004", "SURFACE-007"), r"banners\.json", _banners),
    Kind("firmware version", ("UPDATE-010",), r"versions\.json", _firmware_read),
    Kind("cleartext services", ("CRYPTO-010",), r"ports\.json", _cleartext_ports),
    Kind("debug services", ("SURFACE-005",), r"ports\.json", _debug_ports),
    Kind("profiled services", ("SURFACE-003",), r"services\.json", _service_protocols),
)


def kind_of(check_id: str, file_name: str) -> Kind | None:
    return next((k for k in KINDS if k.matches(check_id, file_name)), None)


# --- any other JSON ----------------------------------------------------------------------------

# Keys whose values differ on every run: times, durations, rates, raw bytes, fresh keys,
# and the generated passwords and tokens a run tries (shown redacted, different each time).
_VOLATILE = re.compile(
    r"(?:^|_)(?:t|at|s|utc|hex|started|finished|time|timestamp|date|seed|nonce|random|"
    r"duration|latency|elapsed|untrusted_key)$|_s$|_per_s$|sha256$|password|secret|token",
    re.IGNORECASE,
)
# Raw exchange logs whose content the known kinds summarise (or the record's outcome says).
# The SBOM SURFACE-007 writes is regenerated with fresh serial numbers and references.
SKIPPED = frozenset({"handshakes.json", "fuzz-report.json", "liveness.json", "observed.cdx.json"})


def is_transcript(data: Any) -> bool:
    """A transcript's JSON (label, started, steps): raw exchanges, never diffed."""
    return isinstance(data, dict) and "steps" in data and "label" in data


def _without_volatile(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {
            k: _without_volatile(v, depth + 1)
            for k, v in value.items()
            if not _VOLATILE.search(str(k))
        }
    if isinstance(value, list):
        return [_without_volatile(v, depth + 1) for v in value[:MAX_LEAVES]]
    return value


def flatten(data: Any) -> dict[str, Fact]:
    """Leaves of a JSON document by path (`policy.kex`), volatile keys left out; a list is
    one set (of values, or of its objects written compactly), whatever their order."""
    facts: dict[str, Fact] = {}

    def walk(value: Any, path: str, depth: int) -> None:
        if len(facts) >= MAX_LEAVES:
            return
        if isinstance(value, dict) and depth <= MAX_DEPTH:
            for key, item in value.items():
                if not _VOLATILE.search(str(key)):
                    walk(item, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(value, list):
            facts[path or "(document)"] = _items(
                _without_volatile(v, depth) for v in value[:MAX_LEAVES]
            )
        else:
            facts[path or "(document)"] = _text(_without_volatile(value, depth))

    walk(data, "", 0)
    return facts


# --- comparing ------------------------------------------------------------------------------


def _bounded(items: Iterable[str]) -> tuple[tuple[str, ...], int]:
    ordered = sorted(items)
    return tuple(ordered[:MAX_ITEMS]), max(0, len(ordered) - MAX_ITEMS)


def diff_facts(old: dict[str, Fact], new: dict[str, Fact]) -> list[FactChange]:
    """Every fact whose items or value differ (an absent fact counts as empty)."""
    changes = []
    for name in list(old) + [n for n in new if n not in old]:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if isinstance(before, frozenset | type(None)) and isinstance(after, frozenset | type(None)):
            added, more_added = _bounded((after or frozenset()) - (before or frozenset()))
            removed, more_removed = _bounded((before or frozenset()) - (after or frozenset()))
            if added or removed:
                changes.append(FactChange(name, added, removed, more_added, more_removed))
            continue
        changes.append(FactChange(name, old=_shown(before), new=_shown(after)))
    return changes


def _shown(fact: Fact | None) -> str | None:
    if fact is None or isinstance(fact, str):
        return fact
    items, more = _bounded(fact)
    return "{" + ", ".join(items) + (f", … {more} more" if more else "") + "}"


@dataclass
class _Loaded:
    data: Any = None
    problem: str = ""
    raw: str = ""


def _load(run_dir: Path, relative: str) -> _Loaded:
    view = read_evidence(run_dir, relative, show=True, cap=MAX_FILE_BYTES)
    if view.size is None:
        return _Loaded(problem=view.problem)
    if view.truncated or view.text is None:
        return _Loaded(problem=f"larger than {MAX_FILE_BYTES} bytes or not text: not compared")
    try:
        return _Loaded(json.loads(view.text), raw=view.text)
    except (ValueError, RecursionError):
        return _Loaded(problem="not valid JSON: not compared")


def _json_files(record: CheckRecord) -> dict[str, str]:
    """The record's JSON evidence by file name (the first of a name wins)."""
    found: dict[str, str] = {}
    for artifact in artifacts_of(record):
        name = PurePosixPath(artifact.path).name
        if name.endswith(".json") and name not in found:
            found[name] = artifact.path
    return found


@dataclass
class EvidenceComparer:
    """Diffs the evidence of matching records of two run folders; the very same pair of
    files seen again under another check (one certificate for CRYPTO-004, 005, 006) is
    shown once, naming the other checks."""

    old_dir: Path
    new_dir: Path
    _seen: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    diffs: list[EvidenceDiff] = field(default_factory=list)

    def compare(self, old: CheckRecord, new: CheckRecord) -> None:
        old_files, new_files = _json_files(old), _json_files(new)
        shared = [n for n in old_files if n in new_files and n not in SKIPPED][:MAX_FILES]
        for name in shared:
            self._compare_file(new.id, new.target, name, old_files[name], new_files[name])
        tls = _versions_from_summary(old.summary), _versions_from_summary(new.summary)
        if new.id == "CRYPTO-001" and "tls-versions.json" not in shared and all(tls):
            self._add(new.id, new.target, "TLS versions", "(summary)", tls[0], tls[1])

    def _compare_file(self, check_id: str, target: str, name: str, old: str, new: str) -> None:
        before, after = _load(self.old_dir, old), _load(self.new_dir, new)
        kind = kind_of(check_id, name)
        label = kind.name if kind else f"evidence file {name}"
        problem = before.problem or after.problem
        if problem:
            self.diffs.append(EvidenceDiff(check_id, target, label, name, note=problem))
            return
        if is_transcript(before.data) or is_transcript(after.data):
            return
        key = (target, name, before.raw, after.raw)
        if key in self._seen:
            first = self.diffs[self._seen[key]]
            self.diffs[self._seen[key]] = _also(first, check_id)
            return
        facts = kind.facts if kind else flatten
        if self._add(check_id, target, label, name, facts(before.data), facts(after.data)):
            self._seen[key] = len(self.diffs) - 1

    def _add(
        self,
        check_id: str,
        target: str,
        label: str,
        name: str,
        old: dict[str, Fact],
        new: dict[str, Fact],
    ) -> bool:
        changes = diff_facts(old, new)
        if not changes:
            return False
        self.diffs.append(
            EvidenceDiff(
                check_id,
                target,
                label,
                name,
                tuple(changes[:MAX_FACTS]),
                more_changes=max(0, len(changes) - MAX_FACTS),
            )
        )
        return True


def _also(diff: EvidenceDiff, check_id: str) -> EvidenceDiff:
    return EvidenceDiff(
        diff.check_id,
        diff.target,
        diff.kind,
        diff.file,
        diff.changes,
        diff.more_changes,
        diff.note,
        (*diff.also_in, check_id),
    )


_VERSION_LINE = re.compile(r"^(SSLv[23]|TLS 1\.[0-3]): (accepted|refused)")


def _versions_from_summary(summary: list[str]) -> dict[str, Fact]:
    """CRYPTO-001's versions from its summary lines, for runs older than tls-versions.json."""
    accepted = []
    for line in summary:
        match = _VERSION_LINE.match(line)
        if match and match.group(2) == "accepted":
            accepted.append(match.group(1))
    seen = any(_VERSION_LINE.match(line) for line in summary)
    return {"TLS versions accepted": frozenset(accepted)} if seen else {}
