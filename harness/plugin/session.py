"""The state of one medsec run inside pytest: profile, run folder, results, signing key."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from harness.config.profile import Profile, load_profile
from harness.config.threatmodel import ThreatModel, load_threat_model
from harness.core.redact import Redactor
from harness.evidence.manifest import key_fingerprint, load_signing_key
from harness.evidence.recorder import Artifact
from harness.reporting import results as res

PACKAGES = ("pytest", "pytest-html", "paramiko", "scapy", "pyserial", "cryptography", "pydantic")


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
    artifacts: dict[str, list[Artifact]] = field(default_factory=dict)
    implemented: set[str] = field(default_factory=set)
    interrupted: bool = False  # SIGINT or SIGTERM arrived during the run

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
            )
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
        )
        session = cls(
            profile=profile,
            threat_model=model,
            run_dir=run_dir,
            signing_key=key,
            key_source=f"file {signing_key}" if signing_key else "generated for this run",
            allow_destructive=allow_destructive,
            results=results,
            redactor=Redactor(profile.secrets),
        )
        session.save()
        return session

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.json"

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.signing_key.public_key())

    def save(self) -> None:
        res.save(self.results, self.results_path)

    def record(self, check: res.CheckRecord, artifacts: list[Artifact]) -> None:
        """Append one finished check and rewrite results.json at once (nothing lost on crash)."""
        self.results.checks.append(check)
        self.artifacts[f"{check.nodeid}"] = artifacts
        self.save()

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
