"""SURFACE-002, 003 and 009: the UDP requests and how answers are told, the sweep's states on
loopback, the rules that judge them, each protocol's first exchange, and the profile keys."""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.asn1.asn1 import ASN1_OID
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

from harness.config.profile import Service, load_profile
from harness.core.deadline import Deadline
from harness.core.errors import ProfileError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.crypto import cleartext
from harness.probes.surface import service_protocols, udp_exposure, udp_services
from harness.probes.surface.dual_stack import DualStack
from harness.probes.surface.service_protocols import Spoke
from harness.probes.surface.udp_exposure import UdpExposure
from harness.probes.surface.udp_services import UdpFinding
from harness.transports import net
from harness.transports.net import ScanResult, UdpDatagram, UdpPort

LOOPBACK = Scope.of(["127.0.0.0/8"])

# --- requests and answers ----------------------------------------------------------------------


def test_the_dns_and_mdns_queries_ask_one_question_without_recursion() -> None:
    query = udp_services.dns_query(0x0102, "", udp_services.DNS_NS)
    assert query == bytes.fromhex("0102 0000 0001 0000 0000 0000 00 0002 0001")
    mdns = udp_services.dns_query(7, "_services._dns-sd._udp.local", 12, unicast_response=True)
    assert mdns.endswith(b"\x05local\x00\x00\x0c\x80\x01")  # PTR, class IN with the QU bit


def test_dns_answers_are_matched_to_our_query() -> None:
    header = struct.pack(">6H", 0x0102, 0x8185, 1, 2, 0, 0)  # response, rcode 5
    assert udp_services.parse_dns(header, 0x0102) == "DNS response REFUSED, 2 answers"
    assert udp_services.parse_dns(header, 0x0103) is None  # not our id
    query = struct.pack(">6H", 0x0102, 0x0100, 1, 0, 0, 0)
    assert udp_services.parse_dns(query, 0x0102) is None  # a query (our own echo), not an answer
    assert udp_services.parse_dns(header[:11], 0x0102) is None


def test_tftp_answers_are_told_and_a_served_file_is_said_plainly() -> None:
    assert udp_services.tftp_read("x") == b"\x00\x01x\x00octet\x00"
    error = b"\x00\x05\x00\x01File not found\x00"
    assert udp_services.parse_tftp(error) == "TFTP error 1: File not found"
    data = b"\x00\x03\x00\x01" + b"A" * 10
    assert udp_services.parse_tftp(data) == "TFTP sent 10 bytes of a file that should not exist"
    assert udp_services.parse_tftp(b"\x00\x05\x00\x01unterminated") is None
    assert udp_services.parse_tftp(b"\x00\x01") is None


def test_the_snmpv3_discovery_is_a_v3_get_with_the_reportable_flag() -> None:
    message = udp_services.snmp_v3_discovery(0x1234)
    assert message[:5] == b"\x30\x3a\x02\x01\x03"  # SEQUENCE, version 3
    assert b"\x04\x01\x04" in message  # msgFlags: reportable, no auth, no privacy
    assert udp_services.parse_snmp(message) == "SNMPv3 agent (answered engine discovery)"
    assert udp_services.parse_snmp(b"\x30\x81\x10\x02\x01\x03") == (
        "SNMPv3 agent (answered engine discovery)"  # long-form length
    )


def test_snmp_v1_answers_name_their_community() -> None:
    answer = bytes(
        SNMP(
            version=0,
            community="public",
            PDU=SNMPresponse(varbindlist=[SNMPvarbind(oid=ASN1_OID(cleartext.SYS_DESCR))]),
        )
    )
    assert udp_services.parse_snmp(answer) == "SNMP v1 answers community 'public'"
    assert udp_services.parse_snmp(b"\x30\x03\x02\x01") is None


