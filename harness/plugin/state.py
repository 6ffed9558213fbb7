"""Where the plugin keeps its state: the run in `config.stash`, each check in `item.stash`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.config import catalogue
from harness.evidence.recorder import EvidenceRecorder
from harness.plugin.session import MedsecSession
from harness.reporting.results import Outcome, WaiverRecord

SESSION_KEY = pytest.StashKey[MedsecSession]()
CONTEXT_KEY = pytest.StashKey["CheckContext"]()


@dataclass
class CheckContext:
    """What the plugin tracks for one check item between setup and teardown."""

    check: catalogue.CheckSpec
    target: str
    recorder: EvidenceRecorder
    started: str
    firmware: str | None = None  # the version in force when the check started
    outcome: Outcome | None = None
    underlying: Outcome | None = None
    reason: str = ""
    waiver: WaiverRecord | None = None
    duration_s: float = 0.0
    main_report: pytest.TestReport | None = None


def medsec_session(config: pytest.Config) -> MedsecSession | None:
    """The run's state, or None when pytest runs without `--profile`."""
    return config.stash.get(SESSION_KEY, None)


def check_id(item: pytest.Item) -> str | None:
    """The catalogue id of a test's `check` marker, if it has one."""
    marker = item.get_closest_marker("check")
    return str(marker.args[0]) if marker and marker.args else None
