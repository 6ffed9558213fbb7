"""`medsec merge`: verified runs of one harness major version into one sealed folder."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.cli import main
from harness.evidence.manifest import verify_run
from harness.reporting import results as res
from harness.reporting.results import Outcome
from tests.unit.run_folders import make_run

P, F = Outcome.PASSED, Outcome.FAILED
HOSTILE = "<script>alert(1)</script>\u202e"


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    scan = {"scan.json": {"scan": {"open": [22]}}}
    first = make_run(
        tmp_path / "a",
        [("AUTH-001", "ssh", P), ("SURFACE-001", "network", P)],
        evidence={("SURFACE-001", "network"): scan},
    )
    second = make_run(
        tmp_path / "b",
        [("AUTH-001", "ssh", F), ("SURFACE-001", "network", P)],
        evidence={("SURFACE-001", "network"): scan},
        device=f"Pump {HOSTILE}",
        serial="SN-2",
    )
    return first, second


def test_merged_folder_is_one_report_results_and_seal(
    tmp_path: Path, runs: tuple[Path, Path]
) -> None:
    out = tmp_path / "merged"
    assert main(["merge", *map(str, runs), "-o", str(out)]) == 0
    results = res.load(out / "results.json")  # the usual shape: every consumer reads it
    assert [d.key for d in results.devices] == ["SN-1", "SN-2"]
    assert {(c.device, c.id, c.outcome) for c in results.checks} >= {
        ("SN-1", "AUTH-001", P),
        ("SN-2", "AUTH-001", F),
    }
    for check in results.checks:
        for path in check.evidence:
            assert (out / path).is_file(), path  # links in the merged report resolve
    digests = {d.manifest_sha256 for d in results.devices}
    assert digests == {hashlib.sha256((r / "manifest.json").read_bytes()).hexdigest() for r in runs}
    manifest = (out / "manifest.json").read_text()
    assert all(d in manifest for d in digests)
    assert verify_run(out).ok
    assert verify_run(out / "devices" / "SN-2").ok
    page = (out / "report.html").read_text()
    assert page.count('class="device"') == 2
    assert 'data-device="SN-2"' in page
    assert "<script>alert" not in page
    names = [c.get("name") for c in ET.parse(out / "junit.xml").iter("testcase")]
    assert "AUTH-001[SN-2/ssh] Default credentials refused over SSH" in names
    (out / "devices/SN-1/evidence/SURFACE-001/network/scan.json").write_text("{}")
    assert not verify_run(out).ok
    assert main(["verify", str(out)]) == 1


def test_a_lab_key_signs_the_merge(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "lab.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "lab.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    out = tmp_path / "merged"
    assert main(["merge", *map(str, runs), "-o", str(out), "--signing-key", str(pem)]) == 0
    assert verify_run(out, public).ok


def test_refusals_leave_nothing_behind(
    tmp_path: Path, runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "merged"
    newer = make_run(tmp_path / "c", [("AUTH-001", "ssh", P)], version="1.0.0", serial="SN-3")
    assert main(["merge", str(runs[0]), str(newer), "-o", str(out)]) == 2
    assert "different harness major versions" in capsys.readouterr().err
    assert main(["merge", str(runs[0]), str(runs[0]), "-o", str(out)]) == 2
    assert "same run" in capsys.readouterr().err
    (runs[1] / "results.json").write_text("{}")
    assert main(["merge", *map(str, runs), "-o", str(out)]) == 2
    assert "does not verify" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "x").write_text("")
    assert main(["merge", str(runs[0]), "-o", str(out)]) == 2
    assert (out / "x").exists()
