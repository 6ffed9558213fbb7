"""AUTH probe logic without a device: lockout judgement, secret patterns, telnet options,
credential budgets, weak-password candidates, profile keys and --reveal-secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from harness.config.profile import Policy, load_profile
from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable, ProfileError
from harness.core.redact import Redactor
from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.probes.auth import lockout, password_change
from harness.probes.auth.credentials import Attempt, LoginLedger, Pair, Trial, candidate_pairs
from harness.probes.auth.telnet import (
    DO,
    ECHO,
    IAC,
    SB,
    SE,
    WILL,
    WONT,
    TelnetSession,
    _UserTrial,
)
from harness.probes.surface import console_secrets
from testsuites._auth_steps import record_lockout

RIGHT = "the-right-password"


class Device:
    """A login that locks after `after` failures, or answers every `delay_s` late."""

    def __init__(self, *, after: int | None = None, delay_s: float = 0.0) -> None:
        self.after, self.delay_s, self.failures = after, delay_s, 0
        self.locked_until_recovery = False

    def __call__(self, password: str, shown: str) -> lockout.LoginTry:
        locked = self.after is not None and self.failures >= self.after
        if locked and not self.locked_until_recovery:
            return lockout.LoginTry(False, 0.001, "locked")
        ok = password == RIGHT
        self.failures = 0 if ok else self.failures + 1
        late = self.delay_s if self.failures > 5 or (ok and self.delay_s) else 0.0
        return lockout.LoginTry(ok, late, "ok" if ok else "wrong")


def measure(device: lockout.TryLogin, waited: list[float] | None = None) -> lockout.LockoutTrial:
    return lockout.measure(
        "ssh",
        "service",
        RIGHT,
        device,
        failures=5,
        delay_s=2.0,
        deadline=Deadline(30),
        wait=(waited.append if waited is not None else lambda s: None),
    )


def test_a_lockout_refuses_the_right_password_and_the_trial_waits_it_out() -> None:
    device = Device(after=5)
    waited: list[float] = []

    def unlock(seconds: float) -> None:
        waited.append(seconds)
        device.locked_until_recovery = True

    trial = lockout.measure(
        "ssh", "service", RIGHT, device, failures=5, delay_s=2.0, deadline=Deadline(30), wait=unlock
    )
    assert trial.control_ok
    assert [a.step for a in trial.attempts][:8] == ["control"] + [
        f"wrong {n}" for n in range(1, 7)
    ] + ["right"]
    assert trial.locked
    assert not trial.delayed
    assert trial.recovered is True
    assert waited == [pytest.approx(2.2)]
    assert RIGHT not in repr(trial)
    assert all(a.password_shown.endswith("***") for a in trial.attempts)


def test_no_lockout_and_no_delay_is_caught() -> None:
    trial = measure(Device())
    assert trial.control_ok
    assert not trial.locked
    assert not trial.delayed
    right = trial.right_after_failures
    assert right is not None
    assert right.accepted
    assert trial.recovered is None


def test_a_delay_at_least_the_policy_counts_as_rate_limit() -> None:
    assert measure(Device(delay_s=2.5)).delayed
    assert not measure(Device(delay_s=1.0)).delayed


def test_an_account_that_cannot_log_in_ends_the_trial_at_once() -> None:
    trial = lockout.measure(
        "http", "x", "not-it", Device(), failures=5, delay_s=1, deadline=Deadline(30)
    )
    assert not trial.control_ok
    assert len(trial.attempts) == 1


def test_a_device_error_keeps_the_attempts_made() -> None:
    calls = []

    def flaky(password: str, shown: str) -> lockout.LoginTry:
        calls.append(password)
        if len(calls) == 4:
            raise DeviceTimeout("pump:22", "no answer")
        return lockout.LoginTry(password == RIGHT, 0.01)

    trial = lockout.measure("ssh", "s", RIGHT, flaky, failures=5, delay_s=1, deadline=Deadline(30))
    assert isinstance(trial.error, DeviceTimeout)
    assert len(trial.attempts) == 3


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private key block"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key block"),
        ("wifi_psk=hunter2hunter", "password assignment"),
        ("root password: Sup3rS3cret", "password assignment"),
        ("api_key = 0123456789abcdef", "token or API key assignment"),
        (
            "Authorization token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX18",
            "JSON web token",
        ),
        ("aws AKIAABCDEFGHIJKLMNOP", "AWS access key id"),
    ],
)
def test_secret_patterns_find_keys_passwords_and_tokens(text: str, kind: str) -> None:
    found = console_secrets.scan(text)
    assert kind in {f.kind for f in found}
    for finding in found:
        assert "hunter2hunter" not in finding.excerpt
        assert "Sup3rS3cret" not in finding.excerpt


@pytest.mark.parametrize(
    "text",
    [
        "Password: ",
        "Password: \r\nLogin incorrect",
        "token: none",
        "password=(null)",
        "Hit any key to stop autoboot:  0",
        "EXT4-fs (mmcblk0p2): mounted filesystem with ordered data mode",
    ],
)
def test_ordinary_console_text_is_not_a_secret(text: str) -> None:
    assert console_secrets.scan(text) == ()


def test_profile_secrets_are_found_and_never_repeated() -> None:
    found = console_secrets.scan("debug: connecting with Xq7-long-secret", ["Xq7-long-secret"])
    assert [f.kind for f in found] == ["a secret from the profile"]
    assert "Xq7-long-secret" not in found[0].excerpt


class FakeConn:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.target = "pump:23"
        self.timeout = 1.0
        self.transcript = Transcript("t")

    def send(self, data: bytes, note: str = "") -> None:
        self.sent.append(data)


def test_telnet_options_are_answered_and_stripped() -> None:
    conn = FakeConn()
    session = TelnetSession(conn)  # type: ignore[arg-type]
    text = session._feed(bytes((IAC, DO, 24, IAC, WILL, ECHO, IAC, WILL, 31)) + b"login: ")
    assert text == b"login: "
    assert conn.sent == [bytes((IAC, WONT, 24, IAC, DO, ECHO, IAC, 254, 31))]
    # A command split across two reads, a subnegotiation and an escaped 0xFF.
    assert session._feed(bytes((IAC,))) == b""
    assert (
        session._feed(bytes((DO, 1)) + bytes((IAC, SB, 24, 1, IAC, SE)) + b"a\xff\xffb")
        == b"a\xffb"
    )


def test_credential_budget_counts_failures_of_earlier_checks() -> None:
    ledger = LoginLedger()
    ledger.record(
        "ssh",
        "AUTH-001",
        [
            Attempt("ssh", "root", "ro***", "built-in", False, 0.1, "", 0.0),
            Attempt("ssh", "root", "***", "built-in", False, 0.1, "", 0.1),
            Attempt("ssh", "service", "se***", "built-in", True, 0.1, "", 0.2),
        ],
    )
    assert ledger.spent("ssh") == {"root": 2}
    assert ledger.spent("http") == {}
    assert ledger.accepted("ssh", "service") == ("AUTH-001: service / se***",)
    pairs = candidate_pairs([Pair("root", "vendor", "profile")], 4, ledger.spent("ssh"))
    assert [p.password for p in pairs if p.username == "root"] == ["vendor", "root"]


def test_weak_candidates_cover_each_rule() -> None:
    candidates = dict(password_change.weak_candidates("operator", 12, "admin"))
    rules = list(candidates)
    assert len(candidates[rules[0]]) == 11
    assert candidates["equal to the user name"] == "operator"
    common = next(v for k, v in candidates.items() if k.startswith("common"))
    assert common == "password1234"
    assert candidates["a vendor default"] == "admin"


def test_ssh_auth_methods_default_from_the_policy_name() -> None:
    assert Policy().expected_ssh_auth_methods == {"publickey"}
    assert Policy(ssh_policy="legacy").expected_ssh_auth_methods == {
        "publickey",
        "password",
        "keyboard-interactive",
    }
    assert Policy(ssh_auth_methods=("password", "publickey")).expected_ssh_auth_methods == {
        "password",
        "publickey",
    }


def test_reveal_writes_full_pairs_beside_the_run_folder_only_when_asked(tmp_path: Path) -> None:
    run = tmp_path / "run1"
    run.mkdir()
    pair = (Pair("admin", "admin"),)
    assert SecretReveal(run, enabled=False).pairs("AUTH-003", "http", pair) is None
    written = SecretReveal(run, enabled=True).pairs("AUTH-003", "http", pair)
    assert written is not None
    assert written.parent == tmp_path  # never inside the signed run folder
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert written.read_text() == "AUTH-003\thttp\tadmin\tadmin\n"


def _profile(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "schema: medsec/profile/v1\n"
        "device: {name: d, vendor: v, model: m, firmware: '1'}\n"
        "scope: {allow: [127.0.0.1/32]}\n"
        f"http: {{base_url: '{base_url}', account: {{username: admin, password: Adm1n-S3cret}}}}\n"
        "auth:\n"
        "  default_credentials: [{username: admin, password: admin1}]\n"
        "  lockout_account: {http: {username: operator, password: Op3rator-S3cret}}\n"
    )
    return path


def test_http_section_is_scope_checked_and_its_secrets_redacted(tmp_path: Path) -> None:
    profile = load_profile(_profile(tmp_path, "https://127.0.0.1:8443"))
    assert profile.http is not None
    assert profile.http.url("/api/login") == "https://127.0.0.1:8443/api/login"
    assert {"Adm1n-S3cret", "Op3rator-S3cret"} <= profile.secrets
    assert "admin1" not in profile.secrets  # public defaults are shown redacted on their own
    assert profile.secret_names == {
        "Adm1n-S3cret": "http.account.password",
        "Op3rator-S3cret": "auth.lockout_account.http.password",
    }
    with pytest.raises(ProfileError, match=r"http\.base_url"):
        load_profile(_profile(tmp_path, "https://10.1.2.3:443"))


class ScriptedConn:
    """A telnet server that answers each line with the next chunks of its script
    (b"" closes the connection)."""

    def __init__(self, greeting: bytes, *replies: tuple[bytes, ...]) -> None:
        self.pending = [greeting]
        self.replies = list(replies)
        self.target = "pump:23"
        self.timeout = 1.0

    def send(self, data: bytes, note: str = "") -> None:
        self.pending += self.replies.pop(0) if self.replies else ()

    def send_secret(self, data: bytes, shown: str) -> None:
        self.send(data)

    def recv(self, timeout: float | None = None) -> bytes:
        if not self.pending:
            raise DeviceTimeout(self.target, "no answer")
        return self.pending.pop(0)

    def close(self) -> None:
        pass


def _telnet_trial(pairs: list[Pair], *connections: ScriptedConn) -> tuple[Trial, int]:
    """`pairs` against scripted connections, and how many connections were opened."""
    scripts = iter(connections)
    opened: list[ScriptedConn] = []

    def open_session() -> TelnetSession:
        opened.append(next(scripts))
        return TelnetSession(opened[-1])  # type: ignore[arg-type]

    trial = _UserTrial("pump:23", open_session, 1.0, Deadline(10), 0.0).run(pairs)
    return trial, len(opened)


ROOT = [Pair("root", "root"), Pair("root", "toor")]


def test_a_refusal_before_the_server_hangs_up_is_a_refusal() -> None:
    busybox = ScriptedConn(
        b"login: ",
        (b"Password: ",),
        (b"\r\nLogin incorrect\r\n", b""),  # the third failure: busybox login exits
    )
    again = ScriptedConn(b"login: ", (b"Password: ",), (b"\r\nLogin incorrect\r\nlogin: ",))
    trial, opened = _telnet_trial(ROOT, busybox, again)
    assert [(a.accepted, a.decided) for a in trial.attempts] == [(False, True), (False, True)]
    assert "refused ('Login incorrect')" in trial.attempts[0].detail
    assert trial.attempts[1].detail == "login prompt returned"
    assert opened == 2


def test_a_hang_up_after_the_password_without_a_refusal_decides_nothing() -> None:
    dies = ScriptedConn(b"login: ", (b"Password: ",), (b"\r\nlogin: bad salt\r\n", b""))
    trial, _ = _telnet_trial(ROOT[:1], dies)
    assert trial.undecided == trial.attempts
    assert "without a refusal: 'login: bad salt'" in trial.attempts[0].detail


def test_a_hang_up_before_the_password_costs_no_attempt_and_is_tried_once_more() -> None:
    def drops() -> ScriptedConn:
        return ScriptedConn(b"login: ", (b"",))

    refuses = ScriptedConn(b"login: ", (b"Password: ",), (b"\r\nLogin incorrect\r\nlogin: ",))
    trial, opened = _telnet_trial(ROOT[:1], drops(), refuses)
    assert [(a.accepted, a.decided) for a in trial.attempts] == [(False, True)]
    assert opened == 2
    trial, opened = _telnet_trial(ROOT[:1], drops(), drops())
    assert trial.undecided == trial.attempts
    assert "not tried" in trial.attempts[0].detail
    assert opened == 2


def test_a_shell_after_the_password_or_at_connect_gets_in() -> None:
    trial, _ = _telnet_trial(ROOT[:1], ScriptedConn(b"login: ", (b"Password: ",), (b"\r\n# ",)))
    assert [a.accepted for a in trial.attempts] == [True]
    trial, _ = _telnet_trial(ROOT, ScriptedConn(b"~ # "))
    assert [(a.username, a.accepted) for a in trial.attempts] == [("(no login)", True)]


def test_a_lockout_trial_cut_short_by_a_device_error_is_recorded(tmp_path: Path) -> None:
    """The evidence of AUTH-009 over HTTP when TLS fails (it used to crash copying the error)."""
    error = DeviceUnreachable("pump:443", "TLS handshake failed")
    control = lockout.TimedAttempt("control", "ri***", True, 0.01, 0.0, "HTTP 200")
    trial = lockout.LockoutTrial("http", "admin", 5, 2.0, (control,), error)
    evidence = EvidenceRecorder(tmp_path, "AUTH-009", "http", Redactor([]))
    record_lockout(evidence, trial, 2.0)
    recorded = json.loads((evidence.folder / "attempts.json").read_text())
    assert recorded["error"] == "pump:443: TLS handshake failed"
    assert recorded["attempts"][0]["step"] == "control"
    assert "the trial stopped early: pump:443: TLS handshake failed" in evidence.summary
