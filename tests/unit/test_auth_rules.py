"""AUTH rules the checks ask for, called directly: the lockout budget of the login ledger,
telnet candidate ports, and the typed judgements of the probe findings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from harness.config.profile import HttpLogin, Network
from harness.core.errors import DeviceTimeout, DeviceUnreachable, NotApplicable
from harness.probes.auth import credentials, http_auth, mqtt, telnet
from harness.probes.auth.console_access import KeyOutcome
from harness.probes.auth.credentials import Attempt, LoginLedger, Pair, Trial
from harness.probes.auth.http_auth import AccessAttempt, AccessFinding, Session
from harness.probes.auth.password_change import ChangeAttempt, ChangeTrial
from harness.probes.auth.ssh_auth import CommandRun, MethodsFinding, PrivilegeFinding
from harness.probes.auth.ssh_passwords import PasswordConnection
from harness.probes.console import ConsoleState
from harness.probes.crypto.cleartext import PortFinding, Speaks
from harness.transports.http import HttpResponse
from harness.transports.ssh import AuthResult

ROOT_CANDIDATES = ["vendor", "root", "", "toor", "12345"]  # the profile's, then built-in order


def refused(interface: str, username: str, n: int) -> list[Attempt]:
    return [
        Attempt(interface, username, f"x{i}***", "built-in", False, 0.1, "", float(i))
        for i in range(n)
    ]


def root_budget(
    ledger: LoginLedger, lockout_after_failures: int = 6, *, profiled_password: bool = False
) -> credentials.AccountBudget:
    return ledger.remaining(
        "ssh",
        "root",
        [Pair("root", "vendor", "profile")],
        lockout_after_failures,
        profiled_password=profiled_password,
    )


def test_a_fresh_ledger_leaves_the_whole_budget_to_the_account() -> None:
    budget = root_budget(LoginLedger())
    assert [p.password for p in budget.pairs] == ROOT_CANDIDATES[:5]
    assert budget.spent == 0
    assert budget.earlier_accepted == ()


def test_pairs_an_earlier_check_tried_are_skipped_and_counted() -> None:
    ledger = LoginLedger()
    ledger.record("ssh", "AUTH-001", refused("ssh", "root", 2))
    ledger.record("http", "AUTH-003", refused("http", "root", 3))  # another interface: not counted
    budget = root_budget(ledger)
    assert budget.spent == 2
    assert [p.password for p in budget.pairs] == ROOT_CANDIDATES[2:5]


def test_the_profiled_password_keeps_one_failure_back() -> None:
    ledger = LoginLedger()
    ledger.record("ssh", "AUTH-001", refused("ssh", "root", 2))
    with_password = root_budget(ledger, profiled_password=True)
    assert [p.password for p in with_password.pairs] == ROOT_CANDIDATES[2:4]
    assert len(root_budget(ledger).pairs) == len(with_password.pairs) + 1


def test_nothing_is_left_once_the_failures_reach_the_threshold() -> None:
    ledger = LoginLedger()
    ledger.record("ssh", "AUTH-001", refused("ssh", "root", 4))
    assert root_budget(ledger, 5).pairs == ()
    assert root_budget(ledger, 5, profiled_password=True).pairs == ()
    assert root_budget(LoginLedger(), 1).pairs == ()  # a single failure locks: nothing to try


def test_the_budget_names_pairs_earlier_checks_got_in_with() -> None:
    ledger = LoginLedger()
    ledger.record(
        "ssh", "AUTH-001", [Attempt("ssh", "root", "ro***", "built-in", True, 0.1, "", 0.0)]
    )
    budget = root_budget(ledger)
    assert budget.earlier_accepted == ("AUTH-001: root / ro***",)
    assert budget.spent == 0
    assert root_budget(LoginLedger()).earlier_accepted == ()


def test_candidates_stay_below_the_lockout_threshold_per_user() -> None:
    ledger = LoginLedger()
    ledger.record("ssh", "AUTH-008", refused("ssh", "root", 3))
    pairs = ledger.candidates("ssh", [Pair("admin", "vendor", "profile")], 5)
    by_user = credentials.by_user(pairs)
    assert [p.password for p in by_user["admin"]] == ["vendor", "admin", "password", "1234"]
    assert [p.password for p in by_user["root"]] == ["root"]  # 3 of 4 already spent
    assert [p.password for p in ledger.candidates("http", [], 5) if p.username == "root"] == [
        "root",
        "",
        "toor",
        "12345",
    ]


def test_no_candidates_when_a_single_failure_locks_the_account() -> None:
    with pytest.raises(NotApplicable, match="lockout_after_failures is 1"):
        LoginLedger().candidates("ssh", [], 1)


def test_default_password_prefers_the_profile_then_the_built_in_list() -> None:
    assert credentials.default_password("admin", [Pair("admin", "vendor", "profile")]) == "vendor"
    assert credentials.default_password("service", []) == "service"
    assert credentials.default_password("operator", []) == "admin"  # nobody knows one


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


def _network(expected: tuple[int, ...], services: dict[int, str]) -> Network:
    return Network.model_validate(
        {
            "host": "192.0.2.10",
            "expected_tcp": expected,
            "services": [
                {"name": f"s{port}", "port": port, "protocol": protocol}
                for port, protocol in services.items()
            ],
        }
    )


def test_telnet_candidates_are_23_undeclared_expected_ports_and_declared_telnet() -> None:
    network = _network(
        (22, 443, 2323, 8080), {22: "ssh", 443: "https", 8080: "other", 9999: "telnet"}
    )
    assert telnet.candidate_ports(network) == [23, 2323, 8080, 9999]


def test_a_port_declared_as_another_protocol_is_not_a_telnet_candidate() -> None:
    network = _network((23, 22), {23: "ssh", 22: "ssh"})
    assert telnet.candidate_ports(network) == []


def test_a_survey_keeps_only_the_ports_that_speak_telnet() -> None:
    survey = telnet.TelnetSurvey(
        (23, 2323),
        (
            telnet.TelnetPort(23, True, "telnet option negotiation"),
            telnet.TelnetPort(2323, False, "silent"),
        ),
    )
    assert survey.telnet_ports == [23]
    assert telnet.TelnetSurvey((), ()).telnet_ports == []


def test_console_states_that_mean_a_shell() -> None:
    assert ConsoleState.SHELL.shell
    assert ConsoleState.COMMAND_RAN.shell
    assert not ConsoleState.LOGIN.shell
    assert not ConsoleState.PASSWORD.shell
    assert not ConsoleState.NOTHING.shell
    key = KeyOutcome("Ctrl-C", ConsoleState.LOGIN, ConsoleState.COMMAND_RAN, "medsec42x", True)
    assert key.shell
    assert not KeyOutcome("Ctrl-D", ConsoleState.PASSWORD, ConsoleState.LOGIN, "").shell


def _access(credential: str, status: int, changed: bool | None) -> AccessAttempt:
    return AccessAttempt("dose", "POST /api/dose", credential, status, 0.01, changed)


def test_an_endpoint_that_refuses_every_forged_credential_lets_nothing_through() -> None:
    finding = AccessFinding(
        "dose",
        (
            _access("no credentials", 401, False),
            _access("a malformed token", 403, None),
        ),
        _access("profiled account (positive control)", 200, None),
    )
    assert finding.let_through == ()
    assert finding.undecided == ()
    assert not finding.control_failed


def test_an_answered_request_or_a_changed_state_is_let_through() -> None:
    answered = _access("no credentials", 200, False)
    refused_but_changed = _access("an expired token", 401, True)
    finding = AccessFinding(
        "dose",
        (answered, refused_but_changed, _access("a malformed token", 403, False)),
        _access("profiled account (positive control)", 500, None),
    )
    assert finding.let_through == (answered, refused_but_changed)
    assert finding.control_failed


def test_another_4xx_refuses_only_when_the_state_is_read_back_unchanged() -> None:
    unchanged = _access("a malformed token", 400, False)  # lighttpd's answer to bad Basic
    unread = _access("a malformed token", 400, None)
    changed = _access("a malformed token", 400, True)
    assert [unchanged.refused, unchanged.decided] == [True, True]
    assert [unread.refused, unread.decided] == [False, False]
    assert [changed.refused, changed.decided] == [False, True]
    finding = AccessFinding(
        "dose", (unchanged, unread, changed), _access("positive control", 204, None)
    )
    assert finding.let_through == (changed,)
    assert finding.undecided == (unread,)
    assert not finding.control_failed


NESTED = b"[" * 100_000  # json.loads raises RecursionError here, not ValueError


def test_a_login_reply_nested_too_deep_for_json_issues_no_token() -> None:
    body = b'{"token": ' + NESTED
    reply = HttpResponse(200, "OK", (("Content-Type", "application/json"),), body, 0.01)
    assert http_auth._token_session(reply, "token") is None  # as for a reply that is not JSON


def test_a_state_nested_too_deep_for_json_is_compared_as_text() -> None:
    assert http_auth._canonical(NESTED) == NESTED.decode()


def test_forged_credentials_take_the_shape_of_the_control_session() -> None:
    cookie = Session("cookie", "Cookie", "sid=real-session-value")
    kinds = http_auth.forged_credentials(cookie, SecretStr("an-old-token"))
    assert [label for label, _ in kinds] == [
        "no credentials",
        "a malformed token",
        "an expired token",
    ]
    assert kinds[0][1] is None
    malformed, expired = kinds[1][1], kinds[2][1]
    assert malformed is not None
    assert malformed.value.startswith("sid=medsec-malformed-")
    assert expired is not None
    assert expired.value == "sid=an-old-token"
    bearer = Session("bearer", "Authorization", "Bearer real")
    assert [label for label, _ in http_auth.forged_credentials(bearer, None)] == [
        "no credentials",
        "a malformed token",
    ]


def _methods(offered: tuple[str, ...], key_accepted: bool = False) -> MethodsFinding:
    return MethodsFinding("SSH-2.0-x", False, offered, "publickey" in offered, key_accepted)


def test_methods_that_match_the_policy_are_no_problem() -> None:
    assert _methods(("publickey",)).problems(frozenset({"publickey"})) == ()


def test_extra_or_missing_methods_and_an_accepted_unknown_key_are_problems() -> None:
    problems = _methods(("password", "publickey"), key_accepted=True).problems({"publickey"})
    assert problems == (
        "offers ['password', 'publickey'], policy wants ['publickey'] (extra: ['password'])",
        "a key the device has never seen was accepted",
    )
    assert _methods(("password",)).problems({"publickey"}) == (
        "offers ['password'], policy wants ['publickey'] (extra: ['password']) "
        "(missing: ['publickey'])",
    )


def test_uid_0_is_root_and_exit_0_means_the_command_ran() -> None:
    runs = (CommandRun("reboot", 0, ""), CommandRun("cat /etc/shadow", 1, "denied"))
    assert PrivilegeFinding("0", runs).root
    assert not PrivilegeFinding("1000", runs).root
    assert [r.executed for r in runs] == [True, False]


def test_a_change_trial_separates_accepted_from_undecided_answers() -> None:
    ok = ChangeAttempt("too short", "ab***", 204, True, True, "", restored=True)
    policy = ChangeAttempt("common", "pa***", 422, False, True, "too common")
    odd = ChangeAttempt("a vendor default", "ad***", 500, False, False, "oops")
    trial = ChangeTrial((ok, policy, odd), True, ())
    assert trial.accepted == (ok,)
    assert trial.undecided == (odd,)
    assert ChangeTrial((policy,), True, ()).accepted == ()
    assert ChangeTrial((policy,), True, ()).undecided == ()


def test_a_plain_mqtt_broker_is_judged_by_its_connack() -> None:
    def access(code: int) -> mqtt.BrokerAccess:
        return mqtt.BrokerAccess(1883, PortFinding.of(1883, bytes((0x20, 2, 0, code))))

    assert access(0).anonymous
    assert [access(4).refused, access(5).refused] == [True, True]
    unavailable = access(3)
    assert unavailable.broker
    assert not unavailable.anonymous
    assert not unavailable.refused
    silent = mqtt.BrokerAccess(1883, PortFinding(1883, Speaks.SILENT, "nothing", b""))
    assert not silent.broker


def test_plain_mqtt_ports_leave_the_tls_ones_to_crypto_011() -> None:
    network = Network(
        host="192.0.2.1",
        expected_tcp=(1883, 8883, 9000, 22),
        services=(
            {"name": "telemetry", "port": 8883, "protocol": "mqtts"},
            {"name": "broker", "port": 9001, "protocol": "mqtt"},
            {"name": "ssh", "port": 22, "protocol": "ssh"},
        ),
    )
    assert mqtt.plain_ports(network, [8883]) == [1883, 9000, 9001]


def test_basic_logins_use_get_unless_the_profile_says() -> None:
    assert HttpLogin(style="basic").request_method == "GET"
    assert HttpLogin(style="basic", method="POST").request_method == "POST"
    assert HttpLogin().request_method == "POST"


def test_an_ssh_refusal_says_what_the_server_still_offers() -> None:
    refused = AuthResult("service", "password", False, 0.1, ("publickey",), "method not offered")
    assert refused.why == "method not offered (server offers: publickey)"
    assert AuthResult("service", "password", False, 0.1).why == "refused"
