"""Evidence files for the CRYPTO checks: handshakes as JSON with hex and as a pcap,
certificate chains as PEM, accepted suites, key exchange and port answers as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.core.transcript import Transcript
from harness.evidence import pcap
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.crypto import tls_suites
from harness.probes.crypto.certs import CertInfo
from harness.probes.crypto.cleartext import PortFinding
from harness.probes.crypto.tls import TlsVersion
from harness.probes.crypto.tls_audit import TlsPosture
from harness.probes.crypto.tls_wire import Flight


def flight_record(purpose: str, flight: Flight) -> dict[str, Any]:
    hello = flight.server_hello
    return {
        "purpose": purpose,
        "offered_version": flight.offer.version.label,
        "offered_suites": len(flight.offer.suites),
        "accepted": flight.accepted,
        "server_version": f"0x{hello.version:04x}" if hello else None,
        "suite": tls_suites.suite(hello.suite).name if hello else None,
        "hello_retry_request": hello.retry_request if hello else None,
        "alert": flight.alert,
        "fault": str(flight.fault) if flight.fault else None,
        "duration_s": round(flight.duration_s, 6),
        "client_hex": flight.client_hello.hex(),
        "server_hex": flight.server_bytes.hex(),
    }


def record_flights(
    evidence: EvidenceRecorder,
    host: str,
    port: int,
    flights: Sequence[tuple[str, Flight]],
    transcript: Transcript | None = None,
    name: str = "handshakes",
) -> None:
    """Every hello and answer as JSON (hex) and pcap; the audit transcript as text."""
    evidence.json(
        f"{name}.json",
        [flight_record(purpose, flight) for purpose, flight in flights],
        f"{len(flights)} ClientHellos and answers (hex)",
    )
    evidence.binary(
        f"{name}.pcap",
        pcap.streams(host, port, [(f.client_hello, f.server_bytes) for _, f in flights]),
        f"{len(flights)} handshakes as pcap",
    )
    if transcript is not None:
        evidence.transcript(f"{name}-transcript", transcript, json=False, show=False)


def record_chain(evidence: EvidenceRecorder, index: int, infos: Sequence[CertInfo]) -> None:
    """The chain as PEM and as the facts the checks judge."""
    evidence.text(
        f"chain-{index}.pem", "".join(i.pem for i in infos), f"certificate chain {index} (PEM)",
        show=False,
    )  # fmt: skip
    evidence.json(
        f"chain-{index}.json",
        [{k: v for k, v in vars(i).items() if k != "pem"} for i in infos],
        f"certificate chain {index}",
    )


def suites_record(posture: TlsPosture) -> dict[str, Any]:
    """Per version: the accepted suites, whether the server imposes its order, EtM suites."""
    return {
        scan.version.label: {
            "accepted": scan.names(),
            "server_order": scan.server_order,
            "encrypt_then_mac": [tls_suites.suite(c).name for c in scan.etm_suites],
        }
        for scan in posture.versions
    }


def key_exchange_record(posture: TlsPosture, minimum: TlsVersion) -> dict[str, Any]:
    """Groups, DH prime sizes and each judged version's key exchanges."""
    return {
        "groups": [group.name for group in posture.named_groups()],
        "groups_version": posture.groups_version.label if posture.groups_version else None,
        "dh_bits": {tls_suites.suite(c).name: b for c, b in posture.dh_bits.items()},
        "suites": {
            v.label: [tls_suites.suite(c).key_exchange for c in s]
            for v, s in posture.suites(minimum).items()
        },
    }


def port_records(findings: Sequence[PortFinding]) -> list[dict[str, Any]]:
    """What each port answered, with the answer in hex."""
    return [
        {
            "port": f.port,
            "transport": f.transport,
            "speaks": f.speaks.value,
            "detail": f.detail,
            "answer_hex": f.answer.hex(),
        }
        for f in findings
    ]
