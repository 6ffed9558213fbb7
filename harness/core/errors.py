"""The exception hierarchy shared by profiles, transports, probes and the CLI.

Transports convert `OSError`, `socket.timeout`, paramiko and pyserial exceptions into
`DeviceError` subclasses at their boundary, so probes and checks see one vocabulary:
a `DeviceError` means "the harness could not decide" and becomes the `error` outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn


class MedsecError(Exception):
    """Root of every error the harness raises on purpose."""


@dataclass(frozen=True)
class ProfileIssue:
    """One thing wrong with a profile or threat-model file, located to file:line."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(document)'}: {self.message}"


class ProfileError(MedsecError):
    """A profile (or a file it names) is invalid; CLI exit status 2."""

    def __init__(self, issues: list[ProfileIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class OutOfScope(MedsecError):
    """An address outside `scope.allow` was about to be touched; nothing was sent."""

    def __init__(self, address: str, allowed: str) -> None:
        self.address = address
        super().__init__(f"{address} is outside the profile scope ({allowed}); nothing was sent")


class DeviceError(MedsecError):
    """The device could not be asked: the check ends as `error`, not `failed`."""

    def __init__(self, target: str, message: str) -> None:
        self.target = target
        super().__init__(f"{target}: {message}")


class DeviceTimeout(DeviceError):
    """No answer within the I/O timeout."""


class DeviceUnreachable(DeviceError):
    """Connection refused, reset before any answer, or no route."""


class NotConnected(DeviceUnreachable):
    """No connection was made (refused, no route): nothing was sent."""


class ProtocolViolation(DeviceError):
    """The device answered, but not in the protocol we spoke."""


class Inconclusive(DeviceError):
    """The device answered, but in a way that decides nothing (a positive control that
    failed, an answer neither refusal nor acceptance): `error`, never `failed`."""


def inconclusive(target: str, message: str) -> NoReturn:
    """End the running check as `error`: the harness could not decide."""
    raise Inconclusive(target, message)


class NotSupported(MedsecError):
    """The profile asks for something this harness cannot drive or express (says why)."""


class NotApplicable(Exception):
    """The profile lacks what a check needs: the check ends as `not_applicable`.

    Not a `MedsecError`, since nothing went wrong. Checks, fixtures and probes raise it
    through `not_applicable(reason)`; the pytest plugin records the reason.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def not_applicable(reason: str) -> NoReturn:
    """End the running check as `not_applicable`, recording `reason`."""
    raise NotApplicable(reason)
