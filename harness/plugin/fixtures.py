"""Fixtures every check may ask for: the run, the profile, scope, policy, evidence.

Fixtures of one family of checks (a console, the HTTP API, the update target) live with
the suites, in `testsuites/conftest.py`. The `tls_service` parameter stays here: which
targets a check runs against is the plugin's business, as it names each result's target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.config.profile import Policy, Profile, Service
from harness.core.errors import not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.plugin.session import MedsecSession
from harness.plugin.state import CONTEXT_KEY, medsec_session


@pytest.fixture(scope="session")
def medsec(pytestconfig: pytest.Config) -> MedsecSession:
    """The run's state; skips the check when pytest runs without --profile."""
    session = medsec_session(pytestconfig)
    if session is None:
        pytest.skip("no --profile given: medsec checks need a device profile")
    return session


@pytest.fixture(scope="session")
def profile(medsec: MedsecSession) -> Profile:
    return medsec.profile


@pytest.fixture(scope="session")
def scope(profile: Profile) -> Scope:
    return profile.scope.scope()


@pytest.fixture(scope="session")
def policy(profile: Profile) -> Policy:
    return profile.policy


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> EvidenceRecorder:
    """This check's evidence recorder (the test must carry @pytest.mark.check)."""
    context = request.node.stash.get(CONTEXT_KEY, None)
    if context is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `evidence` without a check marker")
    recorder: EvidenceRecorder = context.recorder
    return recorder


@pytest.fixture(scope="session")
def observe(medsec: MedsecSession) -> Callable[[str, Any], None]:
    """Record device identity seen on the wire (banner, version) for the report."""
    return medsec.observe


@pytest.fixture(scope="session")
def firmware_seen(medsec: MedsecSession) -> Callable[[str, str], None]:
    """Tell the run which firmware version a check read or installed (and which check)."""
    return medsec.firmware.seen


@pytest.fixture(scope="session")
def reveal(medsec: MedsecSession, pytestconfig: pytest.Config) -> SecretReveal:
    """Where `--reveal-secrets` writes credentials a check got in with."""
    return SecretReveal(medsec.run_dir, enabled=bool(pytestconfig.getoption("reveal_secrets")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`tls_service` runs a check once per TLS service the profile names."""
    if "tls_service" not in metafunc.fixturenames:
        return
    session = medsec_session(metafunc.config)
    services = list(session.profile.tls_services) if session else []
    if services:
        metafunc.parametrize("tls_service", services, ids=[s.name for s in services])
    else:
        metafunc.parametrize("tls_service", [None], ids=["tls"])


@pytest.fixture
def tls_service(request: pytest.FixtureRequest) -> Service:
    if request.param is None:
        not_applicable("the profile names no TLS service")
    service: Service = request.param
    return service
