"""Debug services found by the protocol they answer, whatever port they sit on (SURFACE-005).

Each open port is asked, one connection per question, until one answers: first what it
sends unasked (telnet option negotiation; OpenOCD's telnet console also names itself),
then a GDB remote `qSupported` packet, an ADB `CNXN` message and an OpenOCD Tcl
`version` command. None of these protocols greets, so a port that sends anything else
first speaks some other protocol and is not asked further. Nothing is changed on the
device: `qSupported` only lists the stub's features, `CNXN` only opens the ADB transport
(a device asks for its key before any shell), and `version` only prints one.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import net

ANSWER_WAIT_S = 1.0  # each of these protocols answers at once
MAX_ANSWER = 4096
MAX_PORTS = 128  # open ports asked; beyond, the survey is incomplete
CONCURRENT_PORTS = 8
WELL_KNOWN = {
    23: "telnet",
    5555: "adb",
    3333: "openocd-gdb",
    4444: "openocd-telnet",
    6666: "openocd-tcl",
}

GDB_QSUPPORTED = b"qSupported:multiprocess+;swbreak+;hwbreak+"
GDB_PACKET = re.compile(rb"^[+-]*\$([^#$]*)#([0-9a-fA-F]{2})")
ADB_CNXN, ADB_AUTH, ADB_STLS = 0x4E584E43, 0x48545541, 0x534C5453
ADB_VERSION, ADB_MAX_DATA = 0x01000000, 256 * 1024
ADB_BANNER = b"host::medsec\x00"
OPENOCD_TCL_END = b"\x1a"
OPENOCD_NAME = b"Open On-Chip Debugger"
TELNET_IAC = 0xFF


class Debug(str, enum.Enum):
    """The debug protocols SURFACE-005 looks for."""

    TELNET = "telnet"
    OPENOCD_TELNET = "OpenOCD telnet console"
    GDB = "GDB remote stub"
    ADB = "Android Debug Bridge"
    OPENOCD_TCL = "OpenOCD Tcl server"


@dataclass(frozen=True)
class PortAnswer:
    """What one open port turned out to be: a debug protocol, or not, and why."""

    port: int
    debug: Debug | None
    detail: str
    answer: bytes = b""
    error: DeviceError | None = None  # the port could not be asked to the end

    def summary(self) -> str:
        what = self.debug.value if self.debug else "no debug protocol"
        return f"{self.port}/tcp: {what} ({self.detail})"

    def record(self) -> dict[str, object]:
        return {
            "port": self.port,
            "debug": self.debug.value if self.debug else None,
            "detail": self.detail,
            "answer": self.answer.hex(),
            "error": str(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class DebugSurvey:
    """Every open port's answer; ports beyond MAX_PORTS are listed, not asked."""

    answers: tuple[PortAnswer, ...]
    not_asked: tuple[int, ...]
    transcripts: tuple[Transcript, ...] = field(default=(), compare=False, repr=False)

    @property
    def found(self) -> tuple[PortAnswer, ...]:
        return tuple(a for a in self.answers if a.debug is not None)

    @property
    def judged(self) -> dict[int, str]:
        """Debug ports, with what they speak: SURFACE-001 leaves them to SURFACE-005."""
        return {a.port: a.debug.value for a in self.answers if a.debug is not None}

    def raise_if_incomplete(self) -> None:
        """A port that could not be asked leaves the verdict undecided."""
        failed = [a for a in self.answers if a.error is not None]
        if failed and failed[0].error is not None:
            raise failed[0].error
        if self.not_asked:
            raise DeviceError(
                "debug survey", f"{len(self.not_asked)} open ports beyond {MAX_PORTS} not asked"
            )


def gdb_packet(payload: bytes) -> bytes:
    """A GDB remote serial protocol packet: `$payload#checksum`."""
    return b"$" + payload + b"#%02x" % (sum(payload) % 256)


def parse_gdb(answer: bytes) -> str | None:
    """The payload of a well-formed GDB packet at the start of `answer` (after acks)."""
    match = GDB_PACKET.match(answer)
    if match is None or int(match.group(2), 16) != sum(match.group(1)) % 256:
        return None
    return match.group(1).decode("ascii", "replace")


def adb_message(command: int, arg0: int, arg1: int, data: bytes) -> bytes:
    """An ADB message: six little-endian words (the data's checksum and the command's
    complement among them), then the data."""
    check = sum(data) & 0xFFFFFFFF
    header = struct.pack("<6I", command, arg0, arg1, len(data), check, command ^ 0xFFFFFFFF)
    return header + data


def parse_adb(answer: bytes) -> str | None:
    """`CNXN`, `AUTH` or `STLS` for an ADB message header at the start of `answer`."""
    if len(answer) < 24:
        return None
    command, arg0, _, _, _, magic = struct.unpack("<6I", answer[:24])
    if magic != command ^ 0xFFFFFFFF:
        return None
    names = {ADB_CNXN: "CNXN", ADB_AUTH: "AUTH", ADB_STLS: "STLS"}
    return f"{names[command]} (arg0 {arg0:#x})" if command in names else None


