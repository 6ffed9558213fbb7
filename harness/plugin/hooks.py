"""The life of one check: collected, set up, run, classified, recorded; then the run sealed."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.config import catalogue
from harness.core.errors import not_applicable
from harness.core.redact import Redactor
from harness.evidence.manifest import write_manifest
from harness.evidence.recorder import EvidenceRecorder
from harness.plugin import interrupts, run_order
from harness.plugin.applicability import not_applicable_reason
from harness.plugin.outcomes import classify
from harness.plugin.session import MedsecSession, utc_now
from harness.plugin.state import CONTEXT_KEY, CheckContext, check_id, medsec_session
from harness.plugin.waivers import apply_waiver
from harness.reporting import html as html_report
from harness.reporting import junit, page, sarif
from harness.reporting.results import ArtifactRecord, CheckRecord, Outcome, RunStatus


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    medsec = medsec_session(config)
    for item in items:
        found = check_id(item)
        if found is None:
            continue
        if found not in catalogue.CATALOGUE:
            raise pytest.UsageError(f"{item.nodeid}: check id {found!r} is not in the catalogue")
        if medsec is not None:
            medsec.selected.add(found)
    items.sort(key=lambda item: run_order.rank(check_id(item)))


def pytest_sessionstart(session: pytest.Session) -> None:
    medsec = medsec_session(session.config)
    if medsec is not None:
        medsec.firmware.read("start")


def _target(item: pytest.Item, spec: catalogue.CheckSpec) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        return str(callspec.id)
    if len(spec.interfaces) > 1 and "network" not in spec.interfaces:
        return "device"  # one verdict over several interfaces: naming the first would mislead
    return spec.interfaces[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    medsec = medsec_session(item.config)
    found = check_id(item)
    if medsec is None or found is None:
        return
    spec = catalogue.get(found)
    target = _target(item, spec)
    recorder = EvidenceRecorder(medsec.run_dir, found, target, medsec.redactor)
    firmware = medsec.firmware.current
    item.stash[CONTEXT_KEY] = CheckContext(spec, target, recorder, utc_now(), firmware)
    reason = not_applicable_reason(spec, medsec.profile, allow_destructive=medsec.allow_destructive)
    if reason:
        not_applicable(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    context = item.stash.get(CONTEXT_KEY, None)
    medsec = medsec_session(item.config)
    if medsec is not None:
        _redact_report(report, medsec.redactor)
    if context is None or medsec is None:
        return report
    context.duration_s += report.duration
    if report.when == "setup" and report.outcome != "passed":
        context.outcome, context.reason = classify(call)
        context.main_report = report
    elif report.when == "call":
        context.main_report = report
        if call.excinfo is None:
            context.outcome = Outcome.PASSED
            context.reason = context.recorder.reason or "every criterion met"
        else:
            context.outcome, context.reason = classify(call)
        apply_waiver(context, medsec.profile, report)
    elif report.when == "teardown":
        if report.outcome == "failed" and context.outcome in (Outcome.PASSED, None):
            _, reason = classify(call)
            context.outcome, context.reason = Outcome.ERROR, f"teardown: {reason}"
        _finish(context, medsec, item)
    return report


def _redact_report(report: pytest.TestReport, redactor: Redactor) -> None:
    """A traceback (with --showlocals, every frame's variables) and captured output reach
    the terminal and report.html from here: only their redacted text does. A traceback's
    long reprs are cut to head and tail, perhaps inside a secret: `cut_text` sees to that."""
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redactor.text(reason))
    elif report.longrepr is not None:
        report.longrepr = redactor.cut_text(report.longreprtext)
    report.sections = [(title, redactor.text(text)) for title, text in report.sections]


def _finish(context: CheckContext, medsec: MedsecSession, item: pytest.Item) -> None:
    """Save the transcripts, record the check in results.json, attach the HTML block."""
    recorder = context.recorder
    recorder.flush_transcripts()
    threats, controls = medsec.traces(context.check.id)
    spec = context.check
    record = CheckRecord(
        id=spec.id,
        title=spec.title,
        family=spec.family.value,
        target=context.target,
        outcome=context.outcome or Outcome.ERROR,
        reason=medsec.redactor.text(context.reason),
        threats=threats,
        controls=controls,
        standards=list(spec.standards),
        cwe=list(spec.cwe),
        capec=list(spec.capec),
        evidence=[a.path for a in recorder.artifacts],
        duration_s=round(context.duration_s, 3),
        underlying_outcome=context.underlying,
        waiver=context.waiver,
        summary=recorder.summary,
        nodeid=item.nodeid,
        started=context.started,
        finished=utc_now(),
        severity=spec.severity.value,
        criterion=catalogue.criterion_for(spec, medsec.results_policy),
        firmware=context.firmware,
        artifacts=[
            ArtifactRecord(path=a.path, title=a.title, shown=a.inline is not None)
            for a in recorder.artifacts
        ],
    )
    medsec.record(record, recorder.artifacts)
    report = context.main_report
    if report is not None:
        report.medsec_record = record  # type: ignore[attr-defined]
        report.medsec_html = html_report.check_block(record, recorder.artifacts)  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    medsec = medsec_session(session.config)
    if medsec is None:
        return (yield)
    with interrupts.deferred() as signals:  # the files are written whole, or the run lies
        medsec.close()  # a lane thread ending now must not change what is being written
        done = {c.nodeid for c in medsec.results.checks}
        not_run = [
            i.nodeid for i in session.items if check_id(i) is not None and i.nodeid not in done
        ]
        medsec.firmware.read("end")
        medsec.order_checks([i.nodeid for i in session.items])
        status = run_status(exitstatus, not_run)
        _close_results(medsec, status, not_run)
        outcome = yield  # other plugins' session end (pytest-html, where --html asks for it)
        if signals and status != "interrupted":  # said again, now with the right status
            medsec.interrupted = True
            _close_results(medsec, "interrupted", not_run)
        _seal(medsec)
    if signals:
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    return outcome


def run_status(exitstatus: int, not_run: list[str]) -> RunStatus:
    """`complete` only when pytest ended normally and every collected check ran."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    normal = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    return "complete" if normal and not not_run else "aborted"


def _close_results(medsec: MedsecSession, status: RunStatus, not_run: list[str]) -> None:
    """results.json, junit.xml and report.html, each written once, however the run ended."""
    results = medsec.results
    results.finished = utc_now()
    results.status = status
    results.not_run = not_run
    medsec.save()
    junit.write_junit(results, medsec.run_dir / "junit.xml")
    page.write_report(medsec.run_dir, results)
    if medsec.sarif_out is not None:
        _write_sarif(medsec, medsec.sarif_out)


def _write_sarif(medsec: MedsecSession, path: Path) -> None:
    """The run's SARIF; a path that cannot be written is said on stderr, and the run folder
    is still sealed (the SARIF file lies outside it, like --junit's copy)."""
    log = sarif.build(
        medsec.results,
        medsec.run_dir,
        sarif.SarifMode(medsec.sarif_mode),
        profile=medsec.profile.source,
    )
    try:
        sarif.write(path, log)
    except OSError as exc:
        print(f"medsec: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)


def _seal(medsec: MedsecSession) -> None:
    write_manifest(
        medsec.run_dir,
        medsec.signing_key,
        key_source=medsec.key_source,
        meta={"run": medsec.run_dir.name, "profile_sha256": medsec.profile.sha256},
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """A run pytest gave up on before its session finished (Ctrl-C while starting, an
    internal error) still leaves results.json saying so, junit.xml and a sealed folder."""
    medsec = medsec_session(config)
    if medsec is None or medsec.results.status != "running":
        return
    _close_results(medsec, "interrupted" if medsec.interrupted else "aborted", [])
    _seal(medsec)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    medsec = medsec_session(config)
    if medsec is None:
        return
    counts = ", ".join(f"{n} {k}" for k, n in medsec.results.counts().items() if n)
    terminalreporter.write_sep("-", f"medsec: {counts or 'no checks ran'}")
    terminalreporter.write_line(f"run folder: {medsec.run_dir}")
