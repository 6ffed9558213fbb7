"""Fixtures the check suites share: one per transport or kind of target.

The plugin (`harness.plugin.fixtures`) provides what every check needs: `profile`,
`scope`, `policy`, `evidence`, `observe`, `reveal`, `tls_service`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.config.profile import Profile
from harness.core.deadline import Deadline
from harness.core.errors import NotSupported, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes import profiled
from harness.probes.auth.credentials import LoginLedger, Pair
from harness.probes.auth.http_auth import HttpApi
from harness.probes.console import ConsolePrompts, DeviceReset
from harness.probes.crypto.cleartext import WELL_KNOWN_CLEARTEXT
from harness.probes.surface import debug_services
from harness.probes.surface.debug_services import DebugSurvey
from harness.probes.update.target import UpdateTarget, build_target
from harness.probes.update.trial import UpdateLedger
from harness.transports import net
from harness.transports.power import PowerPort
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget
from harness.updates.kit import ImageKit
from harness.updates.registry import kit_for
from testsuites._robust_steps import RobustSteps

SCAN_BUDGET_S = 540.0  # below the plugin's 600 s watchdog


@pytest.fixture
def robust(profile: Profile, scope: Scope, evidence: EvidenceRecorder) -> RobustSteps:
    """One ROBUST check's run: liveness before and after each case, evidence, verdict."""
    return RobustSteps(profile, scope, evidence)


@pytest.fixture(scope="session")
def ssh_target(profile: Profile, scope: Scope) -> SshTarget:
    """The SSH service and the profiled account, for checks that connect or log in."""
    target = profiled.ssh_target(profile, scope)
    if target is None:
        not_applicable("the profile has no ssh section")
    return target


@pytest.fixture(scope="session")
def console_prompts(profile: Profile) -> ConsolePrompts:
    if profile.serial is None:
        not_applicable("the profile has no serial section")
    return ConsolePrompts.of(profile.serial)


@pytest.fixture(scope="session")
def device_reset(profile: Profile, scope: Scope, power_port: PowerPort | None) -> DeviceReset:
    """How a check restarts the device: a power cycle where the run's labgrid place has
    the device's power switch, else serial.reset_command typed in a logged-in shell."""
    serial = profile.serial
    account = None
    if serial is not None and serial.username is not None and serial.password is not None:
        account = (serial.username, serial.password)
    lab = profile.labgrid
    return DeviceReset(
        command=serial.reset_command if serial else None,
        account=account,
        power=power_port,
        scope=scope,
        off_s=lab.power_off_s if lab else 2.0,
        timeout=lab.timeout_s if lab else profile.policy.timeout_s,
    )


@pytest.fixture
def console(profile: Profile, scope: Scope, evidence: EvidenceRecorder) -> Iterator[Console]:
    """The serial console, opened for this check and closed after it."""
    if profile.serial is None:
        not_applicable("the profile has no serial section")
    transcript = evidence.new_transcript("console", f"serial console {profile.serial.console_url}")
    port = Console(
        scope,
        profile.serial.console_url,
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
def login_ledger() -> LoginLedger:
    """Login attempts made by this run's checks, so none together trips a lockout."""
    return LoginLedger()


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
    except (LookupError, NotSupported) as exc:
        not_applicable(str(exc))


@pytest.fixture(scope="session")
def update_ledger(firmware_seen: Callable[[str, str], None]) -> UpdateLedger:
    """What the update checks of this run saw (first version, every change); each version
    is also reported to the run, so every later check records the firmware in force."""
    return UpdateLedger(on_version=firmware_seen)


@pytest.fixture(scope="session")
def tcp_scan(profile: Profile, scope: Scope) -> net.ScanResult:
    """One TCP connect scan per run (`network.scan_ports`, the well-known cleartext and
    debug ports), shared by SURFACE-001, SURFACE-005 and CRYPTO-010: one scan a run."""
    if profile.network is None:
        not_applicable("the profile has no network section")
    return _connect_scan(profile, scope, profile.network.host)


@pytest.fixture(scope="session")
def tcp_scan6(profile: Profile, scope: Scope) -> net.ScanResult:
    """The same scan of `network.host6`, the device's IPv6 address (SURFACE-009 asks for it
    once it has seen that the profile names one)."""
    assert profile.network is not None
    assert profile.network.host6 is not None
    return _connect_scan(profile, scope, str(profile.network.host6))


def _connect_scan(profile: Profile, scope: Scope, host: str) -> net.ScanResult:
    assert profile.network is not None
    policy = profile.policy
    well_known = set(WELL_KNOWN_CLEARTEXT) | set(debug_services.WELL_KNOWN)
    ports = set(net.parse_port_ranges(profile.network.scan_ports)) | well_known
    return net.scan_tcp(
        scope,
        host,
        ports,
        concurrency=policy.scan_concurrency,
        connect_timeout=policy.scan_connect_timeout_s,
        deadline=Deadline(SCAN_BUDGET_S),
    )


@pytest.fixture(scope="session")
def debug_survey(profile: Profile, scope: Scope, tcp_scan: net.ScanResult) -> DebugSurvey:
    """Which open ports answer a debug protocol (SURFACE-005; SURFACE-001 leaves them to it)."""
    return debug_services.survey(
        scope, tcp_scan.host, tcp_scan.open, timeout=profile.policy.timeout_s
    )
