"""A TLS service's posture in the fewest handshakes: versions, suites, order, groups, extras.

Per version the probe offers every suite it knows, removes the one the server picked and
offers the rest again, until the server refuses: accepted suites + 1 handshakes. One more
hello with the accepted suites reversed tells whether the server imposes its own order.
Groups are enumerated the same way (TLS 1.3 asks with an empty key share, so the
HelloRetryRequest names the server's choice; TLS 1.2 reads the ServerKeyExchange).
Certificates, DH sizes, the renegotiation indication, compression and Encrypt-then-MAC
are read from those same flights. Extra handshakes: the fallback SCSV, one client
renegotiation, and for a TLS 1.3-only server one handshake to decrypt its certificate.

Versions are enumerated concurrently; every connection takes a slot of the device's
`slots` semaphore, so a small embedded TLS stack never sees more than its cap.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from harness.core.errors import DeviceError, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import tls_full, tls_suites
from harness.probes.crypto.attempt import PartialAudit
from harness.probes.crypto.tls import TlsVersion
from harness.probes.crypto.tls_wire import (
    DEFLATE,
    EXT_ENCRYPT_THEN_MAC,
    EXT_RENEGOTIATION_INFO,
    INAPPROPRIATE_FALLBACK,
    X25519,
    Flight,
    Offer,
    exchange,
)

T = TypeVar("T")
# Groups scapy can compute a key share for (a TLS 1.3 certificate fetch after a retry).
_KEY_SHARE_GROUPS = frozenset({0x0017, 0x0018, 0x0019, 0x001D, 0x001E})


@dataclass(frozen=True)
class VersionScan:
    """The suites one protocol version accepts, in the order the server picked them."""

    version: TlsVersion
    accepted: tuple[int, ...]
    server_order: bool | None  # None: fewer than two suites to compare
    etm_suites: tuple[int, ...]  # CBC suites for which Encrypt-then-MAC was negotiated

    @property
    def supported(self) -> bool:
        return bool(self.accepted)

    def names(self) -> list[str]:
        return [tls_suites.suite(code).name for code in self.accepted]


@dataclass(frozen=True)
class AcceptedSuite:
    """One suite a version accepted, with what its handshakes showed."""

    version: TlsVersion
    suite: tls_suites.Suite
    encrypt_then_mac: bool
    dh_bits: int | None  # the DH prime of a DHE suite, when its ServerKeyExchange was read


@dataclass(frozen=True)
class Fallback:
    """The answer to a lower-version hello that carries TLS_FALLBACK_SCSV."""

    version: TlsVersion
    refused: bool
    alert: int | None
    detail: str

    @property
    def refused_as_inappropriate_fallback(self) -> bool:
        """Refused with the alert RFC 7507 asks for, not merely refused."""
        return self.alert == INAPPROPRIATE_FALLBACK


@dataclass(frozen=True)
class _Extras:
    """What the handshakes after the version enumeration found."""

    groups: tuple[int, ...] = ()
    groups_version: TlsVersion | None = None
    fallback: Fallback | None = None
    renegotiation: tls_full.Renegotiation | None = None


@dataclass(frozen=True)
class TlsPosture(PartialAudit):
    """Everything the CRYPTO TLS checks judge for one service, and the faults met on the way."""

    host: str
    port: int
    versions: tuple[VersionScan, ...] = ()
    groups: tuple[int, ...] = ()
    groups_version: TlsVersion | None = None
    dh_bits: Mapping[int, int] = field(default_factory=dict)  # DHE suite -> prime bits
    chains: tuple[tuple[bytes, ...], ...] = ()
    compression_accepted: bool = False
    insecure_renegotiation_suites: tuple[int, ...] = ()
    fallback: Fallback | None = None
    renegotiation: tls_full.Renegotiation | None = None
    flights: tuple[tuple[str, Flight], ...] = ()
    connections: int = 0
    duration_s: float = 0.0
    notes: tuple[str, ...] = ()

    def scan(self, version: TlsVersion) -> VersionScan | None:
        return next((v for v in self.versions if v.version is version), None)

    @property
    def supported(self) -> list[TlsVersion]:
        return [v.version for v in self.versions if v.supported]

    def suites(self, minimum: TlsVersion = TlsVersion.SSL3) -> dict[TlsVersion, tuple[int, ...]]:
        return {v.version: v.accepted for v in self.versions if v.version >= minimum}

    def accepted(self, minimum: TlsVersion) -> tuple[AcceptedSuite, ...]:
        """Every suite accepted at `minimum` or above, version by version in server order."""
        return tuple(
            AcceptedSuite(
                scan.version,
                tls_suites.suite(code),
                code in scan.etm_suites,
                self.dh_bits.get(code),
            )
            for scan in self.versions
            if scan.version >= minimum
            for code in scan.accepted
        )

    def named_groups(self) -> tuple[tls_suites.NamedGroup, ...]:
        return tuple(tls_suites.named_group(code) for code in self.groups)

    def protocol_problems(self) -> list[str]:
        """CRYPTO-007: compression, no secure renegotiation indication, client renegotiation
        accepted, a downgrade not refused with inappropriate_fallback."""
        problems = []
        if self.compression_accepted:
            problems.append("DEFLATE compression accepted")
        if self.insecure_renegotiation_suites:
            problems.append("no secure renegotiation indication (RFC 5746) in the ServerHello")
        reneg = self.renegotiation
        if reneg is not None and reneg.outcome is tls_full.RenegotiationOutcome.ACCEPTED:
            problems.append("client-initiated renegotiation accepted")
        fallback = self.fallback
        if fallback is not None and not fallback.refused_as_inappropriate_fallback:
            problems.append(
                f"{fallback.version.label} hello with TLS_FALLBACK_SCSV {fallback.detail}, "
                "not inappropriate_fallback"
            )
        return problems

    def summary(self) -> list[str]:
        lines = []
        for scan in self.versions:
            if not scan.supported:
                lines.append(f"{scan.version.label}: refused")
                continue
            order = {True: "server order", False: "client order", None: ""}[scan.server_order]
            lines.append(
                f"{scan.version.label}: {len(scan.accepted)} suites"
                + (f" ({order})" if order else "")
                + ": "
                + ", ".join(scan.names())
            )
        if self.groups:
            names = ", ".join(tls_suites.group_name(g) for g in self.groups)
            lines.append(
                f"groups ({self.groups_version.label if self.groups_version else ''}): {names}"
            )
        lines.append(f"{self.connections} connections in {self.duration_s:.3f}s")
        return lines


class TlsAuditor:
    """Runs the handshakes for one service; thread-safe, bounded by `slots`.

    What every flight shows (chains, DH sizes, compression, the renegotiation indication)
    and every fault is gathered here; `posture` freezes it with what the steps returned."""

    def __init__(
        self,
        scope: Scope,
        host: str,
        port: int,
        *,
        timeout: float,
        server_name: str | None,
        slots: threading.BoundedSemaphore,
        transcript: Transcript,
    ) -> None:
        self.scope = scope
        self.host = host
        self.port = port
        self.timeout = timeout
        self.server_name = server_name
        self.slots = slots
        self.transcript = transcript
        self._lock = threading.Lock()
        self._flights: list[tuple[str, Flight]] = []
        self._chains: list[tuple[bytes, ...]] = []
        self._dh_bits: dict[int, int] = {}
        self._compression_accepted = False
        self._insecure: list[int] = []
        self._connections = 0
        self._notes: list[str] = []
        self._errors: list[DeviceError] = []

    def posture(
        self, versions: tuple[VersionScan, ...], extras: _Extras, duration_s: float = 0.0
    ) -> TlsPosture:
        """What has been found so far, frozen."""
        with self._lock:
            return TlsPosture(
                self.host,
                self.port,
                versions,
                groups=extras.groups,
                groups_version=extras.groups_version,
                dh_bits=MappingProxyType(dict(self._dh_bits)),
                chains=tuple(self._chains),
                compression_accepted=self._compression_accepted,
                insecure_renegotiation_suites=tuple(self._insecure),
                fallback=extras.fallback,
                renegotiation=extras.renegotiation,
                flights=tuple(self._flights),
                connections=self._connections,
                duration_s=duration_s,
                notes=tuple(self._notes),
                errors=tuple(self._errors),
            )

    def settled(self, step: Callable[[], T], default: T) -> T:
        """The step's result; its fault is kept and `default` stands in."""
        try:
            return step()
        except DeviceError as exc:
            with self._lock:
                self._errors.append(exc)
            return default

    # -- one connection ------------------------------------------------------------------

    def _connection(self, action: Callable[[], T]) -> T:
        with self.slots:
            with self._lock:
                self._connections += 1
            return action()

    def _exchange(self, offer: Offer, purpose: str) -> Flight:
        flight = self._connection(
            lambda: exchange(
                self.scope,
                self.host,
                self.port,
                offer,
                timeout=self.timeout,
                transcript=self.transcript,
                purpose=purpose,
            )
        )
        with self._lock:
            self._flights.append((purpose, flight))
            self._learn(flight)
        if flight.fault is not None:
            raise flight.fault
        return flight

    def _learn(self, flight: Flight) -> None:
        """Facts every accepted flight gives for free (lock held)."""
        hello = flight.server_hello
        if hello is None or not flight.accepted:
            return
        if flight.certificates and flight.certificates not in self._chains:
            self._chains.append(flight.certificates)
        if flight.dh_bits and flight.suite is not None:
            self._dh_bits[flight.suite] = flight.dh_bits
        if hello.version <= int(TlsVersion.TLS1_2):
            if hello.compression != 0:
                self._compression_accepted = True
            if EXT_RENEGOTIATION_INFO not in hello.extensions and hello.suite not in self._insecure:
                self._insecure.append(hello.suite)

    def _offer(self, version: TlsVersion, suites: Iterable[int], **extra: object) -> Offer:
        legacy = version <= TlsVersion.TLS1_2
        return Offer(
            version,
            tuple(suites),
            self.server_name,
            compression=(DEFLATE, 0) if legacy else (0,),
            **extra,  # type: ignore[arg-type]
        )

    # -- the questions -------------------------------------------------------------------

    def enumerate_version(self, version: TlsVersion) -> VersionScan:
        """Offer everything, remove the pick, repeat; then one reversed offer for the order."""
        remaining = list(
            tls_suites.tls13_suites()
            if version is TlsVersion.TLS1_3
            else tls_suites.legacy_suites()
        )
        accepted: list[int] = []
        etm: list[int] = []
        server_order = None
        try:
            for _ in range(len(remaining) + 1):
                flight = self._exchange(
                    self._offer(version, remaining),
                    f"{version.label} suites: {len(remaining)} offered",
                )
                if not flight.accepted or flight.suite is None:
                    break
                if flight.suite not in remaining:
                    raise ProtocolViolation(
                        f"{self.host}:{self.port}",
                        f"server chose suite 0x{flight.suite:04x}, which was not offered",
                    )
                accepted.append(flight.suite)
                remaining.remove(flight.suite)
                assert flight.server_hello is not None
                if EXT_ENCRYPT_THEN_MAC in flight.server_hello.extensions:
                    etm.append(flight.suite)
                if not remaining:
                    break
            if len(accepted) >= 2:
                check = self._exchange(
                    self._offer(version, reversed(accepted)),
                    f"{version.label} preference: accepted suites in reverse",
                )
                server_order = check.suite == accepted[0] if check.accepted else None
        except DeviceError as exc:
            with self._lock:
                self._errors.append(exc)
        return VersionScan(version, tuple(accepted), server_order, tuple(etm))

    def enumerate_groups(self, posture: TlsPosture) -> tuple[tuple[int, ...], TlsVersion | None]:
        """Groups the server accepts, in its order, at the highest version that shows them."""
        tls13 = posture.scan(TlsVersion.TLS1_3)
        tls12 = posture.scan(TlsVersion.TLS1_2)
        remaining = list(tls_suites.OFFERED_GROUPS)
        found: list[int] = []
        if tls13 and tls13.supported:
            version, suites = TlsVersion.TLS1_3, tls13.accepted
        elif tls12 and any(tls_suites.suite(s).key_exchange == "ECDHE" for s in tls12.accepted):
            version = TlsVersion.TLS1_2
            suites = tuple(s for s in tls12.accepted if tls_suites.suite(s).key_exchange == "ECDHE")
        else:
            return (), None
        for _ in range(len(remaining) + 1):
            flight = self._exchange(
                self._offer(version, suites, groups=tuple(remaining), key_shares=()),
                f"{version.label} groups: {len(remaining)} offered",
            )
            hello = flight.server_hello
            group = flight.ske_group if version is TlsVersion.TLS1_2 else None
            if hello is not None and version is TlsVersion.TLS1_3:
                group = hello.key_share_group
            if not flight.accepted or group is None or group not in remaining:
                break
            found.append(group)
            remaining.remove(group)
        return tuple(found), version

    def fallback(self, posture: TlsPosture, minimum: TlsVersion) -> Fallback | None:
        """A hello one supported version lower, with TLS_FALLBACK_SCSV."""
        versions = [v for v in posture.supported if v >= minimum]
        if len(versions) < 2:
            return None
        lower = sorted(versions)[-2]
        scan = posture.scan(lower)
        assert scan is not None
        flight = self._exchange(
            self._offer(lower, scan.accepted, fallback_scsv=True),
            f"{lower.label} with TLS_FALLBACK_SCSV",
        )
        refused = not flight.accepted
        detail = "accepted the downgraded hello" if not refused else "refused"
        if flight.alert is not None:
            detail = f"alert {flight.alert}"
        return Fallback(lower, refused, flight.alert, detail)

    def renegotiation(
        self, posture: TlsPosture, minimum: TlsVersion
    ) -> tls_full.Renegotiation | None:
        """One full handshake, then a ClientHello inside it."""
        for version in (TlsVersion.TLS1_2, TlsVersion.TLS1_1, TlsVersion.TLS1_0):
            scan = posture.scan(version)
            if version < minimum or scan is None or not scan.supported:
                continue
            usable = [s for s in scan.accepted if _completable(s)]
            if not usable:
                with self._lock:
                    self._notes.append(
                        f"renegotiation not tried: no {version.label} suite the probe can complete"
                    )
                return None
            offer = self._offer(version, usable[:1])
            renegotiate = functools.partial(
                tls_full.client_renegotiation, self.scope, self.host, self.port, offer,
                timeout=self.timeout, transcript=self.transcript,
            )  # fmt: skip
            return self._connection(renegotiate)
        return None

    def tls13_chain(self, posture: TlsPosture) -> None:
        """For a server whose certificate only TLS 1.3 shows: decrypt it from one handshake."""
        scan = posture.scan(TlsVersion.TLS1_3)
        if posture.chains or scan is None or not scan.supported:
            return
        shares: tuple[int, ...] = (X25519, 0x0017)
        if posture.groups and posture.groups[0] in _KEY_SHARE_GROUPS:
            shares = (posture.groups[0],)
        offer = self._offer(TlsVersion.TLS1_3, scan.accepted, key_shares=shares)
        chain = self._connection(
            lambda: tls_full.tls13_chain(
                self.scope, self.host, self.port, offer, timeout=self.timeout,
                transcript=self.transcript,
            )
        )  # fmt: skip
        if chain:
            with self._lock:
                self._chains.append(chain)