def test_ssdp_search_responses_are_told_from_other_http() -> None:
    answer = b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nSERVER: Linux UPnP/1.0 pump/2\r\n\r\n"
    assert udp_services.parse_ssdp(answer) == "SSDP search response: SERVER Linux UPnP/1.0 pump/2"
    assert udp_services.parse_ssdp(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n") is None
    assert udp_services.parse_ssdp(b"HTTP/1.1 404 Not Found\r\nST: x\r\n\r\n") is None


def test_an_answer_is_named_by_its_own_port_first_then_by_any_protocol() -> None:
    table = udp_services.asks("127.0.0.1", 0x4000)
    ntp = bytes([0x24, 2]) + bytes(46)
    on_ntp = UdpPort(123, (UdpDatagram(123, ntp, len(ntp)),))
    assert udp_services.identify(on_ntp, table).protocol == "ntp"
    elsewhere = UdpPort(4123, (UdpDatagram(4123, ntp, len(ntp)),))
    assert udp_services.identify(elsewhere, table).summary() == (
        "4123/udp: ntp (NTP v4 server, stratum 2)"
    )
    junk = UdpPort(9, (UdpDatagram(9, b"\x01\x02", 2),))
    assert udp_services.identify(junk, table).summary() == "9/udp: unknown (2 bytes: 0102)"


def test_every_protocol_has_its_request_on_its_own_port() -> None:
    table = udp_services.asks("::1", 1)
    assert {a.protocol: a.port for a in table} == {
        "dns": 53, "tftp": 69, "ntp": 123, "snmp": 161, "ssdp": 1900, "mdns": 5353, "coap": 5683,
    }  # fmt: skip
    ssdp = next(a for a in table if a.protocol == "ssdp")
    assert b"HOST: [::1]:1900\r\n" in ssdp.requests[0]


# --- the sweep on loopback ---------------------------------------------------------------------


@pytest.fixture
def udp_device() -> Iterator[tuple[int, int, int]]:
    """A port that answers with ten datagrams of 9000 bytes, a silent port, a closed one."""
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        closed = gone.getsockname()[1]
    echo.settimeout(5)

    def answer() -> None:
        try:
            _, peer = echo.recvfrom(100)
            for _ in range(10):  # more than the sweep keeps
                echo.sendto(b"E" * 9000, peer)
        except OSError:
            pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield echo.getsockname()[1], silent.getsockname()[1], closed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:  # if nobody asked it
        waker.sendto(b"done", echo.getsockname())
    thread.join(5)
    echo.close()
    silent.close()


def test_the_sweep_tells_answered_refused_and_silent_ports(udp_device) -> None:
    echo, silent, closed = udp_device
    transcript = Transcript("sweep")
    result = net.scan_udp(
        LOOPBACK, "127.0.0.1", [echo, silent, closed], lambda port: (b"ping",),
        concurrency=8, wait=0.5, deadline=Deadline(10), transcript=transcript,
    )  # fmt: skip
    assert [u.port for u in result.answered] == [echo]
    assert len(result.answered[0].datagrams) == net.UDP_KEPT_DATAGRAMS
    datagram = result.answered[0].datagrams[0]
    assert (datagram.length, len(datagram.data)) == (9000, net.UDP_KEPT_BYTES)  # kept cut
    assert result.silent == (silent,)
    assert result.refused == 1
    assert result.ports_scanned == 3
    assert "refused 1" in transcript.items[-1].note


def test_a_host_that_refuses_nothing_is_judged_on_answers_and_says_so() -> None:
    found = UdpFinding(161, "snmp", "SNMP v1 answers community 'public'", b"")
    exposure = UdpExposure("10.0.0.1", 3, (161, 123), (found,), 0, (), (53, 123), 1.0)
    assert exposure.problems() == []
    assert exposure.expected_quiet == (123,)
    assert "only services that answered a request could be judged" in exposure.limits()[0]
    judged = UdpExposure("10.0.0.1", 3, (), (found,), 2, (), (), 1.0)
    assert judged.problems() == ["161/udp: snmp (SNMP v1 answers community 'public')"]
    assert judged.limits() == []
    blind = UdpExposure("10.0.0.1", 3, (), (found,), 0, (), (), 1.0, icmp_readable=False)
    assert "no per-socket ICMP error queue" in blind.limits()[0]
    assert judged.record()["answering"] == [
        {"port": 161, "protocol": "snmp", "detail": found.detail, "answer": ""}
    ]


def test_the_sweep_asks_silent_ports_again_with_every_request(udp_device) -> None:
    _, silent, closed = udp_device
    transcript = Transcript("sweep")
    exposure = udp_exposure.sweep(
        LOOPBACK, "127.0.0.1", [silent, closed], [], concurrency=16, wait=0.3,
        deadline=Deadline(20), transcript=transcript,
    )  # fmt: skip
    assert silent in exposure.silent
    assert closed not in exposure.silent
    sent_to_silent = [i for i in transcript.items if i.note == f"to {silent}/udp"]
    every = sum(len(a.requests) for a in udp_services.asks("127.0.0.1", 0))
    assert len(sent_to_silent) == every  # the empty datagram of the first round is not shown


def _closed_ports(count: int) -> list[int]:
    """Ports a UDP socket held on 127.0.0.1 a moment ago: closed now."""
    ports = []
    for _ in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
            gone.bind(("127.0.0.1", 0))
            ports.append(gone.getsockname()[1])
    return ports


@pytest.mark.parametrize("concurrency", [1, 8])
def test_closed_ports_asked_with_several_datagrams_are_refused(concurrency: int) -> None:
    """Linux fails the send after a refused datagram (the error is still pending) and
    sends nothing: each datagram goes out anyway, and each refusal is matched to its port
    through the error queue, also on a socket that asked a refused port before."""
    closed = _closed_ports(6)
    transcript = Transcript("sweep")
    result = net.scan_udp(
        LOOPBACK, "127.0.0.1", closed, lambda port: (b"one", b"two"),
        concurrency=concurrency, wait=2.0, deadline=Deadline(10), transcript=transcript,
    )  # fmt: skip
    assert (result.refused, result.silent, result.answered) == (len(set(closed)), (), ())
    assert result.duration_s < 1.0  # decided by the errors, not by the wait


def test_an_icmp_error_without_its_port_is_the_sockets_own_and_stops_reuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kernel whose error queue names no port: each error is taken for the socket's own
    port, which is only sound while a socket asks one port, so none is reused."""
    real = net._queued_error

    def portless(sock: socket.socket, family: int) -> net._QueuedError | None:
        error = real(sock, family)
        return None if error is None else dataclasses.replace(error, port=-1)

    monkeypatch.setattr(net, "_queued_error", portless)
    closed = _closed_ports(5)
    result = net.scan_udp(
        LOOPBACK, "127.0.0.1", closed, lambda port: (b"x",),
        concurrency=1, wait=2.0, deadline=Deadline(10), transcript=Transcript("sweep"),
    )  # fmt: skip
    assert (result.refused, result.silent) == (len(set(closed)), ())


def _bound_udp_ports() -> set[int]:
    """The UDP ports a socket holds on 127.0.0.1 or every address, now (Linux)."""
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local = row.split()[1]
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not Path("/proc/net/udp").exists(), reason="reads Linux's socket table")
def test_a_sweep_of_our_own_address_also_asks_the_ports_its_sockets_hold() -> None:
    """The sweep's own probe sockets hold ports of the address it sweeps (the harness and
    the device share 127.0.0.1): each is asked once its socket is gone, not reported
    silent or answering because our own datagram reached it."""
    result = net.scan_udp(
        LOOPBACK, "127.0.0.1", range(1, 65536), lambda port: (b"",),
        concurrency=64, wait=0.5, deadline=Deadline(60), transcript=Transcript("sweep"),
    )  # fmt: skip
    others = _bound_udp_ports()  # sockets of other programs: silent or answering, rightly
    assert set(result.silent) <= others
    assert {u.port for u in result.answered} <= others
    assert result.refused >= 65535 - len(others)
    assert result.ports_scanned == 65535


# --- IPv6-only ports ---------------------------------------------------------------------------


def _scan(address: str, open_ports: tuple[int, ...], filtered: tuple[int, ...] = ()) -> ScanResult:
    return ScanResult(address, address, 100, open_ports, filtered, 0.1)


def test_ports_open_only_over_ipv6_are_named_closed_or_filtered_on_ipv4() -> None:
    stacks = DualStack(_scan("192.0.2.1", (22, 443), (8080,)), _scan("2001:db8::1", (22, 8080, 23)))
    assert stacks.only_ipv6 == (23, 8080)
    assert stacks.only_ipv4 == (443,)
    assert stacks.problems() == [
        "23/tcp open on 2001:db8::1, closed on 192.0.2.1",
        "8080/tcp open on 2001:db8::1, filtered on 192.0.2.1",
    ]
    assert DualStack(_scan("192.0.2.1", (22,)), _scan("2001:db8::1", ())).problems() == []


# --- each service's own protocol ---------------------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[int]:
    """A plain TCP server answering every connection with an HTTP response."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        for _ in range(3):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(5)


