"""The connect scan finds real listeners, and nothing outside scope is ever touched."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.core.deadline import Deadline
from harness.core.errors import OutOfScope
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes.surface import ports
from harness.transports import net

LOOPBACK = Scope.of(["127.0.0.0/8"])


@pytest.fixture
def listeners() -> Iterator[list[int]]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(3)]
    yield [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()


def test_scan_finds_exactly_the_listeners(listeners: list[int]) -> None:
    low, high = min(listeners) - 50, max(listeners) + 50
    result = net.scan_tcp(
        LOOPBACK,
        "127.0.0.1",
        range(low, high),
        concurrency=64,
        connect_timeout=1,
        deadline=Deadline(30),
    )
    assert set(listeners) <= set(result.open)
    assert result.ports_scanned == high - low


def test_exposure_separates_expected_from_unexpected(listeners: list[int]) -> None:
    scan = net.scan_tcp(
        LOOPBACK,
        "127.0.0.1",
        [*listeners, 1],
        concurrency=8,
        connect_timeout=1,
        deadline=Deadline(30),
    )
    exposure = ports.tcp_exposure(
        LOOPBACK, scan, [*listeners[:2], 1], connect_timeout=1, transcript=Transcript("t")
    )
    assert exposure.unexpected == (listeners[2],)
    assert exposure.expected_closed == (1,)
    assert exposure.greetings[0][0] == listeners[2]


@pytest.mark.parametrize("host", ["10.0.0.1", "8.8.8.8", "::1"])
def test_out_of_scope_addresses_are_refused_before_any_packet(host: str) -> None:
    with pytest.raises(OutOfScope, match="outside the profile scope"):
        net.connect(LOOPBACK, host, 80, timeout=1)
    with pytest.raises(OutOfScope):
        net.scan_tcp(LOOPBACK, host, [80], concurrency=1, connect_timeout=1, deadline=Deadline(5))


def test_port_ranges() -> None:
    assert net.parse_port_ranges("1-3,8080") == [1, 2, 3, 8080]
    assert len(net.parse_port_ranges("1-65535")) == 65535
