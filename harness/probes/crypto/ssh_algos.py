"""What an SSH server offers: every KEXINIT name-list from one connection, its host keys,
and the authentication methods it offers before login.

`read_kexinit` speaks the protocol itself (RFC 4253 sections 4.2, 6 and 7.1): read the
server's identification, send ours, read its first binary packet, which must be the
KEXINIT, and close. Exactly one connection, nothing negotiated. `host_keys` then completes
one paramiko key exchange per host-key family the server offers (RSA once for its three
signature names) to read the key itself, and the first of those asks `none`
authentication so the server lists the methods it allows.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import paramiko

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, ProtocolViolation
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto.attempt import PartialAudit
from harness.transports import net, ssh
from harness.transports.ssh import ConnectionClosed
from harness.transports.ssh_legacy import enable_group14_sha1

CLIENT_IDENT = b"SSH-2.0-medsec_harness\r\n"
MSG_KEXINIT = 20
MAX_PREAMBLE_LINES = 32
MAX_PACKET = 35000  # RFC 4253 6.1: every implementation must handle 35000 bytes
LIST_NAMES = (
    "kex",
    "host_keys",
    "ciphers_c2s",
    "ciphers_s2c",
    "macs_c2s",
    "macs_s2c",
    "compression_c2s",
    "compression_s2c",
    "languages_c2s",
    "languages_s2c",
)
# Names in the kex list that announce an extension, not an algorithm (dropbear's
# `kexguess2@matt.ucc.asn.au`: it guesses the client's first key exchange packet).
_PSEUDO = re.compile(
    r"^(ext-info-[cs]|kex-strict-[cs]-v00@openssh\.com|kexguess2@matt\.ucc\.asn\.au)$"
)


def is_pseudo_algorithm(name: str) -> bool:
    """`ext-info-s`, `kex-strict-s-v00@openssh.com` and the like: never judged."""
    return bool(_PSEUDO.match(name))


@dataclass(frozen=True)
class KexInit:
    """The server's algorithm name-lists, in its preference order."""

    lists: dict[str, tuple[str, ...]]
    first_kex_follows: bool

    @property
    def kex(self) -> tuple[str, ...]:
        return tuple(n for n in self.lists["kex"] if not is_pseudo_algorithm(n))

    @property
    def pseudo(self) -> tuple[str, ...]:
        return tuple(n for n in self.lists["kex"] if is_pseudo_algorithm(n))

    @property
    def host_keys(self) -> tuple[str, ...]:
        return self.lists["host_keys"]

    @property
    def ciphers(self) -> tuple[str, ...]:
        return _union(self.lists["ciphers_s2c"], self.lists["ciphers_c2s"])

    @property
    def macs(self) -> tuple[str, ...]:
        return _union(self.lists["macs_s2c"], self.lists["macs_c2s"])

    @property
    def compression(self) -> tuple[str, ...]:
        return _union(self.lists["compression_s2c"], self.lists["compression_c2s"])

    def judged(self) -> dict[str, tuple[str, ...]]:
        """The lists a policy judges: kex (pseudo names removed), host keys, ciphers, MACs,
        compression (both directions merged)."""
        return {
            "kex": self.kex,
            "host_keys": self.host_keys,
            "ciphers": self.ciphers,
            "macs": self.macs,
            "compression": self.compression,
        }


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for name in (*first, *second):
        if name not in seen:
            seen.append(name)
    return tuple(seen)


@dataclass(frozen=True)
class ServerAlgorithms:
    """One connection's worth: identification, preamble and KEXINIT, with the raw bytes."""

    identification: str
    preamble: tuple[str, ...]
    kexinit: KexInit
    server_bytes: bytes
    duration_s: float

    @property
    def software(self) -> str:
        """`OpenSSH_9.2p1` from `SSH-2.0-OpenSSH_9.2p1 Debian-2`."""
        rest = self.identification.split("-", 2)[2] if self.identification.count("-") >= 2 else ""
        return rest.split(" ", 1)[0]


