"""Waivers: a failed or errored check the profile accepts, with its justification and expiry."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.config.profile import Profile
from harness.plugin.state import CheckContext
from harness.reporting.results import Outcome, WaiverRecord


def apply_waiver(context: CheckContext, profile: Profile, report: pytest.TestReport) -> None:
    """Turn a failed or errored check into `waived` where an active waiver names it."""
    waiver = profile.waiver_for(context.check.id, context.target)
    if waiver is None or context.outcome is None:
        return
    today = dt.datetime.now(dt.timezone.utc).date()
    record = WaiverRecord(
        justification=waiver.justification,
        expires=waiver.expires.isoformat(),
        applied=False,
        approved_by=waiver.approved_by or "",
        reference=waiver.reference or "",
    )
    if context.outcome is Outcome.PASSED:
        record.note = "the check passed; the waiver is no longer needed"
    elif not waiver.active(today):
        record.note = f"expired on {waiver.expires.isoformat()}; not applied"
    elif context.outcome in (Outcome.FAILED, Outcome.ERROR):
        record.applied = True
        context.underlying = context.outcome
        context.outcome = Outcome.WAIVED
        report.outcome = "skipped"  # pytest's own "accepted failure": shown as xfailed
        report.wasxfail = f"waived until {waiver.expires}: {waiver.justification}"
    context.waiver = record
