"""medsec fleet without devices: the fleet file, templates, judging runs, the page, the seal."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.cli import fleet as fleet_cli
from harness.cli import main
from harness.cli.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from harness.cli.fleet_runs import DeviceJob, JobEnd, run_jobs
from harness.config.fleet import fleet_yaml, load_fleet, render_template
from harness.config.profile_paths import absolute_paths
from harness.core.errors import ProfileError
from harness.evidence.manifest import verify_run
from harness.reporting import fleet_page
from harness.reporting.fleet import DeviceRun, FleetMeta, fleet_results, judge_device
from harness.reporting.fleet_write import write_fleet
from harness.reporting.merge import unique_keys
from harness.reporting.results import Outcome
from harness.sim.fleet import plan
from harness.sim.weaknesses import PLANTED
from tests.unit.conftest import DATA, REPO
from tests.unit.run_folders import make_run

MODEL = REPO / "profiles" / "threat-models" / "infusion-pump.yaml"


def _profile(folder: Path, name: str = "pump.yaml", serial: str = "SN-000123") -> Path:
    """The profile tests' lab pump, beside its signing key."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "lab-signing-key.pem", folder / "lab-signing-key.pem")
    text = (DATA / "lab-pump.yaml").read_text()
    text = text.replace("../../profiles/threat-models/infusion-pump.yaml", str(MODEL))
    (folder / name).write_text(text.replace("SN-000123", serial))
    return folder / name


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUMP_SSH_PASSWORD", "unused")


def _fleet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def _messages(exc: pytest.ExceptionInfo[ProfileError]) -> list[str]:
    return [str(i) for i in exc.value.issues]


# The fleet file


def test_a_fleet_of_listed_profiles_loads_each_profile(tmp_path: Path) -> None:
    _profile(tmp_path / "pumps", "a.yaml", "SN-A")
    _profile(tmp_path / "pumps", "b.yaml", "SN-B")
    path = _fleet(
        tmp_path,
        "schema: medsec/fleet/v1\nname: Ward 3\ndevices:\n"
        "  - profile: pumps/a.yaml\n    name: bed-1\n  - profile: pumps/b.yaml\n",
    )
    fleet = load_fleet(path)
    assert fleet.name == "Ward 3"
    assert [d.name for d in fleet.devices] == ["bed-1", None]
    assert [d.device.device.serial_number for d in fleet.devices if d.device] == ["SN-A", "SN-B"]
    assert fleet.devices[1].where == f"{path}:6: devices[1].profile"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schema: medsec/fleet/v1\ndevices:\n  - profile: a.yaml\n    colour: red\n",
            "fleet.yaml:4: devices[0].colour: unknown key",
        ),
        ("schema: medsec/fleet/v2\ndevices: []\n", "fleet.yaml:1: schema: must be medsec/fleet/v1"),
        ("schema: medsec/fleet/v1\n", "fleet.yaml: (document): Value error, a fleet needs"),
        (
            "schema: medsec/fleet/v1\ntemplate:\n  profile: t.yaml\n  devices:\n"
            "    - {name: a}\n    - {name: a}\n",
            "device names must be unique: a",
        ),
        (
            "schema: medsec/fleet/v1\ntemplate:\n  profile: t.yaml\n  devices:\n"
            "    - {name: ../etc}\n",
            "fleet.yaml:5: template.devices[0].name: String should match pattern",
        ),
        (
            "schema: medsec/fleet/v1\ntemplate:\n  profile: t.yaml\n  devices: [{name: a}]\n",
            "fleet.yaml:3: template.profile: file not found",
        ),
    ],
)
def test_a_bad_fleet_file_names_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ProfileError) as exc:
        load_fleet(_fleet(tmp_path, text))
    assert any(expected in m for m in _messages(exc)), _messages(exc)


