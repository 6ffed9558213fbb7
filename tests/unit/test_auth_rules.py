"""AUTH rules the checks ask for, called directly: how trials join and SSH connections are
reused, and the typed judgements of the probe findings."""

from __future__ import annotations

import pytest

from harness.core.errors import DeviceTimeout, DeviceUnreachable
from harness.probes.auth.console_access import BootFinding, BootOutcome, KeyOutcome
from harness.probes.auth.credentials import Attempt, Pair, Trial
from harness.probes.auth.ssh_passwords import PasswordConnection
from harness.probes.console import ConsoleState
from harness.transports.ssh import AuthResult


def refused(interface: str, username: str, n: int) -> list[Attempt]:
    return [
        Attempt(interface, username, f"x{i}***", "built-in", False, 0.1, "", float(i))
        for i in range(n)
    ]


def test_a_joined_trial_keeps_every_attempt_and_the_first_error() -> None:
    first = Trial(tuple(refused("telnet", "root", 2)), hits=(Pair("root", "root"),))
    second = Trial(tuple(refused("telnet", "admin", 1)), DeviceTimeout("pump:23", "no prompt"))
    third = Trial((), DeviceUnreachable("pump:2323", "refused"))
    joined = Trial.joined([first, second, third])
    assert [a.username for a in joined.attempts] == ["root", "root", "admin"]
    assert joined.hits == (Pair("root", "root"),)
    assert isinstance(joined.error, DeviceTimeout)
    assert Trial.joined([first]).error is None


class FakeSession:
    """An SSH connection that answers from a script; `closes_after` attempts, then gone."""

    def __init__(self, log: list[str], closes_after: int | None = None) -> None:
        self.log, self.closes_after, self.tries, self.active = log, closes_after, 0, True

    def try_password(self, username: str, password: str, shown: str) -> AuthResult:
        if self.closes_after is not None and self.tries >= self.closes_after:
            self.active = False
            raise DeviceUnreachable("pump:22", "connection closed")
        self.tries += 1
        self.log.append(password)
        return AuthResult(username, "password", password == "right", 0.01)

    def close(self) -> None:
        self.active = False


def test_a_reused_connection_the_server_closed_is_reopened_for_the_same_password() -> None:
    log: list[str] = []
    sessions: list[FakeSession] = []

    def connect() -> FakeSession:
        sessions.append(FakeSession(log, closes_after=2))
        return sessions[-1]

    with PasswordConnection(connect) as connection:  # type: ignore[arg-type]
        results = [connection.try_password("root", p, "x") for p in ("a", "b", "c", "right")]
    assert [r.accepted for r in results] == [False, False, False, True]
    assert log == ["a", "b", "c", "right"]
    assert len(sessions) == 2
    assert not any(s.active for s in sessions)  # closed after getting in, and on leaving


def test_a_fresh_connection_that_fails_is_not_retried() -> None:
    connects: list[FakeSession] = []

    def connect() -> FakeSession:
        connects.append(FakeSession([], closes_after=0))
        return connects[-1]

    connection = PasswordConnection(connect)  # type: ignore[arg-type]
    with pytest.raises(DeviceUnreachable):
        connection.try_password("root", "a", "x")
    assert len(connects) == 1


def test_console_states_that_mean_a_shell() -> None:
    assert ConsoleState.SHELL.shell
    assert ConsoleState.COMMAND_RAN.shell
    assert not ConsoleState.LOGIN.shell
    assert not ConsoleState.PASSWORD.shell
    assert not ConsoleState.NOTHING.shell
    key = KeyOutcome("Ctrl-C", ConsoleState.LOGIN, ConsoleState.COMMAND_RAN, "medsec42x", True)
    assert key.shell
    assert not KeyOutcome("Ctrl-D", ConsoleState.PASSWORD, ConsoleState.LOGIN, "").shell


def test_a_boot_stopped_at_the_bootloader_prompt_is_interrupted() -> None:
    assert BootFinding(BootOutcome.INTERRUPTED, 40, 4.0, True, "").interrupted
    assert not BootFinding(BootOutcome.LOCKED, 40, 4.0, True, "").interrupted
    assert not BootFinding(BootOutcome.BOOTED, 40, 4.0, True, "").interrupted
