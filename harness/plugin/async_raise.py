"""Raising an exception in another thread: how a lane's check is stopped from outside.

A check running in a lane thread cannot be interrupted by a signal (Python runs signal
handlers in the main thread only), so the per-check watchdog and Ctrl-C ask the
interpreter to raise in that thread instead. The exception lands at the thread's next
Python instruction: at once in Python code, after the call returns in a blocking one
(every I/O of the harness has a timeout, and its long waits sleep in short slices).
"""

from __future__ import annotations

import ctypes
import threading


def raise_in(thread: threading.Thread, exception: type[BaseException]) -> bool:
    """Raise `exception` (a class: the interpreter makes the instance) in `thread`."""
    if thread.ident is None or not thread.is_alive():
        return False
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(exception)
    )
    return bool(done == 1)


def cancel_in(thread: threading.Thread) -> None:
    """Withdraw an exception `raise_in` asked for that has not been raised yet."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
