"""`medsec run` on a profile written from sections, and its verdicts keyed `ID[target]`."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from harness.reporting.results import Outcome, load
from tests.integration.cli import medsec_run


def run(tmp_path: Path, host: str, name: str, *args: str, **sections: Any) -> dict[str, Any]:
    """`medsec run` on a profile of `sections`; {check id[target]: record} and the exit code."""
    document = {
        "schema": "medsec/profile/v1",
        "device": {"name": name, "vendor": "real daemon", "model": "loopback", "firmware": "n/a"},
        "scope": {"allow": [f"{host}/32"], "destructive": True},
        **sections,
    }
    profile = tmp_path / f"{name}.yaml"
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / f"run-{name}"
    started = time.monotonic()
    done = medsec_run(profile, out, *args)
    checks = {f"{c.id}[{c.target}]": c for c in load(out / "results.json").checks}
    return {"code": done.returncode, "checks": checks, "out": out, "s": time.monotonic() - started}


def concurrently(**jobs: Callable[[], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Run independent `medsec run`s at once: they mostly wait on the devices' delays."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def outcomes(result: dict[str, Any]) -> dict[str, Outcome]:
    return {key: check.outcome for key, check in result["checks"].items()}


def reasons(result: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {c.outcome.value}: {c.reason}" for k, c in result["checks"].items())
