"""Whether a port speaks TLS, which versions it accepts, and the certificate it shows.

A first ClientHello for TLS 1.2 (`tls.probe_version`; TLS 1.3 when that one is closed
without a word) decides whether the port speaks TLS at all: any TLS answer (a ServerHello
for some version, an alert) does; a close, silence or other bytes do not, and nothing
more is sent. A TLS port is then asked every other version, one hello each, and one more
handshake reads the leaf certificate (in the clear up to TLS 1.2, decrypted from the
handshake when only TLS 1.3 is accepted).
Nothing is judged here: the CRYPTO checks do that with the profile's policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import certs, tls, tls_full, tls_wire
from harness.probes.crypto.tls import HelloOutcome, HelloResult
from harness.probes.crypto.tls_suites import TlsVersion

FIRST_HELLO_WAIT_S = 5.0  # a port that does not answer a ClientHello by then is not TLS
FIRST_VERSIONS = (TlsVersion.TLS1_2, TlsVersion.TLS1_3)  # what a TLS port speaks today


@dataclass(frozen=True)
class TlsIdentity:
    """The versions a TLS port accepted and refused, and its leaf certificate."""

    hellos: tuple[HelloResult, ...]
    certificate: certs.CertInfo | None
    note: str = ""  # why a version or the certificate could not be read

    @property
    def accepted(self) -> tuple[TlsVersion, ...]:
        return tuple(sorted(h.offered for h in self.hellos if h.accepted))

    @property
    def versions(self) -> str:
        return ", ".join(v.label for v in self.accepted) or "no version accepted"

    def describe(self) -> str:
        versions = self.versions
        leaf = self.certificate
        if leaf is None:
            return f"{versions}; no certificate read" + (f" ({self.note})" if self.note else "")
        names = ", ".join((*leaf.dns_names, *leaf.ip_addresses)) or "no SAN"
        signer = "self-signed" if leaf.self_signed else f"issued by {leaf.issuer}"
        return (
            f"{versions}; certificate {leaf.subject} ({names}), {signer}, "
            f"valid until {leaf.not_after:%Y-%m-%d}"
        )


def identify(
    scope: Scope,
    host: str,
    port: int,
    *,
    timeout: float,
    server_name: str | None,
    transcript: Transcript,
) -> TlsIdentity | None:
    """The port's TLS identity, or None when it does not answer a ClientHello in TLS."""

    def hello(version: TlsVersion, wait: float) -> HelloResult:
        return tls.probe_version(
            scope, host, port, version, timeout=wait, server_name=server_name,
            transcript=transcript,
        )  # fmt: skip

    hellos: list[HelloResult] = []
    for version in FIRST_VERSIONS:  # a server may close on a version it does not speak
        try:
            hellos.append(hello(version, min(timeout, FIRST_HELLO_WAIT_S)))
        except DeviceError as exc:
            transcript.event(f"port {port} does not answer TLS: {exc}")
            return None
        if hellos[-1].outcome is not HelloOutcome.CLOSED:
            break
    else:
        return None
    faults: list[str] = []
    for version in TlsVersion:
        if version not in (h.offered for h in hellos):
            try:
                hellos.append(hello(version, timeout))
            except DeviceError as exc:
                faults.append(f"{version.label}: {exc}")
    accepted = tuple(h.offered for h in hellos if h.accepted)
    leaf = None
    try:
        leaf = _leaf(scope, host, port, accepted, timeout, server_name, transcript)
    except (DeviceError, certs.MalformedCertificate) as exc:
        faults.append(f"certificate: {exc}")
    return TlsIdentity(tuple(hellos), leaf, "; ".join(faults))


def _leaf(
    scope: Scope,
    host: str,
    port: int,
    accepted: tuple[TlsVersion, ...],
    timeout: float,
    server_name: str | None,
    transcript: Transcript,
) -> certs.CertInfo | None:
    """The leaf certificate, from one more handshake at the best version that shows it."""
    legacy = [v for v in accepted if v is not TlsVersion.TLS1_3]
    if legacy:
        offer = tls_wire.Offer(max(legacy), tls.LEGACY_SUITES, server_name)
        flight = tls_wire.exchange(
            scope, host, port, offer, timeout=timeout, transcript=transcript,
            purpose="ClientHello for the certificate",
        )  # fmt: skip
        ders = flight.certificates
    elif accepted:
        offer = tls_wire.Offer(TlsVersion.TLS1_3, tls.TLS13_SUITES, server_name)
        ders = tls_full.tls13_chain(
            scope, host, port, offer, timeout=timeout, transcript=transcript
        )
    else:
        return None
    if not ders:
        return None
    return certs.load(ders[:1])[1][0]