def test_an_invalid_listed_profile_is_named_with_its_fleet_line(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    profile.write_text(profile.read_text().replace("port: 22\n", "port: 99999\n"))
    with pytest.raises(ProfileError) as exc:
        load_fleet(_fleet(tmp_path, "schema: medsec/fleet/v1\ndevices:\n  - profile: pump.yaml\n"))
    messages = _messages(exc)
    assert messages[0].startswith(f"{tmp_path / 'fleet.yaml'}:3: devices[0].profile: ")
    assert any(m.startswith(f"{profile}:20: ssh.port: ") for m in messages), messages


def test_medsec_fleet_exits_2_for_a_bad_fleet_file_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    path = _fleet(tmp_path, "schema: medsec/fleet/v1\ndevices:\n  - profile: absent.yaml\n")
    assert main(["fleet", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "fleet.yaml:3: devices[0].profile" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_each_device_run_gets_the_fleet_s_lanes_and_zero_lanes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main
    from harness.cli.fleet import _command
    from harness.cli.parser import build_parser

    args = build_parser().parse_args(["fleet", "f.yaml", "--lanes", "5"])
    command = _command(args, tmp_path / "p.yaml", tmp_path / "run")
    assert command[command.index("--lanes") + 1] == "5"
    plain = build_parser().parse_args(["fleet", "f.yaml"])
    assert "--lanes" not in _command(plain, tmp_path / "p.yaml", tmp_path / "run")
    path = _fleet(tmp_path, "schema: medsec/fleet/v1\ndevices: []\n")
    assert main(["fleet", str(path), "--lanes", "0", "--out", str(tmp_path / "out")]) == 2
    assert "--lanes: at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_name_from_the_fleet_file_is_the_device_folder_exactly(tmp_path: Path) -> None:
    """Names are folder names as they stand; a device without one (its serial number) gives
    way. Before, a listed profile with serial bed-3 took `bed-3` from the template device
    named bed-3 (which got `bed-3-2`), and `bed.` became `bed`."""
    _profile(tmp_path / "pumps", "a.yaml", "bed-3")
    _profile(tmp_path / "pumps", "b.yaml", "bed-3")
    template = _profile(tmp_path / "templates", "pump.yaml")
    path = _fleet(
        tmp_path,
        "schema: medsec/fleet/v1\ndevices:\n  - profile: pumps/a.yaml\n"
        "  - profile: pumps/b.yaml\n"
        f"template:\n  profile: {template}\n  devices:\n    - name: bed-3\n    - name: bed\n",
    )
    assert fleet_cli._keys(load_fleet(path)) == ["bed-3-2", "bed-3-3", "bed-3", "bed"]
    trailing = _fleet(
        tmp_path,
        f"schema: medsec/fleet/v1\ntemplate:\n  profile: {template}\n"
        "  devices:\n    - name: bed.\n",
    )
    with pytest.raises(ProfileError) as refused:
        load_fleet(trailing)
    assert "template.devices[0].name: String should match pattern" in _messages(refused)[0]


# Templates


def _template_fleet(tmp_path: Path, values: str) -> Path:
    template = _profile(tmp_path / "templates", "pump.yaml")
    text = template.read_text()
    text = text.replace("serial_number: SN-000123", "serial_number: ${SERIAL}")
    text = text.replace("allow: [127.0.0.1/32]", "allow: ['${HOST}/32']")
    text = text.replace("127.0.0.1", "${HOST}").replace("port: 22", "port: ${SSH}")
    template.write_text(text)
    return _fleet(
        tmp_path,
        "schema: medsec/fleet/v1\ntemplate:\n  profile: templates/pump.yaml\n  devices:\n"
        f"    - name: bed-2\n      values: {values}\n",
    )


def test_a_template_device_is_rendered_with_its_values(tmp_path: Path) -> None:
    fleet = load_fleet(_template_fleet(tmp_path, "{HOST: 127.0.0.9, SERIAL: SN-9, SSH: 2222}"))
    out = tmp_path / "out" / "bed-2.yaml"
    profile = render_template(fleet.devices[0], out)
    assert profile.network is not None
    assert profile.network.host == "127.0.0.9"
    assert profile.device.serial_number == "SN-9"
    assert profile.ssh is not None
    assert profile.ssh.port == 2222
    rendered = yaml.safe_load(out.read_text())
    assert rendered["ssh"]["port"] == 2222  # a whole-value reference keeps its type
    assert rendered["ssh"]["password"] == "${PUMP_SSH_PASSWORD}"  # secrets stay in the env
    assert rendered["update"]["signing_key"] == str(
        (tmp_path / "templates" / "lab-signing-key.pem").resolve()
    )
    assert out.stat().st_mode & 0o077 == 0


def test_a_rendered_profile_that_is_invalid_says_which_device(tmp_path: Path) -> None:
    fleet = load_fleet(_template_fleet(tmp_path, "{HOST: 127.0.0.9, SERIAL: SN-9, SSH: 0}"))
    with pytest.raises(ProfileError) as exc:
        render_template(fleet.devices[0], tmp_path / "out" / "bed-2.yaml")
    messages = _messages(exc)
    assert "for " + str(tmp_path / "fleet.yaml") + ":5: template.devices[0]" in messages[0]
    assert any("ssh.port" in m for m in messages), messages


def test_relative_file_references_become_absolute_and_nothing_else(tmp_path: Path) -> None:
    data = {
        "threat_model": "infusion-pump",
        "ssh": {"username": "keys/not-a-path", "key_file": "keys/a.pem"},
        "policy": {"ssh_policy": "strict", "tls_ciphers": "policies/mine.yaml"},
        "update": {"payload": ["a.bin", "/abs/b.bin"], "signing_key": "${KEY}"},
        "network": {"services": [{"name": "x", "port": 1, "protocol": "ssh"}]},
    }
    found = absolute_paths(data, tmp_path)
    assert found["threat_model"] == "infusion-pump"  # a shipped model's name
    assert found["ssh"] == {"username": "keys/not-a-path", "key_file": f"{tmp_path}/keys/a.pem"}
    assert found["policy"] == {
        "ssh_policy": "strict",
        "tls_ciphers": f"{tmp_path}/policies/mine.yaml",
    }
    assert found["update"] == {
        "payload": [f"{tmp_path}/a.bin", "/abs/b.bin"],
        "signing_key": "${KEY}",
    }
    assert found["network"] == data["network"]


def test_a_written_fleet_file_loads(tmp_path: Path) -> None:
    a, b = _profile(tmp_path, "a.yaml", "SN-A"), _profile(tmp_path, "b.yaml", "SN-B")
    path = _fleet(tmp_path, fleet_yaml("two", [("one", a), ("two", b)], "a comment"))
    assert [d.name for d in load_fleet(path).devices] == ["one", "two"]


def test_device_keys_are_unique_folder_names() -> None:
    assert unique_keys(["SN-1", "SN-1", "a/b", "", "SN-1"]) == [
        "SN-1",
        "SN-1-2",
        "a_b",
        "device",
        "SN-1-3",
    ]


# Judging the runs


def _run(
    tmp_path: Path, key: str, checks: list[tuple[str, str, Outcome]], **kw: object
) -> DeviceRun:
    make_run(tmp_path / "devices" / key, checks, device=f"Pump {key}", serial=key)
    return DeviceRun(key=key, profile=tmp_path / f"{key}.yaml", **kw)  # type: ignore[arg-type]


def test_each_device_is_judged_from_its_exit_status_and_folder(tmp_path: Path) -> None:
    passed = _run(tmp_path, "a", [("CRYPTO-001", "api", Outcome.PASSED)], exit_code=0, duration_s=1)
    failed = _run(
        tmp_path,
        "b",
        [("CRYPTO-001", "api", Outcome.FAILED), ("CRYPTO-008", "ssh", Outcome.ERROR)],
        exit_code=1,
        duration_s=1,
    )
    refused = DeviceRun(key="c", profile=tmp_path / "c.yaml", exit_code=2, duration_s=0.5, name="C")
    late = DeviceRun(
        key="d", profile=tmp_path / "d.yaml", exit_code=130, duration_s=9, timed_out=True
    )
    never = DeviceRun(key="e", profile=tmp_path / "e.yaml", exit_code=None, duration_s=0)
    judged = {r.key: judge_device(r, tmp_path) for r in (passed, failed, refused, late, never)}
    assert {k: d.verdict for k, d in judged.items()} == {
        "a": "passed",
        "b": "failed",
        "c": "error",
        "d": "error",
        "e": "interrupted",
    }
    assert judged["b"].open_findings == 2
    assert judged["b"].failed_checks == ["CRYPTO-001[api]", "CRYPTO-008[ssh]"]
    assert judged["a"].manifest_sha256
    assert judged["a"].key_fingerprint
    assert judged["c"].name == "C"
    assert judged["c"].status == "no results"
    assert judged["e"].reason == "not started: the fleet was interrupted"
    results = fleet_results(_meta(tmp_path, interrupted=False), list(judged.values()))
    assert results.status == "interrupted"  # a device never started
    assert results.verdicts == {"passed": 1, "failed": 1, "error": 2, "interrupted": 1}
    assert not results.ok


def test_a_run_the_fleet_stopped_before_it_could_say_so_is_interrupted(tmp_path: Path) -> None:
    """Ctrl-C right after a device run started: the run dies of it while still importing
    (exit -2, or 1 from a traceback) and leaves no results. It was stopped, not undecided;
    a run that died so without being told to stop still is an error, and one told too late
    to matter keeps its own verdict."""
    told = DeviceRun(
        key="a", profile=tmp_path / "a.yaml", exit_code=-2, duration_s=0.1, stopped=True
    )
    crashed = DeviceRun(key="b", profile=tmp_path / "b.yaml", exit_code=-2, duration_s=0.1)
    finished = _run(
        tmp_path, "c", [("CRYPTO-001", "api", Outcome.FAILED)], exit_code=1, duration_s=1,
        stopped=True,
    )  # fmt: skip
    judged = {r.key: judge_device(r, tmp_path) for r in (told, crashed, finished)}
    assert {k: d.verdict for k, d in judged.items()} == {
        "a": "interrupted",
        "b": "error",
        "c": "failed",
    }
    assert "stopped by the fleet" in judged["a"].reason


def _meta(tmp_path: Path, *, interrupted: bool) -> FleetMeta:
    import datetime as dt

    return FleetMeta(
        name="ward <3>",
        fleet_file=tmp_path / "fleet.yaml",
        fleet_sha256="ab" * 32,
        started=dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc),
        interrupted=interrupted,
        options={"suite": "crypto"},
    )


def test_an_interrupted_run_is_interrupted_whatever_it_found(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", [("CRYPTO-001", "api", Outcome.FAILED)], exit_code=130, duration_s=3)
    device = judge_device(run, tmp_path)
    assert device.verdict == "interrupted"
    assert fleet_results(_meta(tmp_path, interrupted=True), [device]).status == "interrupted"


def test_the_fleet_folder_is_sealed_and_any_change_is_found(tmp_path: Path) -> None:
    runs = [
        _run(tmp_path, "a", [("CRYPTO-001", "api", Outcome.PASSED)], exit_code=0, duration_s=1),
        _run(tmp_path, "b", [("CRYPTO-001", "api", Outcome.FAILED)], exit_code=1, duration_s=1),
    ]
    results = fleet_results(
        _meta(tmp_path, interrupted=False), [judge_device(r, tmp_path) for r in runs]
    )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    write_fleet(tmp_path, results, Ed25519PrivateKey.generate(), key_source="test")
    assert verify_run(tmp_path).ok
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="run[a]"' in junit
    assert 'name="run[b]"' in junit
    assert "CRYPTO-001[b/api]" in junit
    assert 'failures="2"' in junit
    manifest = (tmp_path / "manifest.json").read_text()
    assert results.devices[0].manifest_sha256 in manifest
    evidence = tmp_path / "devices" / "b" / "results.json"
    evidence.write_text(evidence.read_text().replace("failed", "passed"))
    assert verify_run(tmp_path).modified == ("devices/b/results.json",)


def test_fleet_html_escapes_what_devices_and_profiles_say(tmp_path: Path) -> None:
    hostile = 'Pump <script>alert(1)</script> "\u202egnp.exe'
    run = DeviceRun(
        key="a",
        profile=tmp_path / "a.yaml",
        exit_code=2,
        duration_s=1,
        name=hostile,
        serial_number="<i onmouseover=x>",
    )
    results = fleet_results(_meta(tmp_path, interrupted=False), [judge_device(run, tmp_path)])
    page = fleet_page.render(results, tmp_path)
    assert "<script>alert" not in page
    assert "\u202e" not in page
    assert "<i onmouseover" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;\\u202egnp.exe" in page
    assert "ward &lt;3&gt;" in page
    assert 'data-device="a" data-verdict="error"' in page
    assert "no report" in page  # a link only to a report that exists
    assert "Content-Security-Policy" in page


# Running the device processes


def _job(tmp_path: Path, key: str, code: str) -> DeviceJob:
    return DeviceJob(key, (sys.executable, "-c", code), tmp_path / "logs" / f"{key}.log")


_WAITS_FOR_SIGINT = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(130))\n"
    "print('running', flush=True)\n"
    "time.sleep(60)\n"
)


def test_jobs_run_n_at_a_time_and_report_their_exit_status(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, str(n), f"import sys; print('hi'); sys.exit({n})") for n in range(4)]
    seen: list[JobEnd] = []
    ends = run_jobs(jobs, 2, 30, threading.Event(), seen.append)
    assert [e.exit_code for e in ends] == [0, 1, 2, 3]
    assert len(seen) == 4
    assert (tmp_path / "logs" / "3.log").read_text() == "hi\n"


