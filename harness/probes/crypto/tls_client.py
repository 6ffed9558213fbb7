"""The device as a TLS client (CRYPTO-012): the harness is the server it connects to.

The harness listens on `tls_client.listen` and answers each connection the device makes
with one certificate case in turn: a control signed by the CA the device trusts (when
the profile gives that test CA), then a certificate from an unknown CA, an expired one
and one for another name. A validating client completes the control and aborts every
other handshake without sending application data.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.core import certificates
from harness.core.transcript import Transcript
from harness.transports import net

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


def serve(
    listener: net.Listener,
    trial_cases: Sequence[Case],
    *,
    wait_s: float,
    timeout: float,
    transcript: Transcript,
) -> list[ClientTrial]:
    """Answer one device connection per case; DeviceTimeout if the device never comes."""
    trials = []
    for case in trial_cases:
        conn = listener.accept(
            wait_s, timeout=timeout, transcript=transcript, waiting_for=f"{case.name} case"
        )
        transcript.event(f"device connected from {conn.target}: serving {case.name}")
        started = time.monotonic()
        with conn:
            served = net.serve_tls(
                conn, case.cert_pem, case.key_pem, application_wait_s=APPLICATION_WAIT_S
            )
        trials.append(
            ClientTrial(
                case.name, case.should_accept, served.handshake_completed,
                served.application_data, served.detail, served.client_hello,
                time.monotonic() - started,
            )
        )  # fmt: skip
        transcript.event(trials[-1].summary())
    return trials
