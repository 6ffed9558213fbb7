"""TCP connections, the TCP connect scan, UDP exchanges and the UDP sweep."""

from __future__ import annotations

import collections
import contextlib
import errno
import ipaddress
import selectors
import socket
import ssl
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable, NotConnected
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import tls_context

RECV_CHUNK = 65536
SOCK_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)  # one system call less per probe (Linux)


class TcpConnection:
    """A connected TCP socket with a timeout on every call and a transcript."""

    def __init__(self, sock: socket.socket, target: str, timeout: float, transcript: Transcript):
        self._sock = sock
        self.target = target
        self.timeout = timeout
        self.transcript = transcript

    @property
    def tls(self) -> bool:
        """Whether a TLS session runs on the connection (`start_tls`)."""
        return isinstance(self._sock, ssl.SSLSocket)

    def send(self, data: bytes, note: str = "") -> None:
        self.transcript.sent(data, note)
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise DeviceTimeout(self.target, f"send of {len(data)} bytes timed out") from None
        except OSError as exc:
            raise DeviceUnreachable(self.target, f"send failed: {exc}") from None

    def send_secret(self, data: bytes, shown: str) -> None:
        """Send a secret: the transcript records `shown`, never the bytes."""
        self.transcript.send_secret(shown)
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise DeviceTimeout(self.target, "send timed out") from None
        except OSError as exc:
            raise DeviceUnreachable(self.target, f"send failed: {exc}") from None

    def recv(self, timeout: float | None = None) -> bytes:
        """Up to one chunk; b"" when the peer closed. DeviceTimeout when nothing came."""
        self._sock.settimeout(self.timeout if timeout is None else max(timeout, 0.001))
        try:
            data = self._sock.recv(RECV_CHUNK)
        except TimeoutError:
            raise DeviceTimeout(self.target, "no answer before the timeout") from None
        except ConnectionResetError:
            self.transcript.event("connection reset by peer")
            return b""
        except ssl.SSLError as exc:  # TLS 1.3: a refused client certificate comes only now
            failure = TlsRefused if spoke_tls(exc) else DeviceUnreachable
            raise failure(self.target, f"receive failed: {exc}") from None
        except OSError as exc:
            raise DeviceUnreachable(self.target, f"receive failed: {exc}") from None
        if data:
            self.transcript.received(data)
        else:
            self.transcript.event("peer closed the connection")
        return data

    def recv_until(self, done: Callable[[bytes], bool], deadline: Deadline, limit: int) -> bytes:
        """Read until `done(buffer)`, the peer closes, or `limit` bytes; timeout is an error."""
        buffer = b""
        while not done(buffer) and len(buffer) < limit:
            if deadline.expired:
                raise DeviceTimeout(self.target, f"incomplete answer after {len(buffer)} bytes")
            chunk = self.recv(deadline.step(self.timeout))
            if not chunk:
                break
            buffer += chunk
        return buffer

    def shutdown_write(self) -> None:
        """Half-close a plain (not TLS) connection: the peer reads the end of the stream at
        once instead of waiting for more, and can still answer."""
        self.transcript.event("half-close: nothing more will be sent")
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> TcpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tcp_socket(
    scope: Scope,
    host: str,
    port: int,
    *,
    timeout: float,
    transcript: Transcript,
    label: str = "connect",
    purpose: str = "",
) -> socket.socket:
    """A socket connected to an in-scope address (checked before any packet), the connect
    recorded as `label address:port purpose`; for transports that wrap the socket."""
    address = scope.resolve(host)
    target = f"{host}:{port}"
    transcript.event(f"{label} {address}:{port}" + (f" {purpose}" if purpose else ""))
    try:
        return socket.create_connection((str(address), port), timeout=timeout)
    except TimeoutError:
        raise DeviceTimeout(target, "connect timed out") from None
    except OSError as exc:
        raise NotConnected(target, f"connect failed: {exc.strerror or exc}") from None


