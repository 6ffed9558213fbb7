"""The state of one medsec run inside pytest: profile, run folder, results, signing key.

Each finished check is appended to `checks.jsonl` at once (a crash loses nothing, and a
run of thousands of checks never rewrites a growing file); `results.json` is written when
the run starts and once when it ends.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import importlib.metadata
import platform
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from harness.config import crypto_policy
from harness.config.profile import Profile, load_profile
from harness.config.threatmodel import ThreatModel, load_threat_model
from harness.core.errors import MedsecError
from harness.core.redact import Redactor
from harness.evidence.manifest import key_fingerprint, load_signing_key
from harness.evidence.recorder import Artifact
from harness.plugin.firmware import FirmwareTracker
from harness.plugin.suites import implemented_checks
from harness.reporting import results as res
from harness.transports.labgrid_place import PlaceLease
from harness.transports.power import PowerPort

PACKAGES = (
    "pytest", "pytest-html", "paramiko", "scapy", "pyserial", "cryptography", "pydantic",
    "labgrid", "pyserial-labgrid",  # the labgrid extra, and its fork of pyserial (same files)
)  # fmt: skip


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def default_run_dir(profile: Profile, base: Path = Path("reports")) -> Path:
    """`reports/<device>-<UTC timestamp>/`."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", profile.device.name).strip("-").lower()[:40] or "device"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate = base / f"{name}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = base / f"{name}-{stamp}-{suffix}"
    return candidate


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class MedsecSession:
    """Everything the plugin keeps for one run, in `config.stash`."""

    profile: Profile
    threat_model: ThreatModel | None
    run_dir: Path
    signing_key: Ed25519PrivateKey
    key_source: str
    allow_destructive: bool
    results: res.RunResults
    redactor: Redactor
    firmware: FirmwareTracker
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    interrupted: bool = False  # SIGINT or SIGTERM arrived during the run
    sarif_out: Path | None = None  # --medsec-sarif: also write SARIF there at the end
    sarif_mode: str = "github"
    lease: PlaceLease | None = None  # the labgrid place this run holds
    closed: bool = False  # the run's files are being written: a late record is dropped
    _recording: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(
        cls,
        profile_path: Path,
        *,
        out: Path | None,
        signing_key: Path | None,
        allow_destructive: bool,
        options: dict[str, Any],
    ) -> MedsecSession:
        """Load the profile and threat model, create the run folder, write results.json."""
        profile = load_profile(profile_path)
        model = load_threat_model(profile.threat_model) if profile.threat_model else None
        run_dir = out or default_run_dir(profile)
        run_dir.mkdir(parents=True, exist_ok=True)
        key = load_signing_key(signing_key) if signing_key else Ed25519PrivateKey.generate()
        model_info = None
        if profile.threat_model and model:
            model_info = res.ThreatModelInfo(
                path=str(profile.threat_model),
                sha256=hashlib.sha256(profile.threat_model.read_bytes()).hexdigest(),
                system=model.system,
                version=model.version,
                document=model.model_dump(mode="json", by_alias=True),
            )
        fingerprint = key_fingerprint(key.public_key())
        key_source = f"file {signing_key}" if signing_key else "generated for this run"
        results = res.RunResults(
            status="running",
            harness=res.HarnessInfo(
                version=harness.__version__,
                python=platform.python_version(),
                packages=_package_versions(),
            ),
            profile=res.ProfileInfo(path=str(profile_path), sha256=profile.sha256),
            threat_model=model_info,
            device=res.DeviceInfo(profiled=profile.device.model_dump(), observed={}),
            options={**options, "allow_destructive": allow_destructive},
            started=utc_now(),
            finished=None,
            checks=[],
            configuration=_configuration(
                profile, options, allow_destructive, fingerprint, key_source
            ),
            implemented=sorted(implemented_checks()),
        )
        session = cls(
            profile=profile,
            threat_model=model,
            run_dir=run_dir,
            signing_key=key,
            key_source=key_source,
            allow_destructive=allow_destructive,
            results=results,
            redactor=Redactor(profile.secret_names),
            firmware=FirmwareTracker(utc_now, _version_reader(profile)),
        )
        (run_dir / res.CHECKS_LOG).write_text("")
        session.save()
        return session

    def use_place(self, lease: PlaceLease) -> None:
        """Run with the console the acquired labgrid place gives (it replaces any
        serial.url), and record the place in results.json."""
        self.lease = lease
        info = lease.info
        self.profile = self.profile.with_console(info.serial_url, info.baudrate)
        self.firmware.reader(_version_reader(self.profile))
        if self.results.configuration is not None:
            self.results.configuration.lab = {**info.summary(), "acquired": utc_now()}

    def release_place(self) -> None:
        """Give the labgrid place back (bounded, once) and record how that went."""
        if self.lease is None or self.lease.released is not None:
            return
        outcome = self.lease.release()
        lab = self.results.configuration.lab if self.results.configuration else None
        if lab is not None:
            lab.update(released=outcome, released_at=utc_now())

    @property
    def power(self) -> PowerPort | None:
        """The power port a device reset switches, where the run's labgrid place has one."""
        return self.lease.info.power if self.lease else None

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.json"

    @property
    def results_policy(self) -> dict[str, Any]:
        """The policy values in force, as results.json records them."""
        configuration = self.results.configuration
        return configuration.policy if configuration else {}

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.signing_key.public_key())

    def save(self) -> None:
        """results.json as it stands (at the start and the end of the run)."""
        self.results.firmware = list(self.firmware.readings)
        self.results.selected = sorted(self.selected)
        res.save(self.results, self.results_path)

    def record(self, check: res.CheckRecord, artifacts: list[Artifact]) -> None:
        """Keep one finished check, and append it to checks.jsonl at once (nothing lost;
        checks of several lanes end at once, hence the lock)."""
        line = check.model_dump_json() + "\n"
        with self._recording:
            if self.closed:  # a lane still ending after an interrupt: that check did not run
                return
            self.results.checks.append(check)
            self.artifacts[f"{check.nodeid}"] = artifacts
            with (self.run_dir / res.CHECKS_LOG).open("a", encoding="utf-8") as log:
                log.write(line)

    def close(self) -> None:
        """From now on the run's files are written and sealed: no record changes them."""
        with self._recording:
            self.closed = True

    def order_checks(self, nodeids: list[str]) -> None:
        """results.json lists the checks in collection order, not in the order they ended."""
        position = {nodeid: index for index, nodeid in enumerate(nodeids)}
        with self._recording:
            self.results.checks.sort(key=lambda c: position.get(c.nodeid, len(position)))

    def observe(self, key: str, value: Any) -> None:
        """Device identity as observed on the wire (banner, version read back)."""
        self.results.device.observed[key] = self.redactor.text(str(value))

    def traces(self, check_id: str) -> tuple[list[str], list[str]]:
        if self.threat_model is None:
            return [], []
        return (
            list(self.threat_model.threats_for_check(check_id)),
            list(self.threat_model.controls_for_check(check_id)),
        )


