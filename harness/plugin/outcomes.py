"""How the end of a check becomes one of our outcomes.

An assertion (or `pytest.fail`) is a verdict: `failed`. A `MedsecError` means the
harness could not decide: `error`. `NotApplicable` becomes `not_applicable`, and any
other exception is a harness error: `error` too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator

import pytest
from _pytest.outcomes import Skipped

from harness.core.errors import Inconclusive, MedsecError, NotApplicable, OutOfScope
from harness.reporting.results import Outcome

PREFIX = "not applicable: "


class NotApplicableSkip(Skipped):
    """`NotApplicable` as pytest sees it: a skip, so pytest's own counts stay right."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _as_skip():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _as_skip():
        return (yield)


@contextlib.contextmanager
def _as_skip() -> Iterator[None]:
    """Re-raise `NotApplicable` (from a check, fixture or probe) as a pytest skip."""
    try:
        yield
    except NotApplicable as exc:
        raise NotApplicableSkip(PREFIX + exc.reason) from None


def classify(call: pytest.CallInfo[None]) -> tuple[Outcome, str]:
    """The outcome and reason of a phase that raised."""
    assert call.excinfo is not None
    exc = call.excinfo.value
    if isinstance(exc, NotApplicableSkip):
        return Outcome.NOT_APPLICABLE, str(exc.msg).removeprefix(PREFIX)
    if isinstance(exc, NotApplicable):
        return Outcome.NOT_APPLICABLE, exc.reason
    if isinstance(exc, AssertionError | pytest.fail.Exception):
        text = str(exc.msg if isinstance(exc, pytest.fail.Exception) else exc)
        return Outcome.FAILED, text.split("\nassert ")[0].strip() or "assertion failed"
    if isinstance(exc, MedsecError):
        kind = (
            "out of scope"
            if isinstance(exc, OutOfScope)
            else "inconclusive"
            if isinstance(exc, Inconclusive)
            else "device error"
        )
        return Outcome.ERROR, f"{kind}: {exc}"
    return Outcome.ERROR, f"harness error: {type(exc).__name__}: {exc}"