def test_a_stop_sends_sigint_to_running_jobs_and_starts_no_more(tmp_path: Path) -> None:
    jobs = [_job(tmp_path, str(n), _WAITS_FOR_SIGINT) for n in range(3)]
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    ends = run_jobs(jobs, 2, 30, stop, lambda end: None)
    timer.cancel()
    assert [e.exit_code for e in ends] == [130, 130, None]
    assert "running" in (tmp_path / "logs" / "0.log").read_text()


def test_a_job_past_its_timeout_is_stopped_and_marked(tmp_path: Path) -> None:
    ends = run_jobs([_job(tmp_path, "slow", _WAITS_FOR_SIGINT)], 1, 1.0, threading.Event(), print)
    assert ends[0].timed_out
    assert ends[0].exit_code == 130


def test_signals_only_set_the_stop_event() -> None:
    from harness.cli.fleet_runs import signals_to

    stop = threading.Event()
    with signals_to(stop):
        signal.raise_signal(signal.SIGINT)
    assert stop.is_set()


# The emulated fleet's plan


def test_the_emulated_fleet_cycles_hardened_and_each_weakness_on_its_own_address() -> None:
    members = plan(len(PLANTED) + 3)
    assert members[0].weaknesses == ()
    assert members[0].label == "pump-001-hardened"
    assert [m.weaknesses for m in members[1 : len(PLANTED) + 1]] == [(w,) for w in PLANTED]
    assert members[len(PLANTED) + 1].weaknesses == ()
    assert len({m.host for m in members}) == len(members)
    assert members[0].host == "127.0.100.2"
    assert members[1].host == "127.0.100.3"
    assert [m.label for m in plan(3, "127.0.9.254", ["W-05"])] == [
        "pump-001-hardened",
        "pump-002-W-05",
        "pump-003-hardened",
    ]


