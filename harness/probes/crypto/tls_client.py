"""The device as a TLS client (CRYPTO-012): the harness is the server it connects to.

The harness listens on `tls_client.listen` and answers each connection the device makes
with one certificate case in turn: a control signed by the CA the device trusts (when
the profile gives that test CA), then a certificate from an unknown CA, an expired one
and one for another name. A validating client completes the control and aborts every
other handshake without sending application data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.core import certificates
from harness.core.errors import DeviceTimeout
from harness.core.transcript import Transcript

WRONG_NAME = "wrong-name.invalid"
APPLICATION_WAIT_S = 1.0


@dataclass(frozen=True)
class Case:
    """One certificate the harness serves, and whether a validating client should accept it."""

    name: str
    cert_pem: bytes
    key_pem: bytes
    should_accept: bool
    note: str


@dataclass(frozen=True)
class ClientTrial:
    """What the device did with one case."""

    case: str
    should_accept: bool
    handshake_completed: bool
    application_data: bytes
    detail: str
    client_hello: bytes
    duration_s: float

    @property
    def refused(self) -> bool:
        return not self.handshake_completed and not self.application_data

    def summary(self) -> str:
        verdict = "completed the handshake" if self.handshake_completed else "aborted"
        data = f", sent {len(self.application_data)} bytes" if self.application_data else ""
        return f"{self.case}: {verdict}{data} ({self.detail})"


def cases(
    server_name: str | None,
    listen_host: str,
    trusted_ca: tuple[bytes, bytes] | None,
) -> list[Case]:
    """The certificates to serve, control first when the device's test CA is known."""
    name = server_name or listen_host
    now = dt.datetime.now(dt.timezone.utc)
    stranger = certificates.issue(
        key=certificates.Ec(), subject="medsec untrusted test CA", days=30, ca=True, path_length=0
    )
    signer: certificates.Issued[certificates.PrivateKey] = stranger
    found: list[Case] = []
    conclusive = trusted_ca is not None
    if trusted_ca is not None:
        ca_cert = x509.load_pem_x509_certificate(trusted_ca[0])
        loaded = serialization.load_pem_private_key(trusted_ca[1], None)
        signer = certificates.Issued(ca_cert, loaded)  # type: ignore[arg-type]
        found.append(_case("control", name, signer, now, True, "signed by the device's test CA"))
    found.append(_case("untrusted", name, stranger, now, False, "issuer unknown to the device"))
    extra = "" if conclusive else " (also untrusted: no tls_client.ca_key, so not conclusive alone)"
    found.append(
        _case("expired", name, signer, now - dt.timedelta(days=400), False,
              "validity ended more than a month ago" + extra)
    )  # fmt: skip
    found.append(
        _case("wrong-name", WRONG_NAME, signer, now, False,
              f"names {WRONG_NAME} instead of {name}" + extra)
    )  # fmt: skip
    return found


def _case(
    case: str,
    name: str,
    issuer: certificates.Issued[certificates.PrivateKey],
    start: dt.datetime,
    should_accept: bool,
    note: str,
) -> Case:
    try:
        ip_addresses, dns_names = [str(ipaddress.ip_address(name))], []
    except ValueError:
        ip_addresses, dns_names = [], [name]
    leaf = certificates.issue(
        key=certificates.Ec(),
        subject=name,
        issuer=issuer,
        not_before=start - dt.timedelta(days=1),
        not_after=start + dt.timedelta(days=364),
        ip_addresses=ip_addresses,
        dns_names=dns_names,
    )
    return Case(
        case, leaf.certificate_pem + issuer.certificate_pem, leaf.key_pem, should_accept, note
    )


@contextlib.contextmanager
def listening(address: tuple[str, int]) -> Iterator[socket.socket]:
    """The harness's listening socket at the address the device connects to."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(4)
        yield sock
    finally:
        sock.close()


def serve(
    listener: socket.socket,
    trial_cases: Sequence[Case],
    *,
    wait_s: float,
    timeout: float,
    transcript: Transcript,
) -> list[ClientTrial]:
    """Answer one device connection per case; DeviceTimeout if the device never comes."""
    trials = []
    target = "{}:{}".format(*listener.getsockname()[:2])
    with tempfile.TemporaryDirectory(prefix="medsec-tls-client-") as folder:
        for case in trial_cases:
            context = _context(Path(folder), case)
            listener.settimeout(wait_s)
            transcript.event(f"waiting up to {wait_s:.0f}s for the device ({case.name} case)")
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                raise DeviceTimeout(
                    target, f"the device did not connect within {wait_s:.0f}s ({case.name} case)"
                ) from None
            transcript.event(f"device connected from {peer[0]}:{peer[1]}: serving {case.name}")
            with conn:
                trials.append(_one(conn, context, case, timeout, transcript))
            transcript.event(trials[-1].summary())
    return trials


def _context(folder: Path, case: Case) -> ssl.SSLContext:
    cert, key = folder / f"{case.name}.pem", folder / f"{case.name}.key"
    cert.write_bytes(case.cert_pem)
    key.write_bytes(case.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _one(
    conn: socket.socket, context: ssl.SSLContext, case: Case, timeout: float, transcript: Transcript
) -> ClientTrial:
    started = time.monotonic()
    conn.settimeout(timeout)
    hello = b""
    with contextlib.suppress(OSError):
        hello = conn.recv(16384, socket.MSG_PEEK)
    transcript.received(hello, "the device's ClientHello")
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        detail = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        return ClientTrial(case.name, case.should_accept, False, b"", f"handshake failed: {detail}",
                           hello, time.monotonic() - started)  # fmt: skip
    data = b""
    tls.settimeout(APPLICATION_WAIT_S)
    with contextlib.suppress(OSError, TimeoutError):
        data = tls.recv(4096)
    if data:
        transcript.received(data, "application data from the device")
    cipher = tls.cipher()
    detail = f"{tls.version()} {cipher[0] if cipher else ''}".strip()
    with contextlib.suppress(OSError):
        tls.close()
    return ClientTrial(
        case.name, case.should_accept, True, data, detail, hello, time.monotonic() - started
    )
