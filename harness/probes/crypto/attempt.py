"""How a crypto audit ended, as a type the checks ask instead of a list they must remember.

Two shapes, both with an `AuditStatus`: an `Attempt` is one probe that either completed
with a result or erred (sslyze's ScanCommandAttempt); a `PartialAudit` keeps everything
its probes found even when some of them erred. A check judges what was found first and
calls `raise_if_incomplete` after its assertion: a finding fails the check, an
incomplete audit without a finding is an error, never a pass.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from harness.core.errors import DeviceError

T = TypeVar("T")


class AuditStatus(str, enum.Enum):
    COMPLETED = "completed"
    ERROR = "error"


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """One probe run: its result when it completed, the fault that ended it otherwise."""

    status: AuditStatus
    result: T | None = None
    error: DeviceError | None = None

    @classmethod
    def run(cls, probe: Callable[[], T]) -> Attempt[T]:
        """Run `probe`; a DeviceError becomes an ERROR attempt, anything else propagates."""
        try:
            return cls(AuditStatus.COMPLETED, result=probe())
        except DeviceError as exc:
            return cls(AuditStatus.ERROR, error=exc)

    @classmethod
    def failed(cls, error: DeviceError) -> Attempt[T]:
        """An attempt not made because what it needed erred."""
        return cls(AuditStatus.ERROR, error=error)

    def result_or_raise(self) -> T:
        """The result; the fault when there is none (nothing to judge)."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass(frozen=True)
class PartialAudit:
    """Base of audits that keep what was decided when some probe erred."""

    errors: tuple[DeviceError, ...] = field(default=(), kw_only=True)

    @property
    def status(self) -> AuditStatus:
        return AuditStatus.ERROR if self.errors else AuditStatus.COMPLETED

    def raise_if_incomplete(self) -> None:
        """The first fault, if any probe of the audit did not complete."""
        if self.errors:
            raise self.errors[0]
