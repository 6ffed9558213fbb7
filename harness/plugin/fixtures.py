"""Fixtures every check may ask for: the run, the profile, scope, policy, evidence.

Fixtures of one family of checks (a console, the HTTP API, the update target) live with
the suites, in `testsuites/conftest.py`. The `tls_service` and `fuzz_service` parameters
stay here: which targets a check runs against is the plugin's business, as it names each
result's target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from harness.config.profile import Policy, Profile, Service
from harness.core.errors import not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.evidence.reveal import SecretReveal
from harness.plugin.session import MedsecSession
from harness.plugin.state import CONTEXT_KEY, medsec_session
from harness.probes.robust import fuzz_corpus
from harness.transports.power import PowerPort


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
def power_port(medsec: MedsecSession) -> PowerPort | None:
    """The device's power switch, where the run's labgrid place has one a reset can use."""
    return medsec.power


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
    """`tls_service` runs a check once per TLS service the profile names, `fuzz_service`
    once per service ROBUST-007 has recorded exchanges for."""
    session = medsec_session(metafunc.config)
    profile = session.profile if session else None
    if "tls_service" in metafunc.fixturenames:
        _per_service(metafunc, "tls_service", profile.tls_services if profile else (), "tls")
    if "fuzz_service" in metafunc.fixturenames:
        services = profile.network.services if profile and profile.network else ()
        fuzzed = [s for s in services if s.protocol in fuzz_corpus.FUZZED_PROTOCOLS]
        _per_service(metafunc, "fuzz_service", fuzzed, "tls")


def _per_service(
    metafunc: pytest.Metafunc, name: str, services: Sequence[Service], absent: str
) -> None:
    if services:
        metafunc.parametrize(name, services, ids=[s.name for s in services])
    else:
        metafunc.parametrize(name, [None], ids=[absent])


@pytest.fixture
def tls_service(request: pytest.FixtureRequest) -> Service:
    if request.param is None:
        not_applicable("the profile names no TLS service")
    service: Service = request.param
    return service


@pytest.fixture
def fuzz_service(request: pytest.FixtureRequest) -> Service:
    if request.param is None:
        not_applicable("the profile names no TLS, SSH, HTTP or MQTT service to fuzz")
    service: Service = request.param
    return service