def parse_openocd_tcl(answer: bytes) -> str | None:
    """The reply to `version` of an OpenOCD Tcl server (terminated by 0x1a)."""
    if not answer.endswith(OPENOCD_TCL_END) and OPENOCD_NAME not in answer:
        return None
    return answer.rstrip(OPENOCD_TCL_END).decode("utf-8", "replace").strip()[:80]


def survey(scope: Scope, host: str, ports: Iterable[int], *, timeout: float) -> DebugSurvey:
    """Ask every port in `ports` (open ones), a few at a time, each in its own transcript."""
    asked = sorted(set(ports))[:MAX_PORTS]
    transcripts = [Transcript(f"debug protocols on {host}:{port}") for port in asked]
    with ThreadPoolExecutor(CONCURRENT_PORTS, thread_name_prefix="debug") as pool:
        answers = tuple(
            pool.map(
                lambda pair: identify(scope, host, pair[0], timeout, pair[1]),
                zip(asked, transcripts, strict=True),
            )
        )
    not_asked = tuple(sorted(set(ports))[MAX_PORTS:])
    return DebugSurvey(answers, not_asked, tuple(transcripts))


Question = tuple[str, bytes, Callable[[bytes], str | None], Debug]
QUESTIONS: tuple[Question, ...] = (
    ("GDB qSupported", gdb_packet(GDB_QSUPPORTED), parse_gdb, Debug.GDB),
    (
        "ADB CNXN",
        adb_message(ADB_CNXN, ADB_VERSION, ADB_MAX_DATA, ADB_BANNER),
        parse_adb,
        Debug.ADB,
    ),
    ("OpenOCD Tcl version", b"version" + OPENOCD_TCL_END, parse_openocd_tcl, Debug.OPENOCD_TCL),
)


def identify(
    scope: Scope, host: str, port: int, timeout: float, transcript: Transcript
) -> PortAnswer:
    """The greeting, then each question on a connection of its own, until one answers."""
    wait = min(timeout, ANSWER_WAIT_S)
    try:
        # The GDB question shares the greeting's connection: gdbserver serves one
        # connection and exits when it closes.
        conn = net.connect(scope, host, port, timeout=timeout, transcript=transcript)
        with conn:
            greeting = _read(conn, wait, _greeting_done)
            if greeting:
                return _greeted(port, greeting)
            found = _ask(conn, QUESTIONS[0], port, wait)
        for question in QUESTIONS[1:]:
            if found is not None:
                return found
            with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
                found = _ask(conn, question, port, wait)
    except DeviceError as exc:
        return PortAnswer(port, None, f"open at the scan, could not be asked: {exc}", error=exc)
    return found or PortAnswer(port, None, "silent to a greeting wait, GDB, ADB and OpenOCD Tcl")


def _ask(conn: net.TcpConnection, question: Question, port: int, wait: float) -> PortAnswer | None:
    """Send one question; the port's answer if it said anything, None for silence."""
    label, request, parse, debug = question
    conn.send(request, label)
    answer = _read(conn, wait, _answer_done)
    detail = parse(answer) if answer else None
    if detail is not None:
        return PortAnswer(port, debug, f"answered {label}: {detail[:120]}", answer)
    if answer:
        return PortAnswer(port, None, f"answered {label} with {_shown(answer)}", answer)
    return None


def _greeted(port: int, greeting: bytes) -> PortAnswer:
    if greeting[0] != TELNET_IAC:
        return PortAnswer(port, None, f"greets with {_shown(greeting)}", greeting)
    if OPENOCD_NAME in greeting:
        return PortAnswer(port, Debug.OPENOCD_TELNET, "greets as Open On-Chip Debugger", greeting)
    return PortAnswer(port, Debug.TELNET, "telnet option negotiation", greeting)


def _read(conn: net.TcpConnection, wait: float, done: Callable[[bytes], bool]) -> bytes:
    """What arrives within `wait`, until `done` says it is enough or the peer closes."""
    deadline = Deadline(wait)
    data = b""
    while len(data) < MAX_ANSWER and not deadline.expired:
        try:
            chunk = conn.recv(deadline.step(conn.timeout))
        except DeviceTimeout:
            break
        if not chunk:
            break
        data += chunk
        if done(data):
            break
    return data


def _greeting_done(data: bytes) -> bool:
    """A greeting other than telnet's is enough at once; telnet's once its text or
    prompt follows the option negotiation."""
    return data[0] != TELNET_IAC or OPENOCD_NAME in data or data.rstrip().endswith((b">", b":"))


def _answer_done(data: bytes) -> bool:
    """A whole GDB packet after any acks; any other answer at once."""
    stripped = data.lstrip(b"+-")
    if not stripped:
        return False
    return not stripped.startswith(b"$") or GDB_PACKET.match(data) is not None


def _shown(data: bytes) -> str:
    text = data[:24]
    printable = all(32 <= b < 127 or b in b"\r\n\t" for b in text)
    return repr(text.decode("ascii")) if printable else text.hex()