def read_kexinit(
    scope: Scope, host: str, port: int, *, timeout: float, transcript: Transcript
) -> ServerAlgorithms:
    """One TCP connection: identification exchange, then the server's KEXINIT."""
    started = time.monotonic()
    deadline = Deadline(timeout)
    with net.connect(scope, host, port, timeout=timeout, transcript=transcript) as conn:
        conn.send(CLIENT_IDENT, "our identification")
        received = buffer = b""
        preamble: list[str] = []
        while True:
            if b"\n" not in buffer:
                chunk = _more(conn, deadline, received, "identification")
                received, buffer = received + chunk, buffer + chunk
                continue
            line, buffer = buffer.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if text.startswith("SSH-"):
                identification = text
                break
            preamble.append(text)
            if len(preamble) > MAX_PREAMBLE_LINES:
                raise ProtocolViolation(conn.target, "no SSH identification in the first lines")
        if not identification.startswith(("SSH-2.0-", "SSH-1.99-")):
            raise ProtocolViolation(conn.target, f"not SSH 2: {identification[:80]!r}")
        while len(buffer) < 5:
            chunk = _more(conn, deadline, received, "KEXINIT")
            received, buffer = received + chunk, buffer + chunk
        length, padding = struct.unpack(">IB", buffer[:5])
        if not 5 <= length <= MAX_PACKET or padding >= length:
            raise ProtocolViolation(
                conn.target, f"absurd packet length {length}: {buffer[:16].hex()}"
            )
        while len(buffer) < 4 + length:
            chunk = _more(conn, deadline, received, "KEXINIT")
            received, buffer = received + chunk, buffer + chunk
        payload = buffer[5 : 4 + length - padding]
    kexinit = parse_kexinit(payload, f"{host}:{port}")
    return ServerAlgorithms(
        identification=identification,
        preamble=tuple(preamble),
        kexinit=kexinit,
        server_bytes=received,
        duration_s=time.monotonic() - started,
    )


def _more(conn: net.TcpConnection, deadline: Deadline, buffer: bytes, waiting: str) -> bytes:
    if deadline.expired:
        raise ProtocolViolation(conn.target, f"no complete {waiting} before the timeout")
    if len(buffer) > MAX_PACKET + 8192:
        raise ProtocolViolation(conn.target, f"no complete {waiting} in {len(buffer)} bytes")
    chunk = conn.recv(deadline.step(conn.timeout))
    if not chunk:
        raise ProtocolViolation(
            conn.target, f"connection closed before the {waiting} ({len(buffer)} bytes)"
        )
    return chunk


def parse_kexinit(payload: bytes, target: str) -> KexInit:
    """The ten name-lists of an SSH_MSG_KEXINIT payload."""
    if not payload or payload[0] != MSG_KEXINIT:
        kind = payload[0] if payload else None
        raise ProtocolViolation(target, f"first packet is message {kind}, not KEXINIT")
    at = 17  # message number and 16-byte cookie
    lists: dict[str, tuple[str, ...]] = {}
    try:
        for name in LIST_NAMES:
            (size,) = struct.unpack_from(">I", payload, at)
            raw = payload[at + 4 : at + 4 + size]
            if len(raw) != size:
                raise ProtocolViolation(target, f"KEXINIT name-list {name} cut short")
            text = raw.decode("ascii")
            lists[name] = tuple(item for item in text.split(",") if item)
            at += 4 + size
        first_kex_follows = bool(payload[at])
    except (struct.error, IndexError, UnicodeDecodeError):
        raise ProtocolViolation(target, f"malformed KEXINIT: {payload[:64].hex()}") from None
    return KexInit(lists, first_kex_follows)


@dataclass(frozen=True)
class HostKey:
    """One host key the server proved it holds, or why it could not be fetched."""

    algorithm: str  # the host-key algorithm we asked for
    key_type: str  # ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ssh-dss
    bits: int | None
    fingerprint: str
    fetched: bool
    detail: str = ""
    absent: bool = False  # advertised, but the server closed the key exchange that chose it


@dataclass(frozen=True)
class HostKeyAudit(PartialAudit):
    """Every host key family, and the authentication methods offered to `none`.

    A family whose key exchange the server closes (dropbear lists `ssh-rsa` without an
    RSA key) is absent, not an error, as long as another family completes. Incomplete
    when a fetch erred otherwise, when none completed, or when a key was offered that
    paramiko cannot verify (a ProtocolViolation naming them comes after the fetch faults)."""

    keys: tuple[HostKey, ...]
    auth_methods: tuple[str, ...] | None  # None: not learnt (the server closed first)
    none_accepted: bool
    connections: int

    @property
    def judged(self) -> tuple[HostKey, ...]:
        """Every family but the absent ones (a key not fetched is judged by its type)."""
        return tuple(k for k in self.keys if not k.absent)

    @property
    def absent(self) -> tuple[HostKey, ...]:
        """Families advertised whose key exchange the server would not complete."""
        return tuple(k for k in self.keys if k.absent)