def _speak(port: int, protocol: str, timeout: float = 2) -> service_protocols.ServiceSpoke:
    service = Service(name="svc", port=port, protocol=protocol)  # type: ignore[arg-type]
    return service_protocols.speak(
        LOOPBACK, "127.0.0.1", service, server_name=None, timeout=timeout,
        transcript=Transcript("t"),
    )  # fmt: skip


def test_any_http_status_completes_http_and_plain_http_is_not_https(http_server: int) -> None:
    spoke = _speak(http_server, "http")
    assert (spoke.spoke, spoke.detail) == (Spoke.COMPLETED, "HTTP/1.1 401 Unauthorized")
    wrong = _speak(http_server, "https")
    assert wrong.spoke is Spoke.OTHER
    assert "TLS handshake failed" in wrong.detail
    assert wrong.instead.startswith("http (HTTP/1.1 401")


def test_a_refused_port_is_closed_and_a_silent_one_undecided() -> None:
    with socket.socket() as gone:
        gone.bind(("127.0.0.1", 0))
        closed = gone.getsockname()[1]
    assert _speak(closed, "ssh").spoke is Spoke.CLOSED
    with socket.create_server(("127.0.0.1", 0)) as mute:  # accepts (backlog), never speaks
        spoke = _speak(mute.getsockname()[1], "mqtt", timeout=0.3)
        assert spoke.spoke is Spoke.UNDECIDED
        assert _speak(mute.getsockname()[1], "other").spoke is Spoke.COMPLETED


