"""Over-long fields (ROBUST-004): SSH and MQTT here, HTTP and TLS with their protocol's
malformed input (`http_input`, `tls_input`); `every_field` plans them all.

SSH: one password attempt with a 64 KiB user name, one with a 64 KiB password for a user
name no device has, each through paramiko on a fresh connection. MQTT: a CONNECT whose
client identifier is 65535 bytes, and a CONNECT followed by a QoS 1 PUBLISH whose topic
is 65535 bytes (the most MQTT allows), on every MQTT service (inside TLS for `mqtts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from harness.config.profile import Profile
from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto.cleartext import CONNACK, ConnackCode, mqtt_connect, remaining_length
from harness.probes.robust import http_input, tls_input
from harness.probes.robust.cases import Case, Planned, Reaction, Reply, exchange, plan
from harness.transports.ssh import ConnectionClosed, SshSession

BIG = 64 * 1024
MQTT_STRING_MAX = 0xFFFF
PROBE_USER = "medsec-probe"
WRONG_PASSWORD = "medsec-not-the-password"  # noqa: S105 - a deliberately wrong one
PUBACK = 0x40


def ssh_fields() -> list[Case]:
    """The SSH cases; the payload is the field (paramiko frames it)."""
    return [
        Case(
            "long-user-name",
            "password authentication with a 64 KiB user name",
            ("u" * BIG).encode(),
            "ssh",
        ),
        Case(
            "long-password",
            f"password authentication of {PROBE_USER!r} with a 64 KiB password",
            ("p" * BIG).encode(),
            "ssh",
        ),
    ]


def ssh_attempt(
    scope: Scope, host: str, port: int, case: Case, *, timeout: float, transcript: Transcript
) -> Reply:
    """One password attempt carrying the case's field; refused, closed or (a finding) in."""
    field = case.payload.decode()
    username, password = (field, WRONG_PASSWORD) if case.name == "long-user-name" else (
        PROBE_USER, field
    )  # fmt: skip
    started = time.monotonic()
    try:
        session = SshSession(scope, host, port, timeout=timeout, transcript=transcript)
    except DeviceError as exc:
        return Reply(Reaction.REFUSED, detail=str(exc))
    with session:
        try:
            result = session.try_password(username, password, f"({len(password)} characters)")
        except ConnectionClosed as exc:
            return Reply(Reaction.CLOSED, closed=True, elapsed_s=_since(started), detail=str(exc))
        except DeviceTimeout as exc:
            return Reply(Reaction.SILENT, elapsed_s=_since(started), detail=str(exc))
        except DeviceError as exc:
            return Reply(Reaction.CLOSED, closed=True, elapsed_s=_since(started), detail=str(exc))
    if result.accepted:
        return Reply(
            Reaction.ANSWERED, elapsed_s=_since(started), detail="logged in", accepted=True
        )
    return Reply(Reaction.ANSWERED, elapsed_s=_since(started), detail=f"refused: {result.why}")


