"""A Ctrl-C while `medsec run` starts is held, then raised once the plugin's handler is in."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from harness.core import interrupt_hold


@pytest.fixture
def restored() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    if interrupt_hold.held():
        interrupt_hold.release()
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_held_signal_is_raised_again_to_the_handler_installed_by_then(restored: None) -> None:
    interrupt_hold.hold()
    signal.raise_signal(signal.SIGINT)  # inside an import, this could have become anything
    assert interrupt_hold.held()
    seen: list[int] = []

    def plugin_handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    signal.signal(signal.SIGINT, plugin_handler)
    interrupt_hold.release()
    assert seen == [signal.SIGINT]
    assert not interrupt_hold.held()


def test_release_without_a_signal_gives_ctrl_c_back_to_python(restored: None) -> None:
    interrupt_hold.hold()
    interrupt_hold.release()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