@pytest.mark.parametrize(
    ("count", "first", "weaknesses", "message"),
    [
        (0, "127.0.100.2", PLANTED, "1 to 1000 pumps"),
        (3, "127.255.255.254", PLANTED, "would leave 127.0.0.0/8"),
        (2, "10.0.0.1", PLANTED, "would leave 127.0.0.0/8"),
        (2, "127.0.100.2", ["W-99"], "unknown weakness"),
    ],
)
def test_the_emulated_fleet_refuses_what_it_cannot_start(
    count: int, first: str, weaknesses: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan(count, first, weaknesses)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
def test_a_device_timeout_must_be_seconds_above_zero(value: str) -> None:
    """`nan` crashed the fleet with a KeyError after it made its folder; -1 stopped every
    device at once. Both are bad usage now (exit 2), before anything is made."""
    assert main(["fleet", "fleet.yaml", "--device-timeout", value]) == EXIT_USAGE


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_fleet_stopped_while_its_profiles_are_rendered_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """Ctrl-C or SIGTERM before any device ran: the fleet folder, with rendered profiles
    that hold secrets, is removed (it was left half-written and unsealed, and a new run
    with the same --out was refused)."""
    fleet_file = _template_fleet(tmp_path, "{HOST: 127.0.0.9, SERIAL: SN-9, SSH: 2222}")

    def signalled(*args: object) -> object:
        os.kill(os.getpid(), signum)
        time.sleep(1)  # the handler runs in between
        raise AssertionError("the signal did not stop the rendering")

    monkeypatch.setattr(fleet_cli, "render_template", signalled)
    out = tmp_path / "fleet-out"
    before = signal.getsignal(signal.SIGTERM)
    assert main(["fleet", str(fleet_file), "--out", str(out)]) == EXIT_INTERRUPTED
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) is before  # restored
