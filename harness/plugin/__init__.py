"""The pytest plugin: `--profile` and friends, the `check` marker, outcomes and the run folder.

Registered through the `pytest11` entry point, so `python -m pytest testsuites --profile P`
runs the product's checks without the `medsec` command. Without `--profile` the plugin
stays out of the way (its fixtures skip), so it never disturbs other test suites.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest.outcomes import Skipped

from harness.config import catalogue
from harness.core.errors import DeviceTimeout, MedsecError, OutOfScope, ProfileError
from harness.evidence.recorder import EvidenceRecorder, write_manifest
from harness.plugin.session import MedsecSession, utc_now
from harness.reporting import html as html_report
from harness.reporting.results import CheckRecord, Outcome, WaiverRecord

pytest_plugins = ["harness.plugin.fixtures", "harness.plugin.html_hooks"]

SESSION_KEY = pytest.StashKey[MedsecSession]()
CONTEXT_KEY = pytest.StashKey["CheckContext"]()
CHECK_TIMEOUT_S = 600.0  # a watchdog above every per-I/O timeout: no check hangs a run


class NotApplicable(Skipped):
    """Raised when the profile lacks what a check needs; becomes `not_applicable`."""


def not_applicable(reason: str) -> NoReturn:
    """End the running check as `not_applicable`, recording `reason`."""
    raise NotApplicable(f"not applicable: {reason}")


@dataclass
class CheckContext:
    """What the plugin tracks for one check item between setup and teardown."""

    check: catalogue.CheckSpec
    target: str
    recorder: EvidenceRecorder
    started: str
    outcome: Outcome | None = None
    underlying: Outcome | None = None
    reason: str = ""
    waiver: WaiverRecord | None = None
    duration_s: float = 0.0
    main_report: pytest.TestReport | None = None


def medsec_session(config: pytest.Config) -> MedsecSession | None:
    """The run's state, or None when pytest runs without `--profile`."""
    return config.stash.get(SESSION_KEY, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("medsec", "medsec-harness device checks")
    group.addoption("--profile", metavar="PATH", help="device profile (YAML) to check")
    group.addoption(
        "--allow-destructive",
        action="store_true",
        help="run destructive checks (also needs scope.destructive: true in the profile)",
    )
    group.addoption(
        "--medsec-out", metavar="DIR", help="run folder (default reports/<device>-<UTC>)"
    )
    group.addoption(
        "--reveal-secrets",
        action="store_true",
        help="write credentials a check got in with, in full, to a local file beside the run "
        "folder (never into the run folder or the report)",
    )
    group.addoption(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 key that signs the evidence manifest (default: a fresh key per run)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(id): the catalogue id (e.g. AUTH-001) this test gives evidence for"
    )
    profile_path = config.getoption("profile", None)
    if not profile_path or hasattr(config, "workerinput"):
        return
    out = config.getoption("medsec_out")
    key = config.getoption("signing_key")
    try:
        session = MedsecSession.start(
            Path(profile_path),
            out=Path(out) if out else None,
            signing_key=Path(key) if key else None,
            allow_destructive=bool(config.getoption("allow_destructive")),
            options={"args": [str(a) for a in config.invocation_params.args]},
        )
    except ProfileError as exc:
        raise pytest.UsageError(f"invalid profile:\n{exc}") from None
    except MedsecError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = session
    if not config.getoption("htmlpath", None):
        config.option.htmlpath = str(session.run_dir / "report.html")
        config.option.self_contained_html = True


def pytest_sessionstart(session: pytest.Session) -> None:
    medsec = medsec_session(session.config)
    if medsec is None:
        return
    with contextlib.suppress(ImportError, KeyError):
        from pytest_metadata.plugin import metadata_key

        device = medsec.profile.device
        session.config.stash[metadata_key].update(
            {
                "Device": f"{device.name} ({device.vendor} {device.model})",
                "Firmware (profiled)": device.firmware,
                "Profile": f"{medsec.results.profile.path} sha256 {medsec.profile.sha256}",
                "Run folder": str(medsec.run_dir),
            }
        )


def _check_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("check")
    return str(marker.args[0]) if marker and marker.args else None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    medsec = medsec_session(config)
    for item in items:
        check_id = _check_id(item)
        if check_id is None:
            continue
        if check_id not in catalogue.CATALOGUE:
            raise pytest.UsageError(f"{item.nodeid}: check id {check_id!r} is not in the catalogue")
        if medsec is not None:
            medsec.implemented.add(check_id)


def _target(item: pytest.Item, spec: catalogue.CheckSpec) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.id) if callspec is not None else spec.interfaces[0]


