"""Profiles load into frozen objects, and every mistake names file, line and field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.config.profile import load_profile
from harness.core.errors import ProfileError

DATA = Path(__file__).resolve().parents[1] / "data"
BASE = (DATA / "lab-pump.yaml").read_text()
THREATS = DATA.parents[1] / "profiles" / "threat-models" / "infusion-pump.yaml"


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a variant of the lab profile next to a copy of its key file."""
    monkeypatch.setenv("PUMP_SSH_PASSWORD", "s3cret-from-env")
    shutil.copy(DATA / "lab-signing-key.pem", tmp_path / "lab-signing-key.pem")

    def _write(old: str = "", new: str = "") -> Path:
        text = BASE.replace("../../profiles/threat-models/infusion-pump.yaml", str(THREATS))
        if old:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "pump.yaml"
        path.write_text(text)
        return path

    return _write


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _error(path: Path) -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return str(caught.value)


def test_the_design_shape_loads_into_frozen_typed_objects(write) -> None:
    path = write()
    profile = load_profile(path)
    assert profile.device.firmware == "2.4.1"
    assert [s.name for s in profile.tls_services] == ["therapy-api", "telemetry"]
    assert profile.ssh_host == "127.0.0.1"
    assert profile.update is not None
    assert profile.update.signing_key == path.parent / "lab-signing-key.pem"
    assert profile.threat_model == THREATS
    assert profile.waivers[0].expires.isoformat() == "2027-06-30"
    assert profile.sha256
    assert profile.source == path
    with pytest.raises(ValidationError):
        profile.device.firmware = "9"  # type: ignore[misc]


def test_env_values_fill_in_and_are_known_as_secrets(write) -> None:
    profile = load_profile(write())
    assert profile.ssh is not None
    assert profile.ssh.password is not None
    assert profile.ssh.password.get_secret_value() == "s3cret-from-env"
    assert "s3cret-from-env" in profile.secrets
    assert profile.secret_names == {"s3cret-from-env": "ssh.password"}
    assert "s3cret-from-env" not in repr(profile)


def test_env_default_is_used_when_the_variable_is_unset(write, monkeypatch) -> None:
    monkeypatch.delenv("PUMP_SSH_PASSWORD")
    path = write("${PUMP_SSH_PASSWORD}", "${PUMP_SSH_PASSWORD:-fallback}")
    profile = load_profile(path)
    assert profile.ssh is not None
    assert profile.ssh.password is not None
    assert profile.ssh.password.get_secret_value() == "fallback"


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "words"),
    [
        (
            "  firmware: 2.4.1\n",
            "  firmware: 2.4.1\n  firmwre: 2.4.2\n",
            "firmwre",
            "device.firmwre",
            "unknown key",
        ),
        ("port: 22\n", "port: twenty-two\n", "twenty-two", "ssh.port", "integer"),
        (
            "    - {name: telemetry, port: 8883",
            "    - {name: telemetry, port: 88830",
            "88830",
            "network.services[1].port",
            "less than or equal",
        ),
        ("  vendor: Example Medical\n", "", "device:", "device.vendor", "Field required"),
        (
            'tls_min_version: "1.2"',
            'tls_min_version: "1.5"',
            "tls_min_version",
            "policy.tls_min_version",
            "1.3",
        ),
        (
            "  host: 127.0.0.1\n",
            "  host: 10.1.2.3\n",
            "10.1.2.3",
            "network.host",
            "outside the profile scope",
        ),
        (
            "socket://127.0.0.1:4000",
            "socket://192.168.0.7:4000",
            "192.168.0.7",
            "serial.url",
            "outside the profile scope",
        ),
        (
            "signing_key: lab-signing-key.pem",
            "signing_key: keys/missing.pem",
            "missing.pem",
            "update.signing_key",
            "file not found",
        ),
        (
            "  - check: CRYPTO-007",
            "  - check: CRYPTO-999",
            "CRYPTO-999",
            "waivers[0].check",
            "not a check id",
        ),
        (
            "  username: service\n",
            "  username: service\n  username: root\n",
            "username: root",
            "ssh.username",
            "duplicate key",
        ),
        (
            "password: ${PUMP_SSH_PASSWORD}",
            "password: ${PUMP_UNSET_VARIABLE}",
            "PUMP_UNSET",
            "ssh.password",
            "PUMP_UNSET_VARIABLE is not set",
        ),
        (
            "schema: medsec/profile/v1",
            "schema: medsec/profile/v9",
            "schema:",
            "schema",
            "unsupported schema",
        ),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "out-of-range",
        "missing-field",
        "bad-choice",
        "host-out-of-scope",
        "serial-out-of-scope",
        "missing-file",
        "unknown-waiver-check",
        "duplicate-key",
        "missing-env",
        "schema-version",
    ],
)
def test_each_mistake_names_file_line_and_field(write, old, new, needle, field, words) -> None:
    path = write(old, new)
    message = _error(path)
    assert f"{path}:{_line_of(path, needle)}: {field}: " in message
    assert words in message


