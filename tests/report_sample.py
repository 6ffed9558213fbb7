"""A synthetic run folder for the report page's tests and its measurement.

`build_run(folder, checks)` writes results.json and evidence files the way a run does
(every outcome, waivers, not-applicable checks, firmware that changes mid-run, hostile
device strings, a long transcript) and returns the `RunResults`.

    python -m tests.report_sample 5000 /tmp/synthetic [--measure]

builds a 5,000-check run folder, renders report.html into it, and with `--measure` opens
it in headless Chromium (Playwright, /usr/bin/chromium) and prints the page's size and
its open time.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

from harness.config import catalogue
from harness.config.threatmodel import load_threat_model
from harness.reporting.results import (
    ArtifactRecord,
    CheckRecord,
    DeviceInfo,
    FirmwareReading,
    HarnessInfo,
    Outcome,
    ProfileInfo,
    RunConfiguration,
    RunResults,
    ThreatModelInfo,
    WaiverRecord,
    save,
)

REPO = Path(__file__).resolve().parents[1]
THREAT_MODEL = REPO / "profiles" / "threat-models" / "infusion-pump.yaml"
HOSTILE = "<script>alert(1)</script> [/] \x1b[31mred\x1b[0m \u202eevil"
LAST_LINE = "LAST LINE OF THE LONG TRANSCRIPT 7f3a"
PROFILED = "2.4.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A mix like a real run's: mostly passes, some failures, a few of everything else.
_OUTCOMES = (
    [Outcome.PASSED] * 12 + [Outcome.FAILED] * 3 + [Outcome.ERROR, Outcome.NOT_APPLICABLE] * 2
)
_OUTCOMES.append(Outcome.WAIVED)


def _transcript(index: int, lines: int) -> str:
    rows = [f"# transcript of check {index}, started 2026-11-30T02:10:12+00:00"]
    rows += [
        f"+ {n * 0.004:8.3f}s < 'SSH-2.0-pumpd' banner line {n} of check {index}"
        for n in range(lines)
    ]
    return "\n".join(rows) + "\n"


def build_run(
    folder: Path,
    checks: int,
    *,
    transcript_lines: int = 18,
    long_lines: int = 1500,
) -> RunResults:
    """A run folder with `checks` records; check 0 carries the hostile strings and
    check 1 a `long_lines`-line transcript ending in `LAST_LINE`."""
    folder.mkdir(parents=True, exist_ok=True)
    model_path = THREAT_MODEL
    model = load_threat_model(model_path)
    ids = sorted(i for i in catalogue.CATALOGUE if not i.startswith("ROBUST"))
    records = []
    for index, (check_id, outcome) in enumerate(
        zip(itertools.cycle(ids), itertools.cycle(_OUTCOMES), strict=False)
    ):
        if index >= checks:
            break
        spec = catalogue.get(check_id)
        target = HOSTILE if index == 0 else f"svc-{index // len(ids)}"
        base = f"evidence/{check_id}/t{index}"
        (folder / base).mkdir(parents=True, exist_ok=True)
        lines = long_lines if index == 1 else transcript_lines
        text = _transcript(index, lines) + (f"{LAST_LINE}\n" if index == 1 else "")
        if index == 0:
            text += f"device said: {HOSTILE}\n"
        (folder / base / "session.txt").write_text(text)
        data = {"check": check_id, "attempts": [{"n": n, "ok": False} for n in range(8)]}
        (folder / base / "attempts.json").write_text(json.dumps(data, indent=2))
        artifacts = [
            ArtifactRecord(path=f"{base}/session.txt", title="transcript: session", shown=True),
            ArtifactRecord(path=f"{base}/attempts.json", title="attempts", shown=False),
        ]
        if index % 10 == 0:
            (folder / base / "hello.bin").write_bytes(bytes(range(256)) * 2)
            artifacts.append(
                ArtifactRecord(path=f"{base}/hello.bin", title="ClientHello", shown=True)
            )
        waived = outcome is Outcome.WAIVED
        records.append(
            CheckRecord(
                id=check_id,
                title=spec.title,
                family=spec.family.value,
                target=target,
                outcome=outcome,
                reason=(
                    f"banner {HOSTILE}"
                    if index == 0
                    else f"reason of check {index}" + ("\nits second line" if index == 2 else "")
                ),
                threats=list(model.threats_for_check(check_id)),
                controls=list(model.controls_for_check(check_id)),
                standards=list(spec.standards),
                cwe=list(spec.cwe),
                capec=list(spec.capec),
                evidence=[a.path for a in artifacts],
                duration_s=0.25,
                underlying_outcome=Outcome.FAILED if waived else None,
                waiver=WaiverRecord(
                    justification=f"accepted until the next release {HOSTILE}",
                    expires="2027-06-30",
                    applied=True,
                    approved_by="J. Reviewer (QA)",
                    reference="CAPA-1187",
                )
                if waived
                else None,
                summary=[f"attempt {n}: refused after 0.00{n}s" for n in range(4)]
                + ([f"banner {HOSTILE}"] if index == 0 else []),
                nodeid=f"testsuites/test_x.py::test_{index}",
                started="2026-11-30T02:10:12.066+00:00",
                finished="2026-11-30T02:10:12.302+00:00",
                severity=spec.severity.value,
                criterion=catalogue.criterion_for(spec, {"lockout_after_failures": 5}),
                firmware=PROFILED if index < checks * 0.8 else "2.5.0",
                artifacts=artifacts,
            )
        )
    results = RunResults(
        status="complete",
        harness=HarnessInfo(version="0.1.0", python="3.11.7", packages={"pytest": "9.0"}),
        profile=ProfileInfo(path="/lab/pump.yaml", sha256="ab" * 32),
        threat_model=ThreatModelInfo(
            path=str(model_path),
            sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(),
            system=model.system,
            version=model.version,
            document=model.model_dump(mode="json", by_alias=True),
        ),
        device=DeviceInfo(
            profiled={"name": f"Pump {HOSTILE}", "vendor": "Example", "firmware": PROFILED},
            observed={"ssh_identification": f"SSH-2.0-{HOSTILE}"},
        ),
        options={"allow_destructive": False},
        started="2026-11-30T02:10:11.000+00:00",
        finished="2026-11-30T02:20:11.000+00:00",
        checks=records,
        configuration=RunConfiguration(
            policy={"tls_min_version": "1.2", "ssh_policy": "strict", "lockout_after_failures": 5},
            crypto_policies={"tls": "strict 2025-01", "ssh": "strict 2025-01"},
            suites=["auth", "crypto", "update", "surface"],
            command=["medsec", "run", "pump.yaml", "--out", "run"],
            test_host={"hostname": "bench-3", "os": "Debian 12"},
            tester="A. Tester",
            organisation="Example Lab",
            independence="independent of the device's developers",
            signing_key_fingerprint="SHA256:abc",
            signing_key_source="generated for this run",
        ),
        implemented=ids,
        selected=[i for i in ids if not i.startswith("SURFACE")],
        firmware=[
            FirmwareReading(at="2026-11-30T02:10:11+00:00", version=PROFILED, source="start"),
            FirmwareReading(at="2026-11-30T02:18:00+00:00", version="2.5.0", source="UPDATE-001"),
            FirmwareReading(at="2026-11-30T02:20:11+00:00", version="2.5.0", source="end"),
        ],
    )
    save(results, folder / "results.json")
    return results


def open_time(page_path: Path) -> float:
    """Seconds from navigation until the page is loaded and laid out, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page()
        started = time.monotonic()
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.evaluate("document.documentElement.scrollHeight")
        elapsed = time.monotonic() - started
        browser.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    from harness.reporting.page import write_report

    parser = argparse.ArgumentParser(prog="python -m tests.report_sample")
    parser.add_argument("checks", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--measure", action="store_true", help="open it in headless Chromium")
    args = parser.parse_args(argv)
    results = build_run(args.folder, args.checks)
    started = time.monotonic()
    page = write_report(args.folder, results)
    rendered = time.monotonic() - started
    size = page.stat().st_size
    print(f"{args.checks} checks: {page} {size / 1e6:.1f} MB, rendered in {rendered:.2f} s")
    if args.measure:
        print(f"open in headless Chromium: {open_time(page):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
