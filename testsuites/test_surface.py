"""SURFACE: the attack surface the device exposes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest

from harness.config import sbom
from harness.config.profile import Profile
from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, inconclusive, not_applicable
from harness.core.scope import Scope
from harness.evidence.recorder import EvidenceRecorder
from harness.probes.auth.http_auth import HttpApi
from harness.probes.console import ConsolePrompts, DeviceReset
from harness.probes.crypto.tls import default_server_name
from harness.probes.surface import (
    banners,
    components,
    console_output,
    console_secrets,
    debug_services,
    disclosure,
    fingerprints,
    ports,
    service_protocols,
    udp_exposure,
    web_headers,
)
from harness.probes.surface.banners import Banner, BannerSurvey
from harness.probes.surface.debug_services import DebugSurvey
from harness.probes.surface.dual_stack import DualStack
from harness.probes.surface.service_protocols import Spoke
from harness.transports.http import TlsTrust
from harness.transports.net import ScanResult, parse_port_ranges
from harness.transports.serial import Console
from testsuites._auth_steps import http_login, note_chain

SWEEP_BUDGET_S = 540.0  # the UDP sweep, below the plugin's 600 s watchdog
MAX_LISTED = 32  # findings named in a reason; the evidence has them all


@pytest.mark.check("SURFACE-001")
def test_no_unexpected_tcp_port(
    profile: Profile,
    scope: Scope,
    tcp_scan: ScanResult,
    debug_survey: DebugSurvey,
    evidence: EvidenceRecorder,
) -> None:
    assert profile.network is not None
    network = profile.network
    transcript = evidence.new_transcript("scan", f"TCP connect scan of {network.host}")
    exposure = ports.tcp_exposure(
        scope,
        tcp_scan,
        network.expected_tcp,
        connect_timeout=profile.policy.scan_connect_timeout_s,
        transcript=transcript,
        judged_elsewhere={p: f"{what}: SURFACE-005" for p, what in debug_survey.judged.items()},
    )
    evidence.json("scan.json", asdict(exposure), "scan result", show=True)
    scan = exposure.scan
    evidence.note(
        f"{scan.ports_scanned} ports of {scan.address} in {scan.duration_s:.2f}s: "
        f"open {list(scan.open)}, filtered {len(scan.filtered)}"
    )
    evidence.note(
        f"expected {list(exposure.expected)}; expected but closed "
        f"{list(exposure.expected_closed) or 'none'}"
    )
    for port, greeting in exposure.greetings:
        evidence.note(f"unexpected port {port}: first bytes {greeting}")
    for port, judged in exposure.judged_elsewhere:
        evidence.note(f"port {port}: {judged} judges it")
    unexpected = ", ".join(str(p) for p in exposure.unexpected)
    assert not exposure.unexpected, f"TCP ports open beyond network.expected_tcp: {unexpected}"
    evidence.reason = f"open ports {list(scan.open)} are all expected"


@pytest.mark.check("SURFACE-008")
def test_console_output_free_of_secrets(
    console: Console,
    console_prompts: ConsolePrompts,
    device_reset: DeviceReset,
    profile: Profile,
    evidence: EvidenceRecorder,
) -> None:
    deadline = Deadline(max(120.0, profile.policy.timeout_s * 12))
    captured = console_output.capture(
        console,
        console_prompts,
        device_reset,
        opening_s=min(2.0, profile.policy.timeout_s),
        deadline=deadline,
    )
    echo = console_output.echo_canary(console, console_prompts, deadline)
    text = captured.output.decode("utf-8", "replace")
    # Profile secrets are searched raw here; the evidence files redact them as always.
    found = console_secrets.scan(text + "\n" + echo.output, profile.secrets)
    evidence.text("console-output.txt", text, captured.source)
    evidence.note(
        f"{captured.source}: {len(captured.output)} bytes; "
        f"canary password {echo.canary_shown} typed"
    )
    for finding in found:
        evidence.note(f"line {finding.line}: {finding.kind}: {finding.excerpt}")
    problems = [f"{f.kind} (line {f.line}: {f.excerpt})" for f in found]
    if echo.echoed:
        problems.append("the password typed at the login was echoed back")
    assert not problems, f"the console printed secrets: {'; '.join(problems)}"
    evidence.reason = f"{captured.source} and the login exchange carry no key, password or token"


# --- SURFACE-002, 003, 009: UDP services, profiled protocols, IPv6-only ports -----------------


@pytest.mark.check("SURFACE-002")
def test_no_unexpected_udp_service(
    profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy = profile.network, profile.policy
    transcript = evidence.new_transcript("udp", f"UDP sweep of {network.host}")
    exposure = udp_exposure.sweep(
        scope, network.host, parse_port_ranges(network.udp_ports), network.expected_udp,
        concurrency=policy.scan_concurrency, wait=policy.scan_connect_timeout_s,
        deadline=Deadline(SWEEP_BUDGET_S), transcript=transcript,
    )  # fmt: skip
    evidence.json("udp.json", exposure.record(), "UDP sweep", show=True)
    evidence.note(
        f"{exposure.ports_scanned} UDP ports of {exposure.address} in "
        f"{exposure.duration_s:.2f}s: answered {[f.port for f in exposure.answering]}, "
        f"refused (ICMP port unreachable) {exposure.refused}, silent {len(exposure.silent)}"
    )
    for finding in exposure.answering:
        evidence.note(finding.summary())
    if exposure.silent:
        shown = ", ".join(map(str, exposure.silent[:MAX_LISTED]))
        evidence.note(f"silent after every request (open|filtered, not judged): {shown}")
    for limit in exposure.limits():
        evidence.note(limit)
    problems = exposure.problems()
    listed = "; ".join(problems[:MAX_LISTED]) + (
        f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    )
    assert not problems, f"UDP ports answer beyond network.expected_udp: {listed}"
    answering = [f.port for f in exposure.answering]
    degraded = " (degraded: no ICMP port-unreachable read)" if exposure.limits() else ""
    evidence.reason = f"answering UDP ports {answering} are all expected{degraded}"


@pytest.mark.check("SURFACE-003")
def test_services_speak_their_profiled_protocol(
    profile: Profile, scope: Scope, evidence: EvidenceRecorder
) -> None:
    assert profile.network is not None
    network, policy = profile.network, profile.policy
    if not network.services:
        not_applicable("the profile declares no network.services")
    transcript = evidence.new_transcript("protocols", "each service's own protocol")
    spoken = service_protocols.speak_all(
        scope, network.host, network.services,
        server_name=default_server_name(network.host, profile.tls.server_name),
        timeout=policy.timeout_s, workers=policy.max_connections, transcript=transcript,
    )  # fmt: skip
    evidence.json("services.json", [asdict(s) for s in spoken], "each service's protocol")
    for answer in spoken:
        evidence.note(answer.summary())
    wrong = [s.summary() for s in spoken if s.spoke in (Spoke.OTHER, Spoke.CLOSED)]
    assert not wrong, f"services not speaking their profiled protocol: {'; '.join(wrong)}"
    undecided = [s.summary() for s in spoken if s.spoke is Spoke.UNDECIDED]
    if undecided:
        inconclusive(network.host, f"could not decide: {'; '.join(undecided)}")
    evidence.reason = f"every service ({len(spoken)}) completed its profiled protocol"


@pytest.mark.check("SURFACE-009")
def test_no_port_open_only_over_ipv6(
    profile: Profile,
    tcp_scan: ScanResult,
    evidence: EvidenceRecorder,
    request: pytest.FixtureRequest,
) -> None:
    assert profile.network is not None
    if profile.network.host6 is None:
        seen = {"address": tcp_scan.address, "open": list(tcp_scan.open)}
        evidence.json("scans.json", {"ipv4": seen, "ipv6": None}, "the IPv4 scan alone")
        not_applicable("the profile has no network.host6")
    tcp_scan6: ScanResult = request.getfixturevalue("tcp_scan6")
    stacks = DualStack(tcp_scan, tcp_scan6)
    evidence.json("scans.json", stacks.record(), "IPv4 and IPv6 connect scans", show=True)
    evidence.note(
        f"{tcp_scan6.ports_scanned} TCP ports: open on {tcp_scan.address} {list(tcp_scan.open)}, "
        f"on {tcp_scan6.address} {list(tcp_scan6.open)}"
    )
    if stacks.only_ipv4:
        evidence.note(f"open over IPv4 only (not a finding): {list(stacks.only_ipv4)}")
    problems = stacks.problems()
    assert not problems, f"TCP ports open only over IPv6: {'; '.join(problems)}"
    evidence.reason = f"IPv6 open ports {list(tcp_scan6.open)} are all open over IPv4 too"


# --- SURFACE-004...007: what the device discloses, debug services, web headers, components ---


def _pre_login(profile: Profile, scope: Scope, evidence: EvidenceRecorder) -> BannerSurvey:
    """The banners of every profiled SSH service and web server, in one transcript."""
    transcript = evidence.new_transcript("banners", "what the services show before login")
    return banners.survey(
        scope,
        banners.endpoints(profile),
        timeout=profile.policy.timeout_s,
        trust=TlsTrust(profile.tls.ca_file),  # the chain is CRYPTO-005's to judge
        transcript=transcript,
    )


def _console_text(
    profile: Profile, request: pytest.FixtureRequest
) -> tuple[list[Banner], list[DeviceError]]:
    """What the console shows before its login prompt (nothing without a console)."""
    if profile.serial is None:
        return [], []
    console: Console = request.getfixturevalue("console")
    prompts: ConsolePrompts = request.getfixturevalue("console_prompts")
    deadline = Deadline(profile.policy.timeout_s * 6)
    try:
        seen = console_output.opening(
            console, prompts, opening_s=min(2.0, profile.policy.timeout_s), deadline=deadline
        )
    except DeviceError as exc:
        return [], [exc]
    return [Banner("console", "console", seen.decode("utf-8", "replace"))], []


@pytest.mark.check("SURFACE-004")
def test_no_version_disclosure_before_login(
    profile: Profile, scope: Scope, evidence: EvidenceRecorder, request: pytest.FixtureRequest
) -> None:
    if not banners.endpoints(profile) and profile.serial is None:
        not_applicable("the profile names no SSH service, web server or console")
    survey = _pre_login(profile, scope, evidence)
    console_banners, console_errors = _console_text(profile, request)
    shown = [*survey.banners, *console_banners]
    evidence.json("banners.json", banners.record(shown), "what was shown before login")
    rules = disclosure.DisclosureRules(
        profile.policy.disclose_versions, profile.policy.ssh_banner_pattern
    )
    problems = rules.problems(shown)
    for problem in problems:
        evidence.note(str(problem))
    assert not problems, f"versions shown before login: {'; '.join(map(str, problems))}"
    survey.raise_if_incomplete()
    if console_errors:
        raise console_errors[0]
    allowed = (
        "versions allowed by policy.disclose_versions; " if profile.policy.disclose_versions else ""
    )
    evidence.reason = (
        f"{allowed}{len(shown)} banners name no product version and every SSH identification "
        f"matches {profile.policy.ssh_banner_pattern!r}"
    )


@pytest.mark.check("SURFACE-005")
def test_debug_services_closed(
    tcp_scan: ScanResult, debug_survey: DebugSurvey, evidence: EvidenceRecorder
) -> None:
    for answer, transcript in zip(debug_survey.answers, debug_survey.transcripts, strict=True):
        evidence.transcript(f"port-{answer.port}", transcript, show=False)
    evidence.json("ports.json", [a.record() for a in debug_survey.answers], "each open port")
    for answer in debug_survey.answers:
        evidence.note(answer.summary())
    for port, usual in debug_services.WELL_KNOWN.items():
        if port in tcp_scan.open and port not in debug_survey.judged:
            evidence.note(f"port {port} ({usual}'s) is open but answers none of those protocols")
    found = debug_survey.found
    assert not found, f"debug services answer: {'; '.join(a.summary() for a in found)}"
    debug_survey.raise_if_incomplete()
    evidence.reason = (
        f"none of the {len(debug_survey.answers)} open ports answers telnet, GDB, ADB or OpenOCD"
    )


@pytest.mark.check("SURFACE-006")
def test_web_security_headers(
    profile: Profile, http_api: HttpApi, evidence: EvidenceRecorder
) -> None:
    http = profile.http
    assert http is not None
    transcript = evidence.new_transcript("http", "login page, login and an authenticated page")
    pages = [web_headers.fetch(http_api, "login page", http.login.path, None, transcript)]
    if http.account is None:
        evidence.note("no http.account: no authenticated page was judged")
    else:
        login = http_login(http_api, http.account, transcript, evidence)
        if login.session is None:
            inconclusive(http.base_url, f"the profiled account cannot log in: {login.detail}")
        cookies = tuple(("Set-Cookie", c) for c in login.cookies)
        request = f"{http.login.request_method} {http.login.path}: {login.detail}"
        pages.append(web_headers.Page("login answer", request, None, cookies, cookies_only=True))
        path = next((e.state_path for e in http.protected if e.state_path), "/")
        page = web_headers.fetch(http_api, "authenticated page", path, login.session, transcript)
        if not page.succeeded:
            inconclusive(http.base_url, f"GET {path} with the session answered {page.status}")
        pages.append(page)
    note_chain(evidence, http_api)
    evidence.json("pages.json", [p.record() for p in pages], "headers of each page", show=True)
    rules = web_headers.HeaderRules()
    https = http.base_url.startswith("https://")
    problems = [
        f"{page.label} ({page.request}): {problem}"
        for page in pages
        for problem in rules.problems(page, https=https)
    ]
    for problem in problems:
        evidence.note(problem)
    assert not problems, f"web security headers missing: {'; '.join(problems)}"
    evidence.reason = (
        f"{len(pages)} answers carry HSTS, framing, nosniff, no-store and safe cookies"
    )


@pytest.mark.check("SURFACE-007")
def test_observed_components_match_the_sbom(
    profile: Profile,
    scope: Scope,
    evidence: EvidenceRecorder,
    observe: Callable[[str, Any], None],
) -> None:
    if profile.sbom is None:
        not_applicable("the profile names no SBOM (sbom:)")
    if not banners.endpoints(profile):
        not_applicable("the profile names no SSH service or web server whose banners to read")
    declared = sbom.load(profile.sbom)
    survey = _pre_login(profile, scope, evidence)
    found = fingerprints.identify(survey.banners)
    document = components.observed_bom(
        found, device=profile.device.model, firmware=profile.device.firmware
    )
    evidence.run_file("observed.cdx.json", document, "observed components (CycloneDX)")
    evidence.json("banners.json", banners.record(survey.banners), "what the services showed")
    comparisons = [components.compare(item, declared) for item in found.observed]
    for comparison in comparisons:
        evidence.note(comparison.describe())
    for banner, token in found.unidentified:
        evidence.note(f"unidentified: {token} ({banner.where}): no rule of ours names it")
    for banner in found.silent:
        evidence.note(f"unidentified: {banner.where} names no product ({banner.text[:60]!r})")
    if found.observed:
        observe("components", ", ".join(item.shown for item in found.observed))
    problems = components.problems(comparisons)
    assert not problems, f"components the SBOM does not declare as shown: {'; '.join(problems)}"
    survey.raise_if_incomplete()
    evidence.reason = (
        f"{len(comparisons)} observed components are in {profile.sbom.name} as shown"
        if comparisons
        else "no banner names a component of our rule table"
    )
