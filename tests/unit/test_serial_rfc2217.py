"""Console URLs as pyserial opens them: RFC 2217 without a write timeout or control answers."""

from __future__ import annotations

import pytest
import serial.rfc2217

from harness.transports.serial import port_options


@pytest.mark.parametrize(
    ("pinned", "opened"),
    [
        ("rfc2217://127.0.0.1:7001", "rfc2217://127.0.0.1:7001?ign_set_control"),
        (
            "rfc2217://127.0.0.1:7001?timeout=5",
            "rfc2217://127.0.0.1:7001?timeout=5&ign_set_control",
        ),
        ("rfc2217://127.0.0.1:7001?ign_set_control", "rfc2217://127.0.0.1:7001?ign_set_control"),
        ("rfc2217://[::1]:7001", "rfc2217://[::1]:7001?ign_set_control"),
    ],
)
def test_an_rfc2217_console_waits_for_no_control_answer_and_has_no_write_timeout(
    pinned: str, opened: str
) -> None:
    options = port_options(pinned, 10.0)
    assert options.url == opened
    assert options.write_timeout is None


def test_pyserial_reads_the_options_it_is_given() -> None:
    client = serial.rfc2217.Serial()
    address = client.from_url(port_options("rfc2217://127.0.0.1:7001?timeout=2", 10).url)
    assert address == ("127.0.0.1", 7001)
    assert client._ignore_set_control_answer
    assert client._network_timeout == 2


@pytest.mark.parametrize("pinned", ["socket://127.0.0.1:7000", "/dev/ttyUSB0", "loop://"])
def test_other_consoles_keep_their_url_and_write_timeout(pinned: str) -> None:
    options = port_options(pinned, 10.0)
    assert (options.url, options.write_timeout) == (pinned, 10.0)