def _not_applicable_reason(spec: catalogue.CheckSpec, medsec: MedsecSession) -> str | None:
    profile = medsec.profile
    if spec.destructive:
        if not medsec.allow_destructive:
            return "destructive check; run with --allow-destructive to include it"
        if not profile.scope.destructive:
            return "destructive check; the profile's scope.destructive is false"
    services = profile.network.services if profile.network else ()
    present = {
        "ssh": profile.ssh is not None,
        "serial": profile.serial is not None,
        "network": profile.network is not None,
        "tls": bool(profile.tls_services) or profile.tls_client is not None,
        "mqtt": any(s.protocol in ("mqtt", "mqtts") for s in services),
        "update": profile.update is not None,
        "http": profile.http is not None,
    }
    if not any(present[i] for i in spec.interfaces):
        wanted = " or ".join("TLS service" if i == "tls" else i for i in spec.interfaces)
        return f"the profile has no {wanted} interface"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    medsec = medsec_session(item.config)
    check_id = _check_id(item)
    if medsec is None or check_id is None:
        return
    spec = catalogue.get(check_id)
    target = _target(item, spec)
    recorder = EvidenceRecorder(medsec.run_dir, check_id, target, medsec.redactor)
    item.stash[CONTEXT_KEY] = CheckContext(spec, target, recorder, utc_now())
    reason = _not_applicable_reason(spec, medsec)
    if reason:
        not_applicable(reason)


@contextlib.contextmanager
def _watchdog(seconds: float, target: str) -> Iterator[None]:
    """Interrupt a check that outlives every I/O timeout (main thread, POSIX only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: object) -> NoReturn:
        raise DeviceTimeout(target, f"the check did not finish within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    context = item.stash.get(CONTEXT_KEY, None)
    if context is None:
        return (yield)
    medsec = medsec_session(item.config)
    budget = CHECK_TIMEOUT_S
    if medsec is not None:
        policy = medsec.profile.policy
        budget = max(budget, policy.update_timeout_s + 120)
        # AUTH-011 idles a session past the timeout; AUTH-009 waits out the lockout.
        budget = max(
            budget, policy.session_idle_timeout_s * 1.1 + 120, policy.lockout_delay_s * 3 + 120
        )
    with _watchdog(budget, context.target):
        return (yield)


def _reason_from(call: pytest.CallInfo[None]) -> tuple[Outcome, str]:
    """Classify an exception: an assertion is a verdict, anything else is an error."""
    assert call.excinfo is not None
    exc = call.excinfo.value
    if isinstance(exc, NotApplicable):
        return Outcome.NOT_APPLICABLE, str(exc.msg).removeprefix("not applicable: ")
    if isinstance(exc, AssertionError | pytest.fail.Exception):
        text = str(exc.msg if isinstance(exc, pytest.fail.Exception) else exc)
        return Outcome.FAILED, text.split("\nassert ")[0].strip() or "assertion failed"
    if isinstance(exc, MedsecError):
        kind = "out of scope" if isinstance(exc, OutOfScope) else "device error"
        return Outcome.ERROR, f"{kind}: {exc}"
    return Outcome.ERROR, f"harness error: {type(exc).__name__}: {exc}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    context = item.stash.get(CONTEXT_KEY, None)
    medsec = medsec_session(item.config)
    if context is None or medsec is None:
        return report
    context.duration_s += report.duration
    if report.when == "setup" and report.outcome != "passed":
        context.outcome, context.reason = _reason_from(call)
        context.main_report = report
    elif report.when == "call":
        context.main_report = report
        if call.excinfo is None:
            context.outcome = Outcome.PASSED
            context.reason = context.recorder.reason or "every criterion met"
        else:
            context.outcome, context.reason = _reason_from(call)
        _apply_waiver(context, medsec, report)
    elif report.when == "teardown":
        if report.outcome == "failed" and context.outcome in (Outcome.PASSED, None):
            _, reason = _reason_from(call)
            context.outcome, context.reason = Outcome.ERROR, f"teardown: {reason}"
        _finish(context, medsec, item)
    return report


def _apply_waiver(context: CheckContext, medsec: MedsecSession, report: pytest.TestReport) -> None:
    waiver = medsec.profile.waiver_for(context.check.id, context.target)
    if waiver is None or context.outcome is None:
        return
    today = dt.datetime.now(dt.timezone.utc).date()
    record = WaiverRecord(
        justification=waiver.justification, expires=waiver.expires.isoformat(), applied=False
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
    )
    medsec.record(record, recorder.artifacts)
    report = context.main_report
    if report is not None:
        report.medsec_record = record  # type: ignore[attr-defined]
        report.medsec_html = html_report.check_block(record, recorder.artifacts)  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    medsec = medsec_session(session.config)
    if medsec is not None:
        results = medsec.results
        results.finished = utc_now()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        results.status = "interrupted" if interrupted else "complete"
        done = {c.nodeid for c in results.checks}
        results.not_run = [
            i.nodeid for i in session.items if _check_id(i) is not None and i.nodeid not in done
        ]
        medsec.save()
        html_report.write_junit(results, medsec.run_dir / "junit.xml")
    outcome = yield  # pytest-html writes report.html here
    if medsec is not None:
        write_manifest(
            medsec.run_dir,
            medsec.signing_key,
            key_source=medsec.key_source,
            meta={"run": medsec.run_dir.name, "profile_sha256": medsec.profile.sha256},
        )
    return outcome


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    medsec = medsec_session(config)
    if medsec is None:
        return
    counts = ", ".join(f"{n} {k}" for k, n in medsec.results.counts().items() if n)
    terminalreporter.write_sep("-", f"medsec: {counts or 'no checks ran'}")
    terminalreporter.write_line(f"run folder: {medsec.run_dir}")
