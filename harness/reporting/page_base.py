"""What every part of the report page shares: escaping, words, badges, times, the legend.

Every string that reaches the page from a device, a profile or a file goes through `e`
(or `e_block` for multi-line text): HTML-escaped, control and bidirectional-override
characters shown as escapes, so device text renders as text and reads as what it is.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable

from harness.config import catalogue, references
from harness.reporting.results import Outcome

OUTCOME_ORDER = (
    Outcome.PASSED,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.NOT_APPLICABLE,
    Outcome.WAIVED,
)
OUTCOME_WORDS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.ERROR: "error",
    Outcome.NOT_APPLICABLE: "not applicable",
    Outcome.WAIVED: "waived",
}
OUTCOME_MEANING = {
    Outcome.PASSED: "every part of the pass criterion was met, on evidence recorded below",
    Outcome.FAILED: "the device did not meet the pass criterion: a finding",
    Outcome.ERROR: "the harness could not decide (timeout, device gone, an answer that "
    "decides nothing): a finding until the check is run again and decides",
    Outcome.NOT_APPLICABLE: "the profile lacks the interface the check needs, or a "
    "destructive check was not allowed; the reason is recorded",
    Outcome.WAIVED: "the check failed or could not decide, and a waiver in the profile "
    "accepts it (justification, approver, expiry); the underlying result is shown",
}
SEVERITY_ORDER = tuple(s.value for s in catalogue.Severity)
SEVERITY_MEANING = {
    "critical": "anyone on the network or at the console takes control, or installs code",
    "high": "an attacker with access defeats a control the submission relies on",
    "medium": "a weakness that helps an attack or leaks information",
    "low": "hygiene: evidence for the submission more than a risk by itself",
}
NOT_RECORDED = "not recorded"

# Characters that would not read as themselves: C0/C1 controls (bar tab and newline) and
# the bidirectional overrides and isolates a device could use to reorder what is shown.
_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every hidden or reordering character written as an escape."""
    return _HIDDEN.sub(_shown, text.replace("\r\n", "\n"))


def e(value: object) -> str:
    """One line of untrusted text as HTML text (newlines become escapes too)."""
    return html.escape(visible(str(value)).replace("\n", "\\n"), quote=True)


def e_lines(value: str) -> str:
    """Untrusted text that may span lines (a reason, a justification), lines kept as <br>."""
    return "<br>".join(
        html.escape(visible(line), quote=True) for line in value.replace("\r\n", "\n").split("\n")
    )


def attr(value: str) -> str:
    """A value for a data- attribute that scripts read: the exact text, only HTML-escaped
    (an attribute is never shown, so nothing in it can pass for other text)."""
    return html.escape(value, quote=True)


def e_block(text: str) -> str:
    """Multi-line untrusted text for a <pre>: lines kept, everything else escaped."""
    return html.escape(visible(text), quote=False)


def compact(value: object) -> str:
    """A configuration value as one line: lists comma-separated, mappings as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) or "(none)"
    return json.dumps(value, sort_keys=True, default=str)


def badge(outcome: Outcome | None, count: int | None = None) -> str:
    if outcome is None:
        return '<span class="o o-none">not run</span>'
    number = f"{count} " if count is not None else ""
    return f'<span class="o o-{outcome.value}">{number}{OUTCOME_WORDS[outcome]}</span>'


def severity_tag(severity: str) -> str:
    if not severity:
        return f'<span class="muted">{NOT_RECORDED}</span>'
    css = severity if severity in SEVERITY_ORDER else "unknown"
    return f'<span class="sev sev-{css}">{e(severity)}</span>'


def when(stamp: str | None) -> str:
    """An ISO 8601 time as `2026-11-30 02:10:12 UTC`, or the raw text saying what it lacks."""
    if not stamp:
        return NOT_RECORDED
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return f"{stamp} (not a date)"
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S} (time zone not recorded)"
    return f"{moment.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def counts_of(outcomes: Iterable[Outcome]) -> dict[Outcome, int]:
    totals = dict.fromkeys(OUTCOME_ORDER, 0)
    for outcome in outcomes:
        totals[outcome] += 1
    return totals


def count_badges(totals: dict[Outcome, int]) -> str:
    return " ".join(badge(o, n) for o, n in totals.items() if n)


_KIND_ORDER = ("FDA-", "CR ", "EDR ", "EN ", "CWE-", "CAPEC-")


def _code_key(code: str) -> tuple[int, list[int | str]]:
    kind = next((i for i, p in enumerate(_KIND_ORDER) if code.startswith(p)), len(_KIND_ORDER))
    return kind, [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", code)]


_GENERIC = (
    ("CR ", "IEC 62443-4-2 component requirement {}"),
    ("EDR ", "IEC 62443-4-2 embedded device requirement {}"),
    ("EN ", "ETSI EN 303 645 provision {}"),
    ("CWE-", "MITRE Common Weakness Enumeration entry {}"),
    ("CAPEC-", "MITRE attack pattern {} (CAPEC)"),
)


def _generic(code: str) -> str:
    """What a code this harness version has no words for is, by its form."""
    for prefix, words in _GENERIC:
        if code.startswith(prefix):
            return words.format(code[len(prefix) :])
    return "a reference this harness version does not explain"


class Legend:
    """The reference codes the page shows, collected while it is rendered."""

    def __init__(self) -> None:
        self.codes: set[str] = set()

    def add(self, codes: Iterable[str]) -> None:
        self.codes.update(codes)

    def code(self, code: str) -> str:
        """`code` as page text, remembered for the legend (linked there)."""
        self.codes.add(code)
        return e(code)

    def codes_text(self, codes: Iterable[str]) -> str:
        return ", ".join(self.code(c) for c in codes)

    def entries(self) -> list[tuple[str, str, str | None]]:
        """(code, meaning, url) for every code shown, grouped by catalogue."""
        out = []
        for code in sorted(self.codes, key=_code_key):
            try:
                meaning = references.explain(code)
            except KeyError:
                meaning = _generic(code)
            out.append((code, meaning, references.url(code)))
        return out
