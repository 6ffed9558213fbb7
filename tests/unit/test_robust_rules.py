"""The ROBUST probes' rules: the malformed inputs are what they claim, each family's judge,
liveness that waits for a service to come back, the case loop, and the capped flood."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.config.profile import Network, Policy, Profile, Service
from harness.core.deadline import Deadline
from harness.core.errors import DeviceUnreachable, OutOfScope
from harness.core.redact import Redactor
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder
from harness.probes import console as console_probe
from harness.probes import liveness
from harness.probes.console import ConsoleState
from harness.probes.robust import flood, http_input, oversized, serial_input, ssh_input, tls_input
from harness.probes.robust.cases import Case, Reaction, Reply, plan, run_cases
from harness.sim.console import SerialConsole
from harness.sim.firmware import FirmwareState
from harness.sim.listener import TcpListener, bind
from harness.sim.ssh_service import identification_ok
from harness.sim.telemetry_service import suite_length_overruns
from harness.transports.serial import Console
from testsuites._robust_steps import RobustSteps

LOOPBACK = Scope.of(["127.0.0.1/32"])
HOST = "127.0.0.1"


def reply(reaction: Reaction, data: bytes = b"", *, closed: bool = False) -> Reply:
    return Reply(reaction, data, closed, 0.1)


# --- what the malformed inputs are ----------------------------------------------------------


def test_only_the_overrun_hello_trips_the_planted_w15_parser() -> None:
    tripped = [c.name for c in tls_input.malformed_hellos("t") if suite_length_overruns(c.payload)]
    assert tripped == ["suite-length-overrun"]


def test_long_hellos_are_split_into_records_tls_allows() -> None:
    for case in (tls_input.oversized_sni("t"), *tls_input.malformed_hellos("t")[4:5]):
        data, handshake = case.payload, b""
        while data:
            assert data[0] == 0x16
            length = int.from_bytes(data[3:5], "big")
            assert length <= 1 << 14
            handshake, data = handshake + data[5 : 5 + length], data[5 + length :]
        assert int.from_bytes(handshake[1:4], "big") == len(handshake) - 4


def test_garbage_leaves_out_interrupt_keys_line_ends_and_flow_control() -> None:
    noise = serial_input.garbage(7)[0].payload
    assert len(noise) == serial_input.RANDOM_BYTES
    assert not set(noise) & serial_input.LEFT_OUT
    assert {0x03, 0x1C, 0x1A} <= serial_input.LEFT_OUT  # intr, quit, susp: no signal sent
    assert serial_input.garbage(7)[0].payload == noise  # the seed replays it


def test_a_boot_log_is_recognised_with_or_without_a_profiled_bootloader(
    lab_profile: Profile,
) -> None:
    assert lab_profile.serial is not None
    marks = console_probe.boot_marks(lab_profile.serial)
    assert marks.search(b"\r\nU-Boot SPL 2023.04 (Jan 01 2024)\r\n")
    assert marks.search(b"[    0.000000] Booting Linux on physical CPU 0x0")
    assert not marks.search(b"IP-100 login: ")


def test_mqtt_publish_encodes_a_qos1_packet() -> None:
    packet = oversized.publish(b"a/b", b"x", packet_id=7)
    assert packet == b"\x32\x08\x00\x03a/b\x00\x07x"


# --- each family's judge --------------------------------------------------------------------


def test_tls_rule_wants_an_alert_or_a_close() -> None:
    broken, cut, big = (tls_input.malformed_hellos("t")[i] for i in (1, 2, 4))
    alert = b"\x15\x03\x03\x00\x02\x02\x32"
    assert tls_input.problem(broken, reply(Reaction.ANSWERED, alert)) is None
    assert tls_input.problem(broken, reply(Reaction.CLOSED, closed=True)) is None
    assert "neither an alert" in str(tls_input.problem(broken, reply(Reaction.SILENT)))
    assert tls_input.problem(cut, reply(Reaction.SILENT)) is None  # waiting for the rest
    server_hello = b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"
    assert "went on" in str(tls_input.problem(broken, reply(Reaction.ANSWERED, server_hello)))
    assert tls_input.problem(big, reply(Reaction.ANSWERED, server_hello)) is None


def test_ssh_rule_wants_the_connection_closed() -> None:
    case = ssh_input.malformed_input("ssh")[0]
    ident = b"SSH-2.0-OpenSSH_9.2\r\n"
    assert ssh_input.problem(case, reply(Reaction.ANSWERED, ident, closed=True)) is None
    assert "stayed open" in str(ssh_input.problem(case, reply(Reaction.ANSWERED, ident)))
    assert ssh_input.problem(case, reply(Reaction.SILENT))


@pytest.mark.parametrize(
    ("status", "well_formed", "fine"),
    [
        (400, False, True), (431, False, True), (501, False, True), (505, False, True),
        (200, False, False), (500, False, False), (503, False, False),
        (200, True, True), (404, True, True), (500, True, False),
    ],
)  # fmt: skip
def test_http_rule_wants_a_refusal(status: int, well_formed: bool, fine: bool) -> None:
    case = Case("c", "a case", b"GET / HTTP/1.1\r\n\r\n", "http", well_formed=well_formed)
    head = f"HTTP/1.1 {status} Whatever\r\n\r\n".encode()
    assert (http_input.problem(case, reply(Reaction.ANSWERED, head)) is None) is fine


def test_http_rule_takes_a_close_and_never_a_hang() -> None:
    case = Case("c", "a case", b"GET", "http")
    assert http_input.problem(case, reply(Reaction.CLOSED, closed=True)) is None
    assert http_input.problem(case, reply(Reaction.ANSWERED, b"Bad Request", closed=True)) is None
    assert "no HTTP answer" in str(http_input.problem(case, reply(Reaction.ANSWERED, b"??")))
    assert "neither an answer" in str(http_input.problem(case, reply(Reaction.SILENT)))


def test_oversized_fields_over_ssh_must_not_log_in() -> None:
    case = oversized.ssh_fields()[0]
    assert oversized.ssh_problem(case, Reply(Reaction.ANSWERED, detail="refused")) is None
    assert "log in" in str(oversized.ssh_problem(case, Reply(Reaction.ANSWERED, accepted=True)))
    assert oversized.ssh_problem(case, reply(Reaction.SILENT))


def test_a_broker_answers_or_closes() -> None:
    topic = oversized.mqtt_topic("mqtt")
    accepted, refused, puback = b"\x20\x02\x00\x00", b"\x20\x02\x00\x05", b"\x40\x02\x00\x01"
    assert oversized.publish_problem(topic, reply(Reaction.ANSWERED, refused)) is None
    assert oversized.publish_problem(topic, reply(Reaction.ANSWERED, accepted + puback)) is None
    assert oversized.publish_problem(topic, reply(Reaction.ANSWERED, accepted))
    assert oversized.publish_problem(topic, reply(Reaction.ANSWERED, accepted, closed=True)) is None
    client_id = oversized.mqtt_client_id("mqtt")
    assert oversized.connect_problem(client_id, reply(Reaction.ANSWERED, accepted)) is None
    assert oversized.connect_problem(client_id, reply(Reaction.SILENT))


def test_console_rule_wants_a_prompt_at_the_first_enter_and_no_reboot() -> None:
    case = serial_input.garbage(1)[1]

    def console(
        state: ConsoleState, presses: int, *, rebooted: bool = False, accepted: bool = False
    ) -> serial_input.ConsoleReply:
        return serial_input.ConsoleReply(
            Reaction.ANSWERED, elapsed_s=1.5, accepted=accepted, state=state, presses=presses,
            rebooted=rebooted,
        )  # fmt: skip

    assert serial_input.problem(case, console(state=ConsoleState.LOGIN, presses=1)) is None
    assert serial_input.problem(case, console(state=ConsoleState.PASSWORD, presses=1)) is None
    rebooted = console(state=ConsoleState.LOGIN, presses=1, rebooted=True)
    assert "rebooted" in str(serial_input.problem(case, rebooted))
    late = console(state=ConsoleState.LOGIN, presses=4)
    assert "stopped answering" in str(serial_input.problem(case, late))
    silent = serial_input.ConsoleReply(Reaction.SILENT, elapsed_s=20.0, presses=12)
    assert "no prompt" in str(serial_input.problem(case, silent))
    shell = console(state=ConsoleState.SHELL, presses=1, accepted=True)
    assert "shell" in str(serial_input.problem(case, shell))


# --- the case loop --------------------------------------------------------------------------


def _liveness(alive: bool) -> liveness.Liveness:
    return liveness.Liveness((liveness.Answer("api", alive, "probe", 0.01),))


def test_cases_stop_at_the_first_the_device_did_not_survive() -> None:
    cases = [Case(f"c{n}", "a case", b"x", "t") for n in range(4)]
    verdicts = iter([True, False, True, True])
    sent: list[str] = []

    def send(case: Case) -> Reply:
        sent.append(case.name)
        return reply(Reaction.CLOSED, closed=True)

    trial = run_cases(
        plan(cases, send, lambda c, r: None),
        lambda: _liveness(next(verdicts)),
        stop_at_first_failure=True,
        deadline=Deadline(60),
    )
    assert sent == ["c0", "c1"]
    assert [r.case.name for r in trial.killers] == ["c1"]
    assert trial.not_run == ("c2", "c3")
    assert "c1" in trial.stopped


def test_cases_go_on_when_told_and_a_send_that_fails_is_not_delivered() -> None:
    cases = [Case(f"c{n}", "a case", b"x", "t") for n in range(3)]
    verdicts = iter([False, True, True])

    def send(case: Case) -> Reply:
        if case.name == "c2":
            raise DeviceUnreachable("console", "no prompt before the case")
        return reply(Reaction.SILENT)

    trial = run_cases(
        plan(cases, send, lambda c, r: "hung"),
        lambda: _liveness(next(verdicts)),
        stop_at_first_failure=False,
        deadline=Deadline(60),
    )
    assert len(trial.results) == 3
    assert [r.case.name for r in trial.misbehaved] == ["c0", "c1"]  # undelivered: not judged
    assert [r.case.name for r in trial.undelivered] == ["c2"]


def test_cases_stop_when_the_budget_is_spent() -> None:
    cases = [Case(f"c{n}", "a case", b"x", "t") for n in range(2)]
    trial = run_cases(
        plan(cases, lambda c: reply(Reaction.CLOSED), lambda c, r: None),
        lambda: _liveness(True),
        stop_at_first_failure=True,
        deadline=Deadline(0),
    )
    assert trial.results == ()
    assert trial.not_run == ("c0", "c1")


# --- liveness that waits, and a planted crash that comes back ---------------------------------


@contextlib.contextmanager
def listener_after(port: int, delay: float) -> Iterator[None]:
    """A listener that starts on `port` after `delay` seconds (and accepts everything)."""
    stop = threading.Event()

    def serve() -> None:
        if stop.wait(delay):
            return
        with socket.create_server((HOST, port)) as server:
            server.settimeout(0.05)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError, OSError):
                    server.accept()[0].close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def test_liveness_waits_for_a_service_to_come_back_and_says_when(lab_profile: Profile) -> None:
    late, never = _free_port(), _free_port()
    services = (
        Service(name="late", port=late, protocol="other"),
        Service(name="never", port=never, protocol="other"),
    )
    profile = lab_profile.model_copy(
        update={"network": Network(host=HOST, services=services), "serial": None}
    )
    transcript = Transcript("liveness")
    with listener_after(late, 0.6):
        alive = liveness.confirm(profile, LOOPBACK, transcript, recover_within_s=1.5)
    answers = {a.name: a for a in alive.answers}
    assert not answers["late"].alive
    assert answers["late"].back_after_s is not None
    assert 0.5 < answers["late"].back_after_s < 1.5
    assert answers["never"].back_after_s is None
    assert [a.name for a in alive.gone] == ["never"]
    assert alive.back_after_s is None
    assert "late DEAD" in alive.summary()
    assert "not back within 2s" in alive.summary()
    assert any("liveness late: back after" in i.note for i in transcript.items)


def test_a_crashed_sim_listener_refuses_then_listens_again_on_its_port() -> None:
    served: list[str] = []
    log = logging.getLogger("test-crash")
    listener = TcpListener(
        "crashy", bind(HOST, 0), lambda conn, peer: served.append(peer), log,
        max_connections=4, timeout=1.0,
    )  # fmt: skip
    listener.start()
    try:
        listener.crash(0.4)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, listener.port), timeout=1).close()
        time.sleep(0.6)
        socket.create_connection((HOST, listener.port), timeout=1).close()
    finally:
        listener.stop()


# --- the flood ------------------------------------------------------------------------------


def test_the_flood_is_capped_in_count_rate_and_time() -> None:
    with socket.create_server((HOST, 0), backlog=64) as server:
        port = server.getsockname()[1]
        rule = flood.FloodPlan(connections=10, rate=50, hold_s=0.1, connect_timeout_s=1)
        started = time.monotonic()
        run = flood.flood(LOOPBACK, HOST, port, rule, timeout=1,
                          transcript=Transcript("flood"), deadline=Deadline(30))  # fmt: skip
        elapsed = time.monotonic() - started
    assert (run.attempted, run.opened, run.failed) == (10, 10, 0)
    assert elapsed >= 9 / 50 + 0.1  # never faster than the rate allows
    assert run.held_s >= 0.1


def test_the_flood_touches_no_address_outside_the_scope() -> None:
    rule = flood.FloodPlan(connections=3, rate=100, hold_s=0.1, connect_timeout_s=1)
    with pytest.raises(OutOfScope):
        flood.flood(Scope.of(["192.0.2.0/24"]), HOST, 9, rule, timeout=1,
                    transcript=Transcript("flood"), deadline=Deadline(5))  # fmt: skip


def test_robust_policy_defaults_are_the_catalogue_values() -> None:
    policy = Policy()
    assert (policy.flood_connections, policy.flood_hold_s, policy.liveness_timeout_s) == (
        200, 10.0, 10.0,
    )  # fmt: skip
    assert (policy.slow_connections, policy.slow_interval_s) == (16, 5.0)
    assert policy.robust_stop_at_first_failure
    with pytest.raises(ValueError, match="less than or equal"):
        Policy(flood_hold_s=600)


@pytest.mark.parametrize(
    ("weaknesses", "crashes"), [(frozenset(), False), (frozenset({"W-16"}), True)]
)
def test_only_the_w16_console_dies_on_a_long_line_and_reboots(
    weaknesses: frozenset[str], crashes: bool
) -> None:
    firmware = FirmwareState(
        version="2.4.1", model="IP-100", hardware="1.0",
        trusted_key=Ed25519PrivateKey.generate().public_key(),
    )  # fmt: skip
    pump_console = SerialConsole(
        firmware=firmware, password="secret-pw", weaknesses=weaknesses,
        log=logging.getLogger("test-console"),
    )  # fmt: skip
    pump_console.start()
    try:
        with Console(
            LOOPBACK, pump_console.path, baudrate=115200, timeout=2, transcript=Transcript("c")
        ) as port:
            port.expect([re.compile(rb"login: $")], Deadline(2))  # the first boot log
            port.write(b"A" * 5000 + b"\r")
            index, seen = port.expect(
                [re.compile(rb"login: $"), re.compile(rb"Password: $")], Deadline(4)
            )
    finally:
        pump_console.stop()
    assert (b"U-Boot SPL" in seen) is crashes
    assert index == (0 if crashes else 1)  # hardened: the cut line is taken as a user name


def test_the_sim_ssh_server_takes_only_an_ssh_identification_line() -> None:
    for line, fine in (
        (b"SSH-2.0-medsec\r\n", True),
        (b"GET / HTTP/1.1\r\n", False),
        (b"SSH-2.0-" + b"A" * 300 + b"\r\n", False),
    ):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.sendall(line)
            assert identification_ok(ours) is fine, line


def test_liveness_also_watches_the_target_a_profile_does_not_list(
    lab_profile: Profile, tmp_path: Path
) -> None:
    bare = lab_profile.model_copy(update={"network": Network(host=HOST), "serial": None})
    steps = RobustSteps(bare, LOOPBACK, EvidenceRecorder(tmp_path, "ROBUST-002", "ssh", Redactor()))
    steps.watching("ssh", HOST, 2222, "ssh")
    steps.watching("ssh", HOST, 2222, "ssh")  # once is enough
    steps.watching("ssh", "192.0.2.7", 22, "ssh")  # another host: its cases watch it
    assert steps.watched.network is not None
    assert [(s.name, s.port) for s in steps.watched.network.services] == [("ssh", 2222)]
    assert bare.network is not None
    assert bare.network.services == ()