def _completable(code: int) -> bool:
    s = tls_suites.suite(code)
    return (
        s.key_exchange in ("ECDHE", "DHE", "RSA")
        and s.authentication in ("RSA", "ECDSA")
        and s.cipher in ("AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305")
    )


def audit(
    scope: Scope,
    host: str,
    port: int,
    versions: Iterable[TlsVersion],
    *,
    minimum: TlsVersion,
    timeout: float,
    server_name: str | None,
    slots: threading.BoundedSemaphore,
    transcript: Transcript,
    extras: bool = True,
) -> TlsPosture:
    """Enumerate `versions` concurrently, then groups, fallback, renegotiation and chain.

    Never raises a DeviceError: what was decided is kept, and every fault is in `errors`.
    """
    auditor = TlsAuditor(
        scope, host, port, timeout=timeout, server_name=server_name, slots=slots,
        transcript=transcript,
    )  # fmt: skip
    started = time.monotonic()
    wanted = sorted(set(versions))
    with ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="tls") as pool:
        scans = tuple(pool.map(auditor.enumerate_version, wanted))
    found = _Extras()
    scanned = auditor.posture(scans, found)
    if extras and not scanned.errors:
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="tls") as pool:
            groups = pool.submit(auditor.enumerate_groups, scanned)
            fallback = pool.submit(auditor.fallback, scanned, minimum)
            renegotiation = pool.submit(auditor.renegotiation, scanned, minimum)
            no_groups: tuple[tuple[int, ...], TlsVersion | None] = ((), None)
            accepted_groups, groups_version = auditor.settled(groups.result, no_groups)
            found = _Extras(
                accepted_groups,
                groups_version,
                auditor.settled(fallback.result, None),
                auditor.settled(renegotiation.result, None),
            )
        with_extras = auditor.posture(scans, found)
        auditor.settled(lambda: auditor.tls13_chain(with_extras), None)
    return auditor.posture(scans, found, time.monotonic() - started)
