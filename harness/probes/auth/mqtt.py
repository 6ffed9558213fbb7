"""MQTT brokers that let anyone in: a CONNECT without user name, password or certificate.

On every port that may speak plain MQTT (declared `mqtt`, 1883, undeclared expected
ports) the harness sends one CONNECT without credentials and reads the CONNACK. Return
code 0 lets any client on the network publish and subscribe: an authentication finding
(AUTH-010), besides the cleartext one (CRYPTO-010). Brokers on TLS ports are CRYPTO-011's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.config.profile import Network
from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.auth.services import candidate_ports
from harness.probes.crypto.cleartext import (
    ConnackCode,
    PortFinding,
    Speaks,
    cleartext_request,
    mqtt_connect,
)

MQTT_PORT = 1883
CLIENT_ID = "medsec-probe"
REFUSALS = frozenset({ConnackCode.BAD_USER_NAME_OR_PASSWORD, ConnackCode.NOT_AUTHORIZED})


@dataclass(frozen=True)
class BrokerAccess:
    """What one port answered to a CONNECT without credentials."""

    port: int
    finding: PortFinding

    @property
    def broker(self) -> bool:
        return self.finding.speaks is Speaks.MQTT

    @property
    def anonymous(self) -> bool:
        return self.finding.connack is ConnackCode.ACCEPTED

    @property
    def refused(self) -> bool:
        return self.finding.connack in REFUSALS

    def summary(self) -> str:
        return self.finding.summary()


def plain_ports(network: Network, tls_ports: Iterable[int]) -> list[int]:
    """The candidate ports for plain MQTT, without those profiled as TLS."""
    tls = set(tls_ports)
    return [p for p in candidate_ports(network, "mqtt", MQTT_PORT) if p not in tls]


def anonymous_connects(
    scope: Scope,
    host: str,
    ports: Iterable[int],
    *,
    timeout: float,
    transcript_for: Callable[[int], Transcript],
) -> list[BrokerAccess]:
    """One CONNECT without credentials per port, each on its own connection and transcript."""
    found = []
    for port in ports:
        transcript = transcript_for(port)
        try:
            finding = cleartext_request(
                scope, host, port, mqtt_connect(CLIENT_ID), timeout=timeout, transcript=transcript
            )
        except DeviceError as exc:
            finding = PortFinding(port, Speaks.CLOSED, str(exc), b"")
        found.append(BrokerAccess(port, finding))
    return found
