"""`--profile` and friends; starting the run when pytest is configured."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from harness.core.errors import MedsecError, ProfileError
from harness.plugin.session import MedsecSession
from harness.plugin.state import SESSION_KEY, medsec_session


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("medsec", "medsec-harness device checks")
    group.addoption("--profile", metavar="PATH", help="device profile (YAML) to check")
    group.addoption(
        "--allow-destructive",
        action="store_true",
        help="run destructive checks (also needs scope.destructive: true in the profile)",
    )
    group.addoption(
        "--medsec-out", metavar="DIR", help="run folder (default reports/<device>-<UTC>)"
    )
    group.addoption(
        "--reveal-secrets",
        action="store_true",
        help="write credentials a check got in with, in full, to a local file beside the run "
        "folder (never into the run folder or the report)",
    )
    group.addoption(
        "--fuzz-seed",
        type=int,
        metavar="N",
        help="seed of ROBUST-007's case lists: a run's recorded seed replays its exact cases "
        "(default: a fresh seed, recorded in the evidence)",
    )
    group.addoption(
        "--medsec-sarif",
        metavar="FILE",
        help="also write the results as SARIF 2.1.0 when the run ends, however it ends",
    )
    group.addoption(
        "--medsec-sarif-mode",
        choices=("github", "full"),
        default="github",
        help="github: failed checks only, each at its profile line; full: every outcome",
    )
    group.addoption(
        "--medsec-lanes",
        type=int,
        default=1,
        metavar="N",
        help="run the checks of independent interfaces (TLS, network, SSH, HTTP, console) in "
        "up to N lanes at once (5: all); 1: one check after the other, in collection order "
        "(default 1 until lanes have a longer record)",
    )
    group.addoption(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 key that signs the evidence manifest (default: a fresh key per run)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "check(id): the catalogue id (e.g. AUTH-001) this test gives evidence for"
    )
    profile_path = config.getoption("profile", None)
    if not profile_path or hasattr(config, "workerinput"):
        return
    out = config.getoption("medsec_out")
    key = config.getoption("signing_key")
    try:
        session = MedsecSession.start(
            Path(profile_path),
            out=Path(out) if out else None,
            signing_key=Path(key) if key else None,
            allow_destructive=bool(config.getoption("allow_destructive")),
            options={"args": [str(a) for a in config.invocation_params.args]},
        )
    except ProfileError as exc:
        raise pytest.UsageError(f"invalid profile:\n{exc}") from None
    except MedsecError as exc:
        raise pytest.UsageError(str(exc)) from None
    sarif = config.getoption("medsec_sarif")
    session.sarif_out = Path(sarif).resolve() if sarif else None
    session.sarif_mode = str(config.getoption("medsec_sarif_mode"))
    config.stash[SESSION_KEY] = session
    if config.pluginmanager.is_blocked("terminal"):
        # `medsec run`: no terminal shows a traceback and results hold the reason only,
        # while pytest's own style parses the source of every frame of every failure
        # (2 s of CPU in a run that fails 20 checks); the native one is a plain format.
        config.option.tbstyle = "native"


def pytest_sessionstart(session: pytest.Session) -> None:
    medsec = medsec_session(session.config)
    if medsec is None:
        return
    with contextlib.suppress(ImportError, KeyError):
        from pytest_metadata.plugin import metadata_key

        device = medsec.profile.device
        session.config.stash[metadata_key].update(
            {
                "Device": f"{device.name} ({device.vendor} {device.model})",
                "Firmware (profiled)": device.firmware,
                "Profile": f"{medsec.results.profile.path} sha256 {medsec.profile.sha256}",
                "Run folder": str(medsec.run_dir),
            }
        )