def test_bad_yaml_names_the_line(write) -> None:
    path = write("  model: IP-100\n", "  model: [IP-100\n")
    message = _error(path)
    assert message.startswith(f"{path}:")
    assert "invalid YAML" in message


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    message = _error(tmp_path / "nope.yaml")
    assert "nope.yaml" in message
    assert "cannot read" in message


def test_cli_validate_exits_2_with_the_located_message(write) -> None:
    path = write("  host: 127.0.0.1\n", "  host: 10.1.2.3\n")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PUMP_SSH_PASSWORD": "x", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert f"{path}:{_line_of(path, '10.1.2.3')}: network.host:" in done.stderr


def test_cli_validate_accepts_the_good_profile(write) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(write())],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PUMP_SSH_PASSWORD": "x"},
    )
    assert done.returncode == 0, done.stderr
    assert "17 threats" in done.stdout


def test_published_schema_is_current() -> None:
    from harness.config.profile import json_schema

    published = DATA.parents[1] / "docs" / "profile.schema.json"
    assert json.loads(published.read_text()) == json.loads(json_schema()), (
        "regenerate with: medsec schema > docs/profile.schema.json"
    )


def test_the_lab_template_is_valid_with_its_files_checked(monkeypatch, tmp_path) -> None:
    # Its key files are commented out until they exist, so nothing is skipped any more.
    monkeypatch.setenv("PUMP_SSH_PASSWORD", "x")
    template = DATA.parents[1] / "profiles" / "lab-device-template.yaml"
    profile = load_profile(shutil.copy(template, tmp_path / "copy.yaml"))
    assert profile.network is not None
    assert profile.network.host == "192.0.2.10"


def test_update_payload_is_one_file_or_a_list(write, tmp_path: Path) -> None:
    (tmp_path / "fw.bin").write_bytes(b"firmware")
    (tmp_path / "version.txt.in").write_text("{version}\n")
    (tmp_path / "sw-description.in").write_text('software = { version = "{version}"; }\n')
    (tmp_path / "vendor.crt").write_text("not read while loading")
    one = load_profile(write("  version_url:", "  payload: fw.bin\n  version_url:"))
    assert one.update is not None
    assert one.update.payload_files == (tmp_path / "fw.bin",)
    swu = (
        "  image_format: swupdate\n  signing_cert: vendor.crt\n"
        "  description_template: sw-description.in\n"
        "  payload: [fw.bin, version.txt.in]\n"
    )
    many = load_profile(write("  image_format: medsec-v1\n", swu))
    assert many.update is not None
    assert many.update.payload_files == (tmp_path / "fw.bin", tmp_path / "version.txt.in")
    path = write("  image_format: medsec-v1\n", "  image_format: swupdate\n")
    assert "image_format swupdate needs update.signing_cert" in _error(path)
    path = write("  version_url:", "  payload: [fw.bin, version.txt.in]\n  version_url:")
    assert "takes one payload file" in _error(path)