def connect(
    scope: Scope,
    host: str,
    port: int,
    *,
    timeout: float,
    connect_timeout: float | None = None,
    transcript: Transcript | None = None,
) -> TcpConnection:
    """Open a TCP connection to an in-scope address (checked before any packet)."""
    target = f"{host}:{port}"
    transcript = transcript or Transcript(f"tcp {target}")
    sock = tcp_socket(scope, host, port, timeout=connect_timeout or timeout, transcript=transcript)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return TcpConnection(sock, target, timeout, transcript)


@dataclass(frozen=True)
class ScanResult:
    """Outcome of a TCP connect scan: which ports accepted, refused or stayed silent."""

    host: str
    address: str
    ports_scanned: int
    open: tuple[int, ...]
    filtered: tuple[int, ...]
    duration_s: float


def scan_tcp(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    *,
    concurrency: int,
    connect_timeout: float,
    deadline: Deadline,
) -> ScanResult:
    """Non-blocking connect scan with at most `concurrency` connections in flight.

    A port is open when the handshake completes to a peer other than ourselves
    (on loopback a connect to our own ephemeral port can "succeed" by self-connect).
    Ports still silent after `connect_timeout` are filtered.
    """
    address = str(scope.resolve(host))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    todo = iter(sorted(set(ports)))
    scanned = 0
    open_ports: list[int] = []
    filtered: list[int] = []
    pending: dict[socket.socket, tuple[int, float]] = {}
    started = time.monotonic()
    with selectors.DefaultSelector() as selector:

        def launch() -> None:
            nonlocal scanned
            while len(pending) < concurrency:
                port = next(todo, None)
                if port is None:
                    return
                scanned += 1
                sock = socket.socket(family, socket.SOCK_STREAM | SOCK_NONBLOCK)
                sock.setblocking(False)  # a no-op where SOCK_NONBLOCK already made it so
                code = sock.connect_ex((address, port))
                if code == errno.EINPROGRESS:
                    # Refused already (loopback, a host next door: the RST came back within
                    # the call): closed, and never handed to the selector.
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or code
                if code in (0, errno.EINPROGRESS):
                    pending[sock] = (port, time.monotonic())
                    selector.register(sock, selectors.EVENT_WRITE)
                else:
                    sock.close()

        launch()
        while pending:
            if deadline.expired:
                raise DeviceTimeout(f"{host} tcp scan", f"scan budget spent after {scanned} ports")
            for key, _ in selector.select(timeout=min(0.2, connect_timeout)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                port, _ = pending.pop(sock)
                selector.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and not _self_connected(
                    sock
                ):
                    open_ports.append(port)
                sock.close()
            now = time.monotonic()
            for sock, (port, began) in list(pending.items()):
                if now - began > connect_timeout:
                    filtered.append(port)
                    del pending[sock]
                    selector.unregister(sock)
                    sock.close()
            launch()
    return ScanResult(
        host=host,
        address=address,
        ports_scanned=scanned,
        open=tuple(sorted(open_ports)),
        filtered=tuple(sorted(filtered)),
        duration_s=time.monotonic() - started,
    )


def _self_connected(sock: socket.socket) -> bool:
    try:
        return bool(sock.getsockname() == sock.getpeername())
    except OSError:
        return True  # not connected after all


def parse_port_ranges(spec: str) -> list[int]:
    """`"1-1024,8080"` -> the ports, bounded to 1..65535."""
    ports: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        ports.extend(range(max(first, 1), min(last, 65535) + 1))
    return ports


class TlsRefused(DeviceUnreachable):
    """The peer speaks TLS, but the handshake did not finish: it sent an alert (it wants a
    client certificate, no version or suite in common), or its hello offered what our
    client refuses (a 1024-bit DH group)."""


# OpenSSL's reasons for a failure after the peer's hello, which only a TLS peer sends.
# Alerts are recognised by name; a cleartext peer gives WRONG_VERSION_NUMBER and the like.
_REFUSED_HELLO = frozenset(
    {
        "DH_KEY_TOO_SMALL", "EE_KEY_TOO_SMALL", "CA_KEY_TOO_SMALL", "CA_MD_TOO_WEAK",
        "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "WRONG_SIGNATURE_TYPE",
        "WRONG_CURVE", "BAD_ECPOINT", "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
        "LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED", "NO_SUITABLE_SIGNATURE_ALGORITHM",
    }
)  # fmt: skip


def spoke_tls(error: ssl.SSLError) -> bool:
    """Whether a failed handshake's error shows the peer speaking TLS."""
    reason = error.reason or ""
    return "ALERT" in reason or reason in _REFUSED_HELLO


def start_tls(conn: TcpConnection, server_name: str | None) -> str | None:
    """Run a TLS handshake on `conn` (in place) without verifying the server: the callers
    ask what the server does once connected, its certificate is judged elsewhere. The
    transcript then shows plaintext. Returns the TLS version agreed."""
    context = tls_context.unverified()
    conn.transcript.event(f"TLS handshake (SNI {server_name or 'none'})")
    conn._sock.settimeout(conn.timeout)
    try:
        conn._sock = context.wrap_socket(conn._sock, server_hostname=server_name)
    except TimeoutError:
        raise DeviceTimeout(conn.target, "TLS handshake timed out") from None
    except ssl.SSLError as exc:
        failure = TlsRefused if spoke_tls(exc) else DeviceUnreachable
        raise failure(conn.target, f"TLS handshake failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise DeviceUnreachable(conn.target, f"TLS handshake failed: {exc}") from None
    version = conn._sock.version() if isinstance(conn._sock, ssl.SSLSocket) else None
    conn.transcript.event(f"TLS established: {version}")
    return version


class Listener:
    """A listening TCP socket the device connects to: the harness as a server."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.address = "{}:{}".format(*sock.getsockname()[:2])

    def accept(
        self, wait_s: float, *, timeout: float, transcript: Transcript, waiting_for: str
    ) -> TcpConnection:
        """The next connection (its target is the peer); DeviceTimeout if none comes."""
        self._sock.settimeout(wait_s)
        transcript.event(f"waiting up to {wait_s:.0f}s for the device ({waiting_for})")
        try:
            sock, peer = self._sock.accept()
        except TimeoutError:
            raise DeviceTimeout(
                self.address, f"the device did not connect within {wait_s:.0f}s ({waiting_for})"
            ) from None
        return TcpConnection(sock, "{}:{}".format(*peer[:2]), timeout, transcript)


@contextlib.contextmanager
def listen(address: tuple[str, int]) -> Iterator[Listener]:
    """Listen at the address the device connects to, for as long as the block runs."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(4)
        yield Listener(sock)
    finally:
        sock.close()


@dataclass(frozen=True)
class TlsServed:
    """What a TLS client did on a connection the harness served with one certificate."""

    client_hello: bytes  # the first bytes the client sent, as sent
    handshake_completed: bool
    detail: str  # the version and suite, or why the handshake failed
    application_data: bytes  # what the client sent once the handshake completed


def serve_tls(
    conn: TcpConnection, cert_pem: bytes, key_pem: bytes, *, application_wait_s: float
) -> TlsServed:
    """Answer the client on `conn` as a TLS server with this certificate chain and key, then
    read what it sends within `application_wait_s`; a refused handshake is a finding."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="medsec-tls-server-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    sock = conn._sock
    sock.settimeout(conn.timeout)
    hello = b""
    with contextlib.suppress(OSError):
        hello = sock.recv(16384, socket.MSG_PEEK)
    conn.transcript.received(hello, "the device's ClientHello")
    try:
        tls = context.wrap_socket(sock, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        detail = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return TlsServed(hello, False, f"handshake failed: {detail}", b"")
    data = b""
    tls.settimeout(application_wait_s)
    with contextlib.suppress(OSError, TimeoutError):
        data = tls.recv(4096)
    if data:
        conn.transcript.received(data, "application data from the device")
    cipher = tls.cipher()
    detail = f"{tls.version()} {cipher[0] if cipher else ''}".strip()
    with contextlib.suppress(OSError):
        tls.close()
    return TlsServed(hello, True, detail, data)


def udp_query(
    scope: Scope,
    host: str,
    port: int,
    payloads: Iterable[bytes],
    *,
    timeout: float,
    transcript: Transcript,
) -> list[bytes]:
    """Send each datagram to an in-scope address; every datagram answered within `timeout`.

    The wait ends at once on an ICMP port-unreachable (a refused connected UDP socket),
    and as soon as there are as many answers as datagrams sent.
    """
    address = str(scope.resolve(host))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    answers: list[bytes] = []
    sent = list(payloads)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        transcript.event(f"udp {address}:{port}")
        for payload in sent:
            transcript.sent(payload)
            with contextlib.suppress(OSError):
                sock.send(payload)
        deadline = Deadline(timeout)
        while not deadline.expired and len(answers) < len(sent):
            sock.settimeout(max(deadline.remaining, 0.001))
            try:
                data = sock.recv(RECV_CHUNK)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                transcript.event("port unreachable")
                break
            except OSError as exc:
                transcript.event(f"receive failed: {exc}")
                break
            transcript.received(data)
            answers.append(data)
    return answers


def tls_handshake(
    scope: Scope, host: str, port: int, *, timeout: float, transcript: Transcript
) -> str:
    """Connect and complete a TLS handshake, judging no certificate; the TLS version agreed.

    For "does it still answer": whether the certificate deserves trust is CRYPTO's question.
    """
    with connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        return str(start_tls(conn, None))


# --- the UDP sweep -----------------------------------------------------------------------------

# Linux's per-socket ICMP errors (<linux/in.h>, <linux/in6.h>, <linux/errqueue.h>); Python does
# not name these. Unprivileged, and exact: each error belongs to the socket that sent the datagram.
IP_RECVERR, IPV6_RECVERR = 11, 25
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
PORT_UNREACHABLE = {socket.AF_INET: (3, 3), socket.AF_INET6: (1, 4)}  # ICMP type, code
ICMP_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}
)
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # sock_extended_err, then the offender's sockaddr
UDP_KEPT_DATAGRAMS = 4  # per port
UDP_KEPT_BYTES = 8192  # per datagram; a longer one is kept cut, its length recorded
UDP_KEPT_PORTS = 256  # answering ports whose datagrams are kept; more are only counted
UDP_ANSWER_GRACE_S = 0.1  # after a first answer, how long more datagrams are awaited
UDP_READS_PER_WAKE = 16  # datagrams read from one socket before the others get a turn
UDP_NOTED_ICMP = 32  # ICMP errors other than port-unreachable written to the transcript


@dataclass(frozen=True)
class IcmpError:
    """An ICMP error the kernel matched to one of our datagrams."""

    type: int
    code: int
    sender: str

    def describe(self) -> str:
        return f"ICMP type {self.type} code {self.code} from {self.sender}"


@dataclass(frozen=True)
class UdpDatagram:
    """One datagram from the target (its first `UDP_KEPT_BYTES`) and where it came from."""

    source_port: int
    data: bytes
    length: int


@dataclass(frozen=True)
class UdpPort:
    """A port that answered (its datagrams), or was refused with an ICMP error other than
    port-unreachable (filtered on the way). A silent port is a number; a closed one a count."""

    port: int
    datagrams: tuple[UdpDatagram, ...] = ()
    icmp: IcmpError | None = None


@dataclass(frozen=True)
class UdpScanResult:
    """One round of the UDP sweep: every port that did not refuse, and how many did."""

    host: str
    address: str
    ports_scanned: int
    answered: tuple[UdpPort, ...]
    unreachable: tuple[UdpPort, ...]
    silent: tuple[int, ...]
    refused: int
    duration_s: float
    icmp_readable: bool  # False where the system has no per-socket ICMP error queue


def scan_udp(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    payloads: Callable[[int], Sequence[bytes]],
    *,
    concurrency: int,
    wait: float,
    deadline: Deadline,
    transcript: Transcript,
) -> UdpScanResult:
    """Send each port its `payloads` from a socket of its own, at most `concurrency` ports in
    flight, and wait up to `wait` for an answer from any port of the target (TFTP and many
    SSDP servers answer from another one) or an ICMP error, which Linux reports on the socket
    that sent the datagram (`IP_RECVERR`, no privilege needed): port unreachable as
    ECONNREFUSED, the others with type, code and sender in its error queue. Every payload
    and answer is transcribed, except the empty datagrams, which are counted.
    """
    address = scope.resolve(host)
    sweep = _UdpSweep(address, payloads, wait, transcript)
    with selectors.DefaultSelector() as selector:
        sweep.run(sorted(set(ports)), selector, concurrency, deadline, host)
    transcript.event(
        f"udp {address}: {sweep.scanned} ports ({sweep.empty_sent} empty datagrams not shown), "
        f"answered {sorted(sweep.answered)}, refused {sweep.refused}, "
        f"other ICMP {len(sweep.unreachable)}, silent {len(sweep.silent)}"
    )
    return UdpScanResult(
        host=host,
        address=str(address),
        ports_scanned=sweep.scanned,
        answered=tuple(UdpPort(p, tuple(sweep.answered[p])) for p in sorted(sweep.answered)),
        unreachable=tuple(sorted(sweep.unreachable, key=lambda u: u.port)),
        silent=tuple(sorted(sweep.silent)),
        refused=sweep.refused,
        duration_s=time.monotonic() - sweep.started,
        icmp_readable=sweep.icmp_readable,
    )


@dataclass
class _Probe:
    """One port in flight, and when its wait ends."""

    port: int
    ends: float


@dataclass(frozen=True)
class _QueuedError:
    """One ICMP error from a socket's error queue, and the port of the datagram it answers."""

    errno: int
    icmp: IcmpError
    port: int


class _UdpSweep:
    """The state of one `scan_udp` round: the probes in flight and what each port did.

    A socket whose port was refused (a closed port: most of a sweep) asks the next port:
    each ICMP error names the port of the datagram it answers, so one left over from the
    socket's earlier port is told apart, and a datagram from a port the socket asked before
    is not taken for the current port's answer. Any other ending closes the socket. In a
    sweep of our own address, a port one of our sockets holds waits until that socket is
    spare, which is then closed to free it.
    """

    def __init__(
        self,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        payloads: Callable[[int], Sequence[bytes]],
        wait: float,
        transcript: Transcript,
    ) -> None:
        self.payloads, self.wait, self.transcript = payloads, wait, transcript
        self.family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        self.destination = str(address)
        self.peer = ipaddress.ip_address(self.destination.split("%", 1)[0])  # as recvfrom says
        self.source = _route_source(self.family, str(address))
        # Only a sweep of our own address can reach our own probe sockets (bound to `source`).
        self.own_address = self.source in ("", str(self.peer))
        self.icmp_readable = True  # until a socket refuses IP_RECVERR (not Linux)
        self.reuse = True  # until an ICMP error comes without its datagram's port
        self.scanned = self.empty_sent = self.refused = 0
        self.answered: dict[int, list[UdpDatagram]] = {}
        self.unreachable: list[UdpPort] = []
        self.silent: list[int] = []
        self.pending: dict[socket.socket, _Probe] = {}
        self.spare: set[socket.socket] = set()  # refused, still open: they ask the next ports
        self.local_port: dict[socket.socket, int] = {}  # every open probe socket's own port
        self.asked_by: dict[socket.socket, set[int]] = {}  # ports each open socket asked before
        self.holders: dict[int, socket.socket] = {}  # our address's ports our sockets hold
        self.collided: set[int] = set()  # ports a datagram of ours reached our own socket on
        self.asked_again: set[int] = set()
        self.started = time.monotonic()

    def run(
        self,
        ports: list[int],
        selector: selectors.BaseSelector,
        concurrency: int,
        deadline: Deadline,
        host: str,
    ) -> None:
        todo = collections.deque(ports)
        try:
            self._launch(todo, selector, concurrency)
            while self.pending:
                if deadline.expired:
                    raise DeviceTimeout(
                        f"{host} udp scan", f"budget spent after {self.scanned} ports"
                    )
                for key, _ in selector.select(timeout=min(0.05, self.wait)):
                    assert isinstance(key.fileobj, socket.socket)
                    self._read(key.fileobj, selector)
                now = time.monotonic()
                for sock, probe in list(self.pending.items()):
                    if now >= probe.ends:
                        if probe.port in self.collided and probe.port not in self.asked_again:
                            self.asked_again.add(probe.port)  # our own datagram took its place
                            todo.append(probe.port)
                        elif probe.port not in self.answered:
                            self.silent.append(probe.port)
                        self.collided.discard(probe.port)
                        self._close(sock, selector)
                self._launch(todo, selector, concurrency)
        finally:
            for sock in [*self.pending, *self.spare]:
                self._close(sock, selector)

    def _launch(
        self, todo: collections.deque[int], selector: selectors.BaseSelector, concurrency: int
    ) -> None:
        put_back = 0
        while len(self.pending) < concurrency and put_back < len(todo):
            port = todo.popleft()
            holder = self.holders.get(port)
            if holder in self.spare:
                self._close(holder, selector)
            elif holder is not None:  # asking another port: this one waits
                todo.append(port)
                put_back += 1
                continue
            self.scanned += port not in self.asked_again
            sock = self.spare.pop() if self.spare else self._probe_socket(selector)
            for payload in self.payloads(port):
                if payload:
                    self.transcript.sent(payload, f"to {port}/udp")
                else:
                    self.empty_sent += 1
                self._send(sock, payload, port)
            self.pending[sock] = _Probe(port, time.monotonic() + self.wait)

    def _send(self, sock: socket.socket, payload: bytes, port: int) -> None:
        # Linux fails a send with the error an earlier datagram drew (its ICMP already
        # queued, a multi-datagram port refusing the first) and sends nothing: send again.
        for _ in range(2):
            try:
                sock.sendto(payload, (self.destination, port))
                return
            except OSError as exc:
                if exc.errno not in ICMP_ERRNOS:
                    return

    def _probe_socket(self, selector: selectors.BaseSelector) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM | SOCK_NONBLOCK)
        sock.setblocking(False)  # a no-op where SOCK_NONBLOCK already made it so
        if self.icmp_readable:
            level, option = (
                (socket.IPPROTO_IPV6, IPV6_RECVERR)
                if self.family == socket.AF_INET6
                else (socket.IPPROTO_IP, IP_RECVERR)
            )
            try:
                sock.setsockopt(level, option, 1)
            except OSError:
                self.icmp_readable = False
        sock.bind((self.source, 0))
        local_port = sock.getsockname()[1] if self.own_address else 0
        self.local_port[sock], self.asked_by[sock] = local_port, set()
        if local_port:
            self.holders[local_port] = sock
        selector.register(sock, selectors.EVENT_READ)
        return sock

    def _read(self, sock: socket.socket, selector: selectors.BaseSelector) -> None:
        probe = self.pending.get(sock)
        if probe is None:  # a spare socket: what it read belonged to its earlier ports
            self._errors(sock, None)
            self._drain(sock, None)
            return
        mine = self._errors(sock, probe.port)
        refused = mine is not None and mine.errno == errno.ECONNREFUSED
        if not refused or self.own_address:  # where a datagram of ours may wait too
            self._drain(sock, probe)
        if probe.port in self.answered:  # wait a little for the rest of the answer, no longer
            probe.ends = min(probe.ends, time.monotonic() + UDP_ANSWER_GRACE_S)
        elif refused:  # the kernel's word for ICMP port unreachable
            self.refused += 1
            if self.reuse:
                self._recycle(sock)
            else:
                self._close(sock, selector)
        elif mine is not None:
            icmp = mine.icmp
            self.unreachable.append(UdpPort(probe.port, icmp=icmp))
            if len(self.unreachable) <= UDP_NOTED_ICMP:
                self.transcript.event(f"{probe.port}/udp: {icmp.describe()}")
            self._close(sock, selector)

    def _errors(self, sock: socket.socket, port: int | None) -> _QueuedError | None:
        """The first ICMP error queued on `sock` for a datagram to `port`, those before it
        (left from the socket's earlier ports) read and dropped. Reading one also clears
        the error a plain receive would report, which names no port; what stays queued
        wakes the selector again."""
        for _ in range(UDP_READS_PER_WAKE):
            error = _queued_error(sock, self.family)
            if error is not None and error.port < 0:  # the kernel named no port: trust the
                self.reuse = False  # socket's own port alone, one port per socket from now on
                return error if port is not None else None
            if error is None or error.port == port:
                return error
        return None

    def _drain(self, sock: socket.socket, probe: _Probe | None) -> None:
        """Read the datagrams waiting on `sock`: those from the target are kept as answers
        to `probe` (one from a probe socket of ours, in a sweep of our own address, only
        notes a collision; one from a port this socket asked before is a late answer to
        that port, noted only)."""
        asked_before = self.asked_by[sock]
        for _ in range(UDP_READS_PER_WAKE):  # a flood cannot keep us on one socket
            try:
                data, peer = sock.recvfrom(RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in ICMP_ERRNOS:
                    continue  # its error queue says which port (see `_errors`)
                self.transcript.event(f"{_port_of(probe)}/udp: receive failed: {exc}")
                break
            if ipaddress.ip_address(peer[0].split("%", 1)[0]) != self.peer:
                continue
            if peer[1] in self.holders:
                self.collided.add(self.local_port[sock])
                continue
            if probe is None or peer[1] in asked_before:
                self.transcript.event(f"{peer[1]}/udp: a datagram after its port was refused")
                continue
            self.transcript.received(data[:UDP_KEPT_BYTES], f"from {peer[1]}/udp")
            kept = self.answered.setdefault(probe.port, [])
            if len(kept) < UDP_KEPT_DATAGRAMS and len(self.answered) <= UDP_KEPT_PORTS:
                kept.append(UdpDatagram(peer[1], data[:UDP_KEPT_BYTES], len(data)))

    def _recycle(self, sock: socket.socket) -> None:
        self.asked_by[sock].add(self.pending.pop(sock).port)
        self.spare.add(sock)

    def _close(self, sock: socket.socket, selector: selectors.BaseSelector) -> None:
        self.pending.pop(sock, None)
        self.spare.discard(sock)
        self.holders.pop(self.local_port.pop(sock), None)
        del self.asked_by[sock]
        selector.unregister(sock)
        sock.close()


def _port_of(probe: _Probe | None) -> str:
    return "?" if probe is None else str(probe.port)


def _route_source(family: int, address: str) -> str:
    """The local address the kernel sends from to `address`: probe sockets bind it, so a
    sweep of one of our own addresses does not reach our own probe sockets' ports."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((address, 9))
        except OSError:
            return ""  # no route: let the kernel choose, and the sends say why
        return str(sock.getsockname()[0])


def _queued_error(sock: socket.socket, family: int) -> _QueuedError | None:
    """The next ICMP error queued on `sock`: its errno, type, code and sender, and the
    destination port of the datagram that drew it (the error queue's address)."""
    for _ in range(UDP_READS_PER_WAKE):  # skip what is not ICMP (timestamps, local errors)
        try:
            _, ancillary, _, destination = sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
        except OSError:  # nothing queued (BlockingIOError) or no error queue
            return None
        for _, _, data in ancillary:
            if len(data) < _EXTENDED_ERR.size:
                continue
            number, origin, kind, code, _, _, _ = _EXTENDED_ERR.unpack_from(data)
            if origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                sender = _sockaddr_host(family, data[_EXTENDED_ERR.size :])
                port = destination[1] if isinstance(destination, tuple) else -1
                return _QueuedError(number, IcmpError(kind, code, sender), port)
    return None


def _sockaddr_host(family: int, sockaddr: bytes) -> str:
    """The address in a raw `sockaddr_in` / `sockaddr_in6`, or "?" when cut short."""
    with contextlib.suppress(ValueError, OSError):
        if family == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, sockaddr[8:24])
        return socket.inet_ntop(socket.AF_INET, sockaddr[4:8])
    return "?"