def test_the_dicom_association_request_proposes_verification() -> None:
    pdu = service_protocols.associate_request(b"ANY-SCP", b"MEDSEC")
    kind, _, length = struct.unpack(">BBI", pdu[:6])
    assert (kind, length) == (0x01, len(pdu) - 6)
    assert pdu[10:26] == b"ANY-SCP".ljust(16)
    assert service_protocols.VERIFICATION_SOP in pdu
    assert service_protocols.IMPLICIT_LITTLE_ENDIAN in pdu


# --- profile keys ------------------------------------------------------------------------------


def _profile(tmp_path: Path, network: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "schema: medsec/profile/v1\n"
        "device: {name: d, vendor: v, model: m, firmware: '1'}\n"
        "scope: {allow: [127.0.0.0/8, '::1/128']}\n"
        f"network: {network}\n"
    )
    return path


def test_the_udp_and_ipv6_keys_load_with_strict_defaults(tmp_path: Path) -> None:
    network = load_profile(_profile(tmp_path, "{host: 127.0.0.1}")).network
    assert network is not None
    assert (network.expected_udp, network.udp_ports, network.host6) == ((), "1-65535", None)
    given = "{host: 127.0.0.1, expected_udp: [161], udp_ports: '1-1024', host6: '::1'}"
    network = load_profile(_profile(tmp_path, given)).network
    assert network is not None
    assert (network.expected_udp, str(network.host6)) == ((161,), "::1")


@pytest.mark.parametrize(
    ("host6", "words"),
    [("127.0.0.2", "IPv6"), ("'2001:db8::1'", "outside the profile scope")],
)
def test_host6_must_be_an_in_scope_ipv6_address(tmp_path: Path, host6: str, words: str) -> None:
    path = _profile(tmp_path, f"{{host: 127.0.0.1, host6: {host6}}}")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert "network.host6" in str(caught.value)
    assert words in str(caught.value)
