"""TCP connections and the TCP connect scan."""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.core.deadline import Deadline
from harness.core.errors import DeviceTimeout, DeviceUnreachable
from harness.core.scope import Scope
from harness.core.transcript import Transcript

RECV_CHUNK = 65536


class TcpConnection:
    """A connected TCP socket with a timeout on every call and a transcript."""

    def __init__(self, sock: socket.socket, target: str, timeout: float, transcript: Transcript):
        self._sock = sock
        self.target = target
        self.timeout = timeout
        self.transcript = transcript

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
        raise DeviceUnreachable(target, f"connect failed: {exc.strerror or exc}") from None


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
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex((address, port))
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


def start_tls(conn: TcpConnection, server_name: str | None) -> str | None:
    """Run a TLS handshake on `conn` (in place) without verifying the server: the callers
    ask what the server does once connected, its certificate is judged elsewhere. The
    transcript then shows plaintext. Returns the TLS version agreed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn.transcript.event(f"TLS handshake (SNI {server_name or 'none'})")
    conn._sock.settimeout(conn.timeout)
    try:
        conn._sock = context.wrap_socket(conn._sock, server_hostname=server_name)
    except TimeoutError:
        raise DeviceTimeout(conn.target, "TLS handshake timed out") from None
    except ssl.SSLError as exc:
        raise DeviceUnreachable(conn.target, f"TLS handshake failed: {exc.reason or exc}") from None
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

    An ICMP port-unreachable (a refused connected UDP socket) ends the wait at once.
    """
    address = str(scope.resolve(host))
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    answers: list[bytes] = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, port))
        transcript.event(f"udp {address}:{port}")
        for payload in payloads:
            transcript.sent(payload)
            with contextlib.suppress(OSError):
                sock.send(payload)
        deadline = Deadline(timeout)
        while not deadline.expired:
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
