"""Writing a fleet folder: fleet.json, junit.xml and fleet.html, then its signed manifest.

The manifest is the run's own (`harness.evidence.manifest`): every file of the folder,
the device run folders included, plus `device_manifests`, each device run's manifest
digest and key, as `medsec merge` lists its sources.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.evidence.manifest import write_manifest
from harness.reporting import fleet_page, junit
from harness.reporting.fleet import FLEET_HTML, FLEET_JSON, FleetResults, device_results
from harness.reporting.results import Outcome, write_atomic


def _suites(results: FleetResults, fleet_dir: Path) -> list[junit.DeviceSuite]:
    suites = []
    for device in results.devices:
        run = device_results(fleet_dir / device.folder)
        outcome = {
            "passed": Outcome.PASSED,
            "failed": Outcome.FAILED,
        }.get(device.verdict, Outcome.ERROR)
        records = [c.model_copy(update={"device": device.key}) for c in run.checks] if run else []
        suites.append(junit.DeviceSuite(device.key, outcome, device.reason, records))
    return suites


def write_fleet(
    fleet_dir: Path, results: FleetResults, key: Ed25519PrivateKey, *, key_source: str
) -> str:
    """fleet.json, junit.xml and fleet.html, then the seal; returns the key fingerprint."""
    write_atomic(fleet_dir / FLEET_JSON, results.model_dump_json(by_alias=True, indent=2) + "\n")
    junit.write_device_suites(_suites(results, fleet_dir), fleet_dir / "junit.xml")
    write_atomic(fleet_dir / FLEET_HTML, fleet_page.render(results, fleet_dir))
    return write_manifest(
        fleet_dir,
        key,
        key_source=key_source,
        meta={
            "fleet": {"name": results.name, "file_sha256": results.fleet_sha256},
            "device_manifests": [
                {
                    "device": d.key,
                    "folder": d.folder,
                    "manifest_sha256": d.manifest_sha256,
                    "key_fingerprint": d.key_fingerprint,
                }
                for d in results.devices
            ],
        },
    )
