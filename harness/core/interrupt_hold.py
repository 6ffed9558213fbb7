"""Ctrl-C (or SIGTERM) while `medsec run` is still starting is held, then raised in order.

A signal that lands inside an import can surface as another exception: pydantic-core
turns a KeyboardInterrupt raised while it builds a model's validator into a SchemaError,
and the run would end with that traceback and exit 1, the status of failed checks.
`hold()` records the signal instead; the plugin calls `release()` once its own handlers
are in place (pytest is configured), which sends a held signal again, now to them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_DEFAULTS: dict[int, Callable[[int, FrameType | None], Any] | int] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
}
_held: list[int] = []
_holding = False


def _record(signum: int, frame: FrameType | None) -> None:
    if signum not in _held:
        _held.append(signum)


def hold() -> None:
    """From now on SIGINT and SIGTERM are recorded, not raised (main thread only)."""
    global _holding
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _DEFAULTS:
        signal.signal(signum, _record)
    _holding = True


def release() -> None:
    """Stop holding: a held signal is sent again, to the handler installed by now."""
    global _holding
    if not _holding:
        return
    _holding = False
    for number, default in _DEFAULTS.items():
        if signal.getsignal(number) is _record:
            signal.signal(number, default)
    pending, _held[:] = list(_held), []
    for held_number in pending:
        signal.raise_signal(held_number)


def held() -> bool:
    """Whether a signal arrived while holding and was not sent again."""
    return bool(_held)
