"""`medsec validate`: env files, unset ${VAR}s, shipped threat models by name, the copied
template, and what it prints about interfaces and scope."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.profile import load_profile
from harness.config.yamlfile import read_env_file
from harness.core.errors import ProfileError

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "profiles" / "lab-device-template.yaml"
MINIMAL = (
    "schema: medsec/profile/v1\n"
    "device: {name: d, vendor: v, model: m, firmware: '1'}\n"
    "scope: {allow: [127.0.0.0/24]}\n"
)


@pytest.fixture(autouse=True)
def _no_template_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUMP_SSH_PASSWORD", "PUMP_UPDATE_PASSWORD", "PUMP_FACTORY_DEFAULT", "DEV_PW"):
        monkeypatch.delenv(name, raising=False)


def test_an_env_file_reads_name_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "bench.env"
    path.write_text(
        "# bench 3\n\nPLAIN=one\nexport EXPORTED=two\nQUOTED=\"three four\"\nSINGLE='5'\n"
        "EMPTY=\nWITH_EQUALS=a=b\n"
    )
    assert read_env_file(path) == {
        "PLAIN": "one",
        "EXPORTED": "two",
        "QUOTED": "three four",
        "SINGLE": "5",
        "EMPTY": "",
        "WITH_EQUALS": "a=b",
    }


def test_a_bad_env_line_is_located_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "bench.env"
    path.write_text("GOOD=x\nthis is hunter22\n")
    with pytest.raises(ProfileError) as caught:
        read_env_file(path)
    assert f"{path}:2:" in str(caught.value)
    assert "hunter22" not in str(caught.value)
    with pytest.raises(ProfileError, match="cannot read"):
        read_env_file(tmp_path / "missing.env")


def _profile(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "device.yaml"
    path.write_text(MINIMAL + extra)
    return path


def test_an_unset_variable_says_how_to_set_it(tmp_path: Path) -> None:
    path = _profile(tmp_path, "ssh: {host: 127.0.0.5, username: u, password: '${DEV_PW}'}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert f"{path}:4: ssh.password: environment variable DEV_PW is not set" in message
    assert "export DEV_PW=..." in message
    assert "--env-file" in message


def test_lenient_loading_lists_unset_variables_and_keeps_them_with_other_errors(
    tmp_path: Path,
) -> None:
    path = _profile(tmp_path, "ssh: {host: 127.0.0.5, username: u, password: '${DEV_PW}'}\n")
    profile = load_profile(path, require_env=False)
    assert [i.field for i in profile.unset_env] == ["ssh.password"]
    assert profile.secrets == frozenset()
    assert load_profile(path, env={"DEV_PW": "from-a-file"}).secret_names == {
        "from-a-file": "ssh.password"
    }
    broken = _profile(tmp_path, "ssh: {host: 10.9.9.9, username: u, password: '${DEV_PW}'}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(broken, require_env=False)
    assert [i.field for i in caught.value.issues] == ["ssh.host", "ssh.password"]


def test_a_threat_model_can_be_named_instead_of_located(tmp_path: Path) -> None:
    profile = load_profile(_profile(tmp_path, "threat_model: infusion-pump\n"))
    assert profile.threat_model == REPO / "profiles" / "threat-models" / "infusion-pump.yaml"
    with pytest.raises(ProfileError, match=r"no shipped threat model .*shipped: infusion-pump"):
        load_profile(_profile(tmp_path, "threat_model: infusion-pmup\n"))
    own = tmp_path / "infusion-pump"  # a file of that name beside the profile wins
    shutil.copy(profile.threat_model, own)
    assert load_profile(_profile(tmp_path, "threat_model: infusion-pump\n")).threat_model == own


def test_the_template_validates_wherever_it_is_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "elsewhere" / "my-pump.yaml"
    copy.parent.mkdir()
    shutil.copy(TEMPLATE, copy)
    assert main(["validate", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "valid medsec/profile/v1" in out
    assert "17 threats" in out
    assert "needed before medsec run" in out
    assert "PUMP_SSH_PASSWORD is not set" in out
    env = tmp_path / "bench.env"
    env.write_text("PUMP_SSH_PASSWORD=bench-3-secret\n")
    assert main(["validate", str(copy), "--env-file", str(env)]) == 0
    assert "needed before medsec run" not in capsys.readouterr().out


def test_run_refuses_an_unset_variable_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "my-pump.yaml"
    shutil.copy(TEMPLATE, copy)
    assert main(["run", str(copy), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "PUMP_SSH_PASSWORD is not set: export PUMP_SSH_PASSWORD=..." in error
    assert not (tmp_path / "run").exists()


def test_validate_names_every_interface_and_the_scope_rule_of_each_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(
        tmp_path,
        "network:\n  host: 127.0.0.5\n  services: [{name: api, port: 443, protocol: https}]\n"
        "ssh: {username: service, password: pw-1234}\n"
        "http: {base_url: 'https://127.0.0.6:8443'}\n"
        "tls_client: {listen: '127.0.0.9:8883'}\n",
    )
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    for line in (
        "  network    127.0.0.5, expected TCP []",
        "  ssh        127.0.0.5:22 as service (password)",
        "  tls        api 443/https",
        "  tls_client the device connects out; the harness listens on 127.0.0.9:8883",
        "  http       https://127.0.0.6:8443, login json",
        "  absent:    serial, mqtt, update (their checks end as not applicable)",
        "  network.host 127.0.0.5: 127.0.0.5 inside 127.0.0.0/24",
        "  ssh (network.host) 127.0.0.5: 127.0.0.5 inside 127.0.0.0/24",
        "  http.base_url 127.0.0.6: 127.0.0.6 inside 127.0.0.0/24",
    ):
        assert line in out.splitlines(), line
    assert "tls_client.listen 127.0.0.9:8883: not checked against scope.allow" in out


def test_secrets_are_named_by_their_keys_and_public_defaults_are_not_secrets(
    tmp_path: Path,
) -> None:
    path = _profile(
        tmp_path,
        "http:\n  base_url: 'https://127.0.0.6'\n"
        "  account: {username: admin, password: '${DEV_PW}'}\n"
        "  low_privilege_account: {username: op, password: '${DEV_PW}'}\n"
        "auth:\n  default_credentials: [{username: service, password: '${FACTORY}'}]\n"
        "  lockout_account: {ssh: {username: x, password: Spare-Account-1}}\n",
    )
    profile = load_profile(path, env={"DEV_PW": "s3cret-api", "FACTORY": "ip100-default"})
    assert profile.secret_names == {
        "s3cret-api": "http.account.password, http.low_privilege_account.password",
        "Spare-Account-1": "auth.lockout_account.ssh.password",
    }