_FAMILIES = {
    "ssh-ed25519": "ssh-ed25519",
    "ssh-ed448": "ssh-ed448",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
    "rsa-sha2-512": "ssh-rsa",
    "rsa-sha2-256": "ssh-rsa",
    "ssh-rsa": "ssh-rsa",
    "ssh-dss": "ssh-dss",
}


def key_family(algorithm: str) -> str:
    """The key type behind a host-key algorithm name (certificates count as their key)."""
    base = algorithm.replace("-cert-v01@openssh.com", "")
    return _FAMILIES.get(base, base)


def host_keys(
    scope: Scope,
    host: str,
    port: int,
    offered: Iterable[str],
    *,
    username: str,
    timeout: float,
    new_transcript: Callable[[str], Transcript],
) -> HostKeyAudit:
    """One paramiko handshake per host-key family, each on a transcript of its own;
    `none` auth on the first one."""
    families: dict[str, list[str]] = {}
    for algorithm in offered:
        families.setdefault(key_family(algorithm), []).append(algorithm)
    keys: list[HostKey] = []
    errors: list[DeviceError] = []
    unverifiable: list[str] = []
    methods: tuple[str, ...] | None = None
    none_accepted = False
    connections = 0
    supported = set(getattr(paramiko.Transport, "_key_info", {}))
    for family, algorithms in families.items():
        usable = [a for a in algorithms if a in supported]
        if not usable and family == "ssh-rsa":
            usable = [a for a in ("rsa-sha2-512", "rsa-sha2-256") if a in supported]
        if not usable:
            keys.append(
                HostKey(algorithms[0], family, None, "", False, "paramiko cannot verify it")
            )
            unverifiable.append(algorithms[0])
            continue
        connections += 1
        transcript = new_transcript(f"host key {', '.join(usable)}")
        try:
            key, learnt = _fetch(scope, host, port, usable, username if methods is None else None,
                                 timeout=timeout, transcript=transcript)  # fmt: skip
        except ConnectionClosed as exc:
            why = (
                f"advertised as {', '.join(algorithms)}, but the server closed the key "
                f"exchange that chose {usable[0]} ({exc})"
            )
            keys.append(HostKey(usable[0], family, None, "", False, why, absent=True))
            continue
        except DeviceError as exc:
            errors.append(exc)
            keys.append(HostKey(usable[0], family, None, "", False, str(exc)))
            continue
        if learnt is not None and methods is None:
            methods, none_accepted = learnt
        keys.append(HostKey(usable[0], key.get_name(), key.get_bits(), key.fingerprint, True))
    if not any(k.fetched for k in keys) and any(k.absent for k in keys):
        errors.append(
            ProtocolViolation(
                f"{host}:{port}", "the server completed no key exchange for any host key it lists"
            )
        )
    if unverifiable:
        errors.append(
            ProtocolViolation(
                f"{host}:{port}", f"host keys offered but not fetched: {', '.join(unverifiable)}"
            )
        )
    return HostKeyAudit(tuple(keys), methods, none_accepted, connections, errors=tuple(errors))


def _fetch(
    scope: Scope,
    host: str,
    port: int,
    algorithms: list[str],
    username: str | None,
    *,
    timeout: float,
    transcript: Transcript,
) -> tuple[paramiko.PKey, tuple[tuple[str, ...], bool] | None]:
    transport = ssh.open_transport(
        scope, host, port, timeout=timeout, transcript=transcript,
        purpose=f"for host key {', '.join(algorithms)}",
    )  # fmt: skip
    try:
        enable_group14_sha1(transport)
        options = transport.get_security_options()
        options.key_types = tuple(algorithms)
        options.kex = (*options.kex, "diffie-hellman-group14-sha1")
        ssh.start_client(
            transport, f"{host}:{port}", timeout=timeout, during="SSH handshake for the host key"
        )
        key = transport.get_remote_server_key()
        transcript.event(f"host key {key.get_name()} {key.get_bits()} bits {key.fingerprint}")
        learnt = None
        if username is not None:
            learnt = _none_auth(transport, username, transcript)
        return key, learnt
    finally:
        transport.close()


def _none_auth(
    transport: paramiko.Transport, username: str, transcript: Transcript
) -> tuple[tuple[str, ...], bool] | None:
    try:
        transport.auth_none(username)
    except paramiko.BadAuthenticationType as exc:
        methods = tuple(exc.allowed_types)
        transcript.event(f"'none' refused; methods offered: {','.join(methods)}")
        return methods, False
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transcript.event(f"'none' authentication could not be asked: {exc}")
        return None
    transcript.event("'none' authentication ACCEPTED")
    return (), True
