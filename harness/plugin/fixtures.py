"""Fixtures the check suites use: the profile, scope, evidence, and one per transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.config.profile import Policy, Profile, Service
from harness.core.deadline import Deadline
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.plugin import CONTEXT_KEY, medsec_session, not_applicable
from harness.plugin.reveal import SecretReveal
from harness.plugin.session import MedsecSession
from harness.probes.auth.credentials import LoginLedger, Pair
from harness.probes.auth.http_auth import HttpApi
from harness.probes.auth.ssh_auth import SshTarget
from harness.probes.console import ConsolePrompts
from harness.probes.crypto.cleartext import WELL_KNOWN_CLEARTEXT
from harness.probes.update.target import NotSupported, UpdateTarget, build_target
from harness.probes.update.trial import UpdateLedger
from harness.transports import net
from harness.transports.serial import Console
from harness.updates.attacks import Unsupported
from harness.updates.kit import ImageKit, kit_for


@dataclass(frozen=True)
class SshEndpoint:
    """Where the device's SSH service listens, and the profiled account."""

    host: str
    port: int
    username: str
    key_file: Path | None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


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
def ssh_endpoint(profile: Profile) -> SshEndpoint:
    if profile.ssh is None:
        not_applicable("the profile has no ssh section")
    return SshEndpoint(
        profile.ssh_host, profile.ssh.port, profile.ssh.username, profile.ssh.key_file
    )


@pytest.fixture(scope="session")
def console_prompts(profile: Profile) -> ConsolePrompts:
    if profile.serial is None:
        not_applicable("the profile has no serial section")
    serial = profile.serial
    return ConsolePrompts(serial.login_prompt, serial.password_prompt, serial.shell_prompt)


@pytest.fixture
def console(profile: Profile, scope: Scope, evidence: EvidenceRecorder) -> Iterator[Console]:
    """The serial console, opened for this check and closed after it."""
    if profile.serial is None:
        not_applicable("the profile has no serial section")
    transcript = evidence.new_transcript("console", f"serial console {profile.serial.url}")
    port = Console(
        scope,
        profile.serial.url,
        baudrate=profile.serial.baudrate,
        timeout=profile.policy.timeout_s,
        transcript=transcript,
    )
    try:
        yield port
    finally:
        port.close()


@pytest.fixture(scope="session")
def default_pairs(profile: Profile) -> list[Pair]:
    """The profile's own default credentials (tried before the built-in list)."""
    return [
        Pair(c.username, c.password.get_secret_value(), "profile")
        for c in profile.auth.default_credentials
    ]


@pytest.fixture(scope="session")
def http_api(profile: Profile, scope: Scope) -> HttpApi:
    """The profiled HTTP(S) API."""
    if profile.http is None:
        not_applicable("the profile has no http section")
    return HttpApi(scope, profile.http, profile.tls.ca_file, profile.policy.timeout_s)


@pytest.fixture(scope="session")
def ssh_target(profile: Profile, scope: Scope) -> SshTarget:
    """The SSH service and the profiled account, for checks that log in."""
    if profile.ssh is None:
        not_applicable("the profile has no ssh section")
    password = profile.ssh.password.get_secret_value() if profile.ssh.password else None
    return SshTarget(
        scope,
        profile.ssh_host,
        profile.ssh.port,
        profile.policy.timeout_s,
        profile.ssh.username,
        profile.ssh.key_file,
        password,
    )


@pytest.fixture(scope="session")
def login_ledger() -> LoginLedger:
    """Login attempts made by this run's checks, so none together trips a lockout."""
    return LoginLedger()


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


@pytest.fixture(scope="session")
def update_target(profile: Profile, scope: Scope) -> UpdateTarget:
    """The profiled update channel and version reader."""
    try:
        return build_target(profile, scope)
    except NotSupported as exc:
        not_applicable(str(exc))


@pytest.fixture(scope="session")
def update_kit(profile: Profile) -> ImageKit:
    """The image kit of the profiled image format."""
    try:
        return kit_for(profile)
    except (LookupError, Unsupported) as exc:
        not_applicable(str(exc))


@pytest.fixture(scope="session")
def update_ledger() -> UpdateLedger:
    """What the update checks of this run saw (first version, every change)."""
    return UpdateLedger()


SCAN_BUDGET_S = 540.0  # below the plugin's 600 s watchdog


@pytest.fixture(scope="session")
def tcp_scan(profile: Profile, scope: Scope) -> net.ScanResult:
    """One TCP connect scan per run (`network.scan_ports` and the well-known cleartext
    ports), shared by SURFACE-001 and CRYPTO-010 so the device is scanned once."""
    if profile.network is None:
        not_applicable("the profile has no network section")
    network, policy = profile.network, profile.policy
    ports = set(net.parse_port_ranges(network.scan_ports)) | set(WELL_KNOWN_CLEARTEXT)
    return net.scan_tcp(
        scope,
        network.host,
        ports,
        concurrency=policy.scan_concurrency,
        connect_timeout=policy.scan_connect_timeout_s,
        deadline=Deadline(SCAN_BUDGET_S),
    )