def _configuration(
    profile: Profile,
    options: dict[str, Any],
    allow_destructive: bool,
    fingerprint: str,
    key_source: str,
) -> res.RunConfiguration:
    """What a reviewer needs to know (and repeat) about how the run was set up."""
    policy = profile.policy
    crypto: dict[str, str] = {}
    for name, reference in (("tls", policy.tls_ciphers), ("ssh", policy.ssh_policy)):
        try:
            crypto[name] = crypto_policy.load(reference).label
        except MedsecError as exc:
            crypto[name] = f"{reference} (not loadable: {exc})"
    report = profile.report
    return res.RunConfiguration(
        policy=policy.model_dump(mode="json"),
        crypto_policies=crypto,
        suites=[str(a) for a in options.get("args", []) if str(a).endswith(".py")],
        command=[Path(sys.argv[0]).name, *sys.argv[1:]],
        allow_destructive=allow_destructive,
        test_host={
            "hostname": platform.node(),
            "platform": platform.platform(),
            "user": _user(),
        },
        tester=report.tester or "",
        organisation=report.organisation or "",
        independence=report.independence or "",
        signing_key_fingerprint=fingerprint,
        signing_key_source=key_source,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _version_reader(profile: Profile) -> Callable[[], str] | None:
    """Reads the running firmware version, where the profile says how; None otherwise."""
    from harness.core.transcript import Transcript
    from harness.probes.update.target import build_target

    if profile.update is None or (profile.serial is not None and profile.serial.url is None):
        return None  # no update section, or the console is not known until a place is acquired
    try:
        target = build_target(profile, profile.scope.scope())
    except MedsecError:
        return None
    return lambda: target.reader.read(Transcript("firmware version"))