def _since(started: float) -> float:
    return time.monotonic() - started


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def publish(topic: bytes, message: bytes, packet_id: int = 1) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 1."""
    body = _string(topic) + packet_id.to_bytes(2, "big") + message
    return b"\x32" + remaining_length(len(body)) + body


def mqtt_client_id(target: str) -> Case:
    return Case(
        "long-client-id",
        f"a CONNECT whose client identifier is {MQTT_STRING_MAX} bytes",
        mqtt_connect("c" * MQTT_STRING_MAX),
        target,
        well_formed=True,
    )


def mqtt_topic(target: str) -> Case:
    return Case(
        "long-topic",
        f"a CONNECT without credentials, then a QoS 1 PUBLISH to a {MQTT_STRING_MAX}-byte topic",
        mqtt_connect(PROBE_USER) + publish(b"t" * MQTT_STRING_MAX, b"medsec"),
        target,
        well_formed=True,
    )


def _connack(data: bytes) -> ConnackCode | None:
    if len(data) >= 4 and data[0] == CONNACK and data[1] == 2:
        try:
            return ConnackCode(data[3])
        except ValueError:
            return None
    return None


def connect_answered(data: bytes) -> bool:
    """Four bytes came back: a CONNACK, or whatever the broker says instead."""
    return len(data) >= 4


def publish_answered(data: bytes) -> bool:
    """A refusing CONNACK, or an accepting one and the PUBACK after it."""
    code = _connack(data)
    if code is None:
        return len(data) >= 4  # not a CONNACK: no more to wait for
    return code is not ConnackCode.ACCEPTED or (len(data) >= 8 and data[4] == PUBACK)


def describe_mqtt(data: bytes) -> str:
    code = _connack(data)
    if code is None:
        return f"{len(data)} bytes that are no CONNACK" if data else ""
    ack = ", PUBACK" if len(data) >= 8 and data[4] == PUBACK else ""
    return f"CONNACK {code.value} ({code.name}){ack}"


def mqtt_attempt(
    scope: Scope,
    host: str,
    port: int,
    case: Case,
    *,
    tls: bool,
    answered: Callable[[bytes], bool],
    timeout: float,
    transcript: Transcript,
) -> Reply:
    return exchange(
        scope, host, port, case, timeout=timeout, transcript=transcript, tls=tls,
        enough=answered, describe=describe_mqtt,
    )  # fmt: skip


def ssh_problem(case: Case, reply: Reply) -> str | None:
    """ROBUST-004 (SSH): the attempt is refused or the connection closed."""
    if reply.accepted:
        return f"the server let the {case.name.replace('-', ' ')} log in"
    if reply.reaction is Reaction.SILENT:
        return f"neither a refusal nor a close within {reply.elapsed_s:.1f}s"
    return None


def _mqtt_problem(answered: Callable[[bytes], bool], reply: Reply) -> str | None:
    """ROBUST-004 (MQTT): a broker may take what MQTT allows, but it answers or closes."""
    if reply.closed or (reply.reaction is Reaction.ANSWERED and answered(reply.data)):
        return None
    return f"{reply.detail or 'no answer'}, and no close within {reply.elapsed_s:.1f}s"


def connect_problem(case: Case, reply: Reply) -> str | None:
    """A CONNACK (any code) or a close."""
    return _mqtt_problem(connect_answered, reply)


def publish_problem(case: Case, reply: Reply) -> str | None:
    """A refusing CONNACK, or an accepting one and a PUBACK; or a close."""
    return _mqtt_problem(publish_answered, reply)


def every_field(profile: Profile, scope: Scope, transcript: Transcript) -> list[Planned]:
    """ROBUST-004's cases for every interface the profile has: SSH, the HTTP API, each
    MQTT broker and each TLS service."""
    timeout = profile.policy.timeout_s
    planned: list[Planned] = []
    if profile.ssh is not None:
        send = partial(ssh_attempt, scope, profile.ssh_host, profile.ssh.port,
                       timeout=timeout, transcript=transcript)  # fmt: skip
        planned += plan(ssh_fields(), send, ssh_problem)
    if profile.http is not None:
        send = partial(http_input.send, scope, profile.http, server_name=profile.tls.server_name,
                       timeout=timeout, transcript=transcript)  # fmt: skip
        planned += plan(http_input.oversized_fields(profile.http), send, http_input.problem)
    services = profile.network.services if profile.network else ()
    host = profile.network.host if profile.network else ""
    for service in services:
        if service.protocol in ("mqtt", "mqtts"):
            broker = partial(mqtt_attempt, scope, host, service.port, tls=service.tls,
                             timeout=timeout, transcript=transcript)  # fmt: skip
            planned += plan(
                [mqtt_client_id(service.name)],
                partial(broker, answered=connect_answered),
                connect_problem,
            )
            planned += plan(
                [mqtt_topic(service.name)],
                partial(broker, answered=publish_answered),
                publish_problem,
            )
        if service.tls:
            send = partial(tls_input.send, scope, host, service.port,
                           timeout=timeout, transcript=transcript)  # fmt: skip
            planned += plan([tls_input.oversized_sni(service.name)], send, tls_input.problem)
    return planned
