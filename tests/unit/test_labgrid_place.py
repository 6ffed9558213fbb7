"""The labgrid place, without a coordinator: scope refusals, the missing extra, what a
place's resources give the run, and the power switch's requests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from harness.config.profile import load_profile
from harness.core.errors import OutOfScope, ProfileError
from harness.core.scope import Scope
from harness.transports import labgrid_place
from harness.transports.power import PowerPort, _switch_url, power_port

LOOPBACK = Scope.of(["127.0.0.1/32"])
SERIAL = ("NetworkSerialPort", {"host": "127.0.0.1", "port": 4001, "speed": 57600})
POWER = (
    "NetworkPowerPort",
    {"model": "rest", "host": "http://127.0.0.1:4002/p/{index}", "index": 3},
)
AWAY = ("NetworkPowerPort", {"model": "rest", "host": "http://10.9.9.9/{index}", "index": 0})


def _profile(tmp_path: Path, **sections: object) -> Path:
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": "pump", "vendor": "v", "model": "m", "firmware": "1"},
        "scope": {"allow": ["127.0.0.1/32"]},
        "serial": {"username": "service"},
        **sections,
    }
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_coordinator_outside_the_scope_is_a_profile_error(tmp_path: Path) -> None:
    path = _profile(tmp_path, labgrid={"place": "bench-3", "coordinator": "10.1.2.3:20408"})
    with pytest.raises(ProfileError, match=r"labgrid\.coordinator: 10\.1\.2\.3 is outside"):
        load_profile(path)


def test_the_coordinator_is_checked_again_before_connecting() -> None:
    with pytest.raises(OutOfScope, match=r"10\.1\.2\.3 \(labgrid.coordinator\)"):
        labgrid_place.acquire("bench-3", "10.1.2.3:20408", LOOPBACK, timeout=1)


def test_a_console_needs_a_url_or_a_labgrid_place(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"serial\.url is required, unless a labgrid place"):
        load_profile(_profile(tmp_path))
    path = _profile(tmp_path, labgrid={"place": "bench-3", "coordinator": "127.0.0.1:20408"})
    profile = load_profile(path)
    assert profile.serial is not None
    assert profile.serial.url is None
    with pytest.raises(LookupError):
        _ = profile.serial.console_url
    given = profile.with_console("rfc2217://127.0.0.1:4001", 57600)
    assert given.serial is not None
    assert given.serial.console_url == "rfc2217://127.0.0.1:4001"
    assert given.serial.username == "service"
    assert given.sha256 == profile.sha256


def test_without_the_extra_the_error_names_it_and_its_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("labgrid", "labgrid.remote", "labgrid.remote.client"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(labgrid_place.LabgridMissing) as raised:
        labgrid_place.acquire("bench-3", "127.0.0.1:20408", LOOPBACK, timeout=1)
    message = str(raised.value)
    assert "pip install 'medsec-harness[labgrid]'" in message
    assert "Shared lab hardware (labgrid)" in message


def test_the_place_gives_the_console_at_the_checked_address_and_its_power_port() -> None:
    info = labgrid_place.place_from_resources(
        "bench-3", "localhost:20408", "127.0.0.1:20408", "host/user",
        {"ex/pump/NetworkSerialPort/console": SERIAL, "ex/pump/NetworkPowerPort/mains": POWER},
        LOOPBACK,
    )  # fmt: skip
    assert info.serial_url == "rfc2217://127.0.0.1:4001"
    assert info.baudrate == 57600
    assert info.power == PowerPort("rest", POWER[1]["host"], 3, "ex/pump/NetworkPowerPort/mains")
    assert info.summary()["power"].startswith("ex/pump/NetworkPowerPort/mains (rest")


@pytest.mark.parametrize(
    ("resources", "error"),
    [
        ({"e/g/NetworkSerialPort/c": ("NetworkSerialPort", {"host": "10.9.9.9", "port": 1})},
         r"10\.9\.9\.9 \(the serial port of labgrid place 'p'\) is outside"),
        ({"e/g/NetworkSerialPort/c": SERIAL,
          "e/g/NetworkPowerPort/m": AWAY},
         r"10\.9\.9\.9 \(the power switch of labgrid place 'p'\) is outside"),
        ({"e/g/NetworkPowerPort/m": POWER}, "has no NetworkSerialPort"),
        ({"e/g/NetworkSerialPort/c": ("NetworkSerialPort", {**SERIAL[1], "protocol": "raw"})},
         "rfc2217 only"),
    ],
)  # fmt: skip
def test_what_the_place_gives_is_refused_when_it_cannot_be_used(
    resources: dict[str, tuple[str, dict[str, object]]], error: str
) -> None:
    with pytest.raises((OutOfScope, labgrid_place.PlaceUnavailable), match=error):
        labgrid_place.place_from_resources("p", "c:1", "127.0.0.1:1", "h/u", resources, LOOPBACK)


def test_a_power_model_this_harness_does_not_drive_leaves_the_reset_command() -> None:
    other = ("NetworkPowerPort", {"model": "gude", "host": "127.0.0.1", "index": 1})
    info = labgrid_place.place_from_resources(
        "p", "c:1", "127.0.0.1:1", "h/u",
        {"e/g/NetworkSerialPort/c": SERIAL, "e/g/NetworkPowerPort/m": other}, LOOPBACK,
    )  # fmt: skip
    assert info.power is None
    assert "'gude' is not driven" in info.power_note
    assert "serial.reset_command" in info.power_note


def test_the_power_switch_requests_of_each_model() -> None:
    rest = power_port("rest", "http://127.0.0.1:9/relay/{index}/value", 2, "r")
    simple = power_port("simplerest", "http://127.0.0.1:9/relay/{index}/{value}", 2, "s")
    assert isinstance(rest, PowerPort)
    assert isinstance(simple, PowerPort)
    assert _switch_url(rest, "1") == ("PUT", "http://127.0.0.1:9/relay/2/value", b"1")
    assert _switch_url(rest, "") == ("GET", "http://127.0.0.1:9/relay/2/value", None)
    assert _switch_url(simple, "0") == ("GET", "http://127.0.0.1:9/relay/2/0", None)
    assert _switch_url(simple, "") == ("GET", "http://127.0.0.1:9/relay/2", None)
    assert isinstance(power_port("rest", "telnet://127.0.0.1/{index}", 0, "t"), str)
