"""`medsec merge`: several verified run folders as one report, one results.json, one seal.

The merged folder:

    MERGED/report.html        one section per device, one matrix across them
    MERGED/results.json       the usual shape (medsec/results/v1): every check of every run,
                              each with `device`; `devices` lists the source runs
    MERGED/junit.xml          testcases named CHECK[device/target]
    MERGED/devices/<key>/     each source run folder, copied whole (its own report.html,
                              evidence and signed manifest: `medsec verify` still passes on it)
    MERGED/manifest.json,.sig,.pub   SHA-256 of every file above, and `merged_from`: each
                              source run's manifest digest and signing key

Evidence is copied rather than linked, so the merged folder is self-contained: it can be
moved, archived or attached, and its links keep working.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import __version__
from harness.evidence.manifest import verify_run, write_manifest
from harness.evidence.recorder import slug
from harness.reporting import junit, page
from harness.reporting.results import (
    ArtifactRecord,
    CheckRecord,
    DeviceInfo,
    HarnessInfo,
    MergedDevice,
    ProfileInfo,
    RunResults,
    RunStatus,
    save,
)
from harness.reporting.sources import RunInputError, SourceRun, harness_major, load_verified

DEVICES = "devices"
# Worst first: a merge is only as complete as its least complete run.
_STATUS_ORDER: tuple[RunStatus, ...] = ("interrupted", "aborted", "running", "complete")


@dataclass(frozen=True)
class Merged:
    """What `merge_runs` wrote."""

    folder: Path
    results: RunResults
    fingerprint: str


def load_sources(run_dirs: list[Path]) -> list[SourceRun]:
    """Every run verified and loaded; refused if the same run is given twice or the runs
    come from different harness major versions."""
    sources = [load_verified(d) for d in run_dirs]
    seen: dict[str, Path] = {}
    for source in sources:
        if source.manifest_sha256 in seen:
            raise RunInputError(
                f"{source.path} and {seen[source.manifest_sha256]} are the same run "
                "(identical manifests): give each run once"
            )
        seen[source.manifest_sha256] = source.path
    majors = {s.harness_major for s in sources}
    if len(majors) > 1:
        versions = ", ".join(f"{s.path}: {s.results.harness.version}" for s in sources)
        raise RunInputError(
            f"the runs were made by different harness major versions ({versions}); "
            "their results and evidence are not comparable, so they are not merged"
        )
    if harness_major(__version__) not in majors:
        raise RunInputError(
            f"the runs were made by harness {sources[0].results.harness.version}, this is "
            f"{__version__} (another major version): merge them with that version"
        )
    return sources


def unique_keys(names: list[str]) -> list[str]:
    """A folder name per device (its serial number, else its name), slugged and made
    unique by a `-2`, `-3`... suffix, in order."""
    keys: list[str] = []
    for name in names:
        base = slug(name or "device")
        key = base
        for n in range(2, len(names) + 2):  # at most len(names) keys are taken
            if key not in keys:
                break
            key = f"{base}-{n}"
        keys.append(key)
    return keys


def _keys(sources: list[SourceRun]) -> list[str]:
    return unique_keys([s.serial_number or s.device_name for s in sources])


def _prepare(out: Path, sources: list[SourceRun]) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunInputError(f"{out} exists and is not an empty folder: choose a new one")
    target = out.resolve()
    for source in sources:
        folder = source.path.resolve()
        if target.is_relative_to(folder) or folder.is_relative_to(target):
            raise RunInputError(
                f"{out} and the run folder {source.path} must not contain each other"
            )


def _copy(source: SourceRun, folder: Path) -> None:
    """The run folder copied whole, then verified again: the copy is what was verified."""
    shutil.copytree(source.path, folder, symlinks=True)
    if not verify_run(folder).ok:
        raise RunInputError(f"{source.path} changed while it was copied: run the merge again")


def _record(record: CheckRecord, key: str) -> CheckRecord:
    prefix = f"{DEVICES}/{key}/"
    return record.model_copy(
        update={
            "device": key,
            "evidence": [prefix + p for p in record.evidence],
            "artifacts": [
                ArtifactRecord(path=prefix + a.path, title=a.title, shown=a.shown)
                for a in record.artifacts
            ],
        }
    )


def _device(source: SourceRun, key: str) -> MergedDevice:
    results = source.results
    return MergedDevice(
        key=key,
        name=source.device_name,
        serial_number=source.serial_number,
        firmware=str(results.device.profiled.get("firmware") or ""),
        folder=f"{DEVICES}/{key}",
        source=str(source.path),
        manifest_sha256=source.manifest_sha256,
        key_fingerprint=source.verification.fingerprint,
        harness_version=results.harness.version,
        status=results.status,
        started=results.started,
        finished=results.finished,
        profile=results.profile,
        device=results.device,
        threat_model=results.threat_model,
        counts=results.counts(),
    )


def merged_results(sources: list[SourceRun], keys: list[str]) -> RunResults:
    """One results.json of the usual shape for every run: `devices` and each check's
    `device` say which run a record came from."""
    first = sources[0].results
    models = {s.results.threat_model.sha256 for s in sources if s.results.threat_model}
    profiles = "".join(sorted(s.results.profile.sha256 for s in sources))
    finished = [s.results.finished for s in sources]
    names = Counter(s.device_name for s in sources)
    return RunResults(
        status=min((s.results.status for s in sources), key=_STATUS_ORDER.index),
        harness=HarnessInfo(
            version=__version__, python=first.harness.python, packages=first.harness.packages
        ),
        profile=ProfileInfo(
            path=f"{len(sources)} profiles (see devices)",
            sha256=hashlib.sha256(profiles.encode()).hexdigest(),
        ),
        threat_model=first.threat_model if len(models) <= 1 else None,
        device=DeviceInfo(
            profiled={"name": f"{len(sources)} devices: " + ", ".join(names)},
            observed={},
        ),
        options={"merged_from": [str(s.path) for s in sources]},
        started=min(s.results.started for s in sources),
        finished=None if None in finished else max(f for f in finished if f),
        checks=[
            _record(r, k) for s, k in zip(sources, keys, strict=True) for r in s.results.checks
        ],
        not_run=[
            f"{k}: {n}" for s, k in zip(sources, keys, strict=True) for n in s.results.not_run
        ],
        implemented=sorted({i for s in sources for i in s.results.implemented}),
        selected=sorted({i for s in sources for i in s.results.selected}),
        devices=[_device(s, k) for s, k in zip(sources, keys, strict=True)],
    )


def merge_runs(
    run_dirs: list[Path], out: Path, key: Ed25519PrivateKey, *, key_source: str
) -> Merged:
    """Verify, copy and merge the runs into `out`, then seal it."""
    sources = load_sources(run_dirs)
    _prepare(out, sources)
    keys = _keys(sources)
    out.mkdir(parents=True, exist_ok=True)
    for source, device_key in zip(sources, keys, strict=True):
        _copy(source, out / DEVICES / device_key)
    results = merged_results(sources, keys)
    save(results, out / "results.json")
    junit.write_junit(results, out / "junit.xml")
    page.write_report(out, results)
    fingerprint = write_manifest(
        out,
        key,
        key_source=key_source,
        meta={
            "merged_from": [
                {
                    "device": device_key,
                    "folder": f"{DEVICES}/{device_key}",
                    "source": str(source.path),
                    "manifest_sha256": source.manifest_sha256,
                    "key_fingerprint": source.verification.fingerprint,
                }
                for source, device_key in zip(sources, keys, strict=True)
            ]
        },
    )
    return Merged(out, results, fingerprint)
