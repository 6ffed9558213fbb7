"""`medsec validate` and `medsec trace`: what a profile says, and what its threats are traced to."""

from __future__ import annotations

import os
from pathlib import Path

from harness.cli.exit_codes import EXIT_OK, EXIT_USAGE
from harness.config.profile import Profile, Service, load_profile
from harness.config.threatmodel import load_threat_model
from harness.config.yamlfile import read_env_file
from harness.core.scope import Scope, resolve
from harness.core.terminal import clean


def _say(text: str) -> None:
    """Print a line of profile or threat-model text, never an escape sequence."""
    print(clean(text))


def cmd_validate(path: Path, env_file: Path | None = None) -> int:
    """Check the profile and its threat model; unset `${VAR}`s are listed, not fatal,
    since validating runs nothing (`medsec run` needs them)."""
    env = {**os.environ, **read_env_file(env_file)} if env_file else None
    profile = load_profile(path, env=env, require_env=False)
    model = load_threat_model(profile.threat_model) if profile.threat_model else None
    _say(
        f"{path}: valid medsec/profile/v1 for {profile.device.name} "
        f"(firmware {profile.device.firmware})"
    )
    found = interfaces(profile)
    _say("interfaces:")
    for name, what in found:
        _say(f"  {name:10} {what}")
    absent = [n for n in _SECTIONS if n not in dict(found)]
    if absent:
        _say(f"  absent:    {', '.join(absent)} (their checks end as not applicable)")
    _say(
        f"scope: allow {profile.scope.scope().describe()}; destructive checks "
        f"{'with --allow-destructive' if profile.scope.destructive else 'never'}; every "
        "address below is checked again before the first packet to it"
    )
    for line in scope_rules(profile):
        _say(f"  {line}")
    if model is not None:
        _say(
            f"threat model {profile.threat_model}: {len(model.threats)} threats, "
            f"{len(model.controls)} controls"
        )
    for waiver in profile.waivers:
        _say(f"waiver {waiver.check} {waiver.target or '(all targets)'} until {waiver.expires}")
    for issue in profile.unset_env:
        _say(f"needed before medsec run: {issue}")
    return EXIT_OK


_SECTIONS = ("network", "ssh", "serial", "tls", "tls_client", "mqtt", "http", "update")


def interfaces(profile: Profile) -> list[tuple[str, str]]:
    """Each interface the profile provides, with where it is reached."""
    found: list[tuple[str, str]] = []
    if profile.network:
        network = profile.network
        found.append(("network", f"{network.host}, expected TCP {list(network.expected_tcp)}"))
    if profile.ssh:
        ssh = profile.ssh
        how = [n for n in ("password", "key_file") if getattr(ssh, n) is not None]
        account = f"as {ssh.username} ({', '.join(how) or 'no password or key_file'})"
        found.append(("ssh", f"{profile.ssh_host}:{ssh.port} {account}"))
    if profile.serial:
        found.append(("serial", profile.serial.url or "the NetworkSerialPort of the labgrid place"))
    if profile.labgrid:
        lab = profile.labgrid
        found.append(("labgrid", f"place {lab.place} on the coordinator {lab.coordinator}"))
    services = profile.network.services if profile.network else ()
    tls = [_service(s) for s in profile.tls_services]
    if tls:
        found.append(("tls", ", ".join(tls)))
    if profile.tls_client:
        listen = profile.tls_client.listen
        found.append(("tls_client", f"the device connects out; the harness listens on {listen}"))
    mqtt = [_service(s) for s in services if s.protocol in ("mqtt", "mqtts")]
    if mqtt:
        found.append(("mqtt", ", ".join(mqtt)))
    if profile.http:
        found.append(("http", f"{profile.http.base_url}, login {profile.http.login.style}"))
    if profile.update:
        update = profile.update
        found.append(("update", f"{update.channel} {update.url or ''}".strip()))
    return found


def _service(service: Service) -> str:
    return f"{service.name} {service.port}/{service.protocol}"


def scope_rules(profile: Profile) -> list[str]:
    """For every address the profile names: what it resolves to and the rule that admits it."""
    scope = profile.scope.scope()
    lines = [f"{_key(loc)} {host}: {_admitted(scope, host)}" for loc, host in profile.addresses()]
    if profile.tls_client:
        lines.append(
            f"tls_client.listen {profile.tls_client.listen}: not checked against scope.allow; "
            "the harness binds it on this machine and only answers the device's connections"
        )
    return lines


def _key(loc: tuple[str, ...]) -> str:
    """The key that names an address (`ssh` when the SSH host is network.host)."""
    return "ssh (network.host)" if loc == ("ssh", "port") else ".".join(loc)


def _admitted(scope: Scope, host: str) -> str:
    """`192.0.2.10 inside 192.0.2.0/24` for each address of `host`."""
    parts = []
    for address in resolve(host):
        network = next((n for n in scope.allow if address in n), None)
        parts.append(f"{address} inside {network}" if network else f"{address} OUTSIDE scope")
    return ", ".join(parts)


def cmd_trace(path: Path) -> int:
    from harness.plugin.suites import implemented_checks
    from harness.reporting import matrix

    profile = load_profile(path, require_env=False)  # tracing reads no secret
    if profile.threat_model is None:
        _say("the profile names no threat_model")
        return EXIT_USAGE
    model = load_threat_model(profile.threat_model)
    implemented = implemented_checks()
    for row in matrix.build(model, [], implemented):
        cells = row.cells
        have = [c.check_id for c in cells if c.implemented]
        missing = [c.check_id for c in cells if not c.implemented]
        status = "NO CHECK" if not cells else ("no implemented check" if not have else "traced")
        _say(f"{row.threat.id:6} {status:21} {row.threat.title}")
        if have:
            _say(f"{'':6} checks:  {', '.join(have)}")
        if missing:
            _say(f"{'':6} planned: {', '.join(missing)}")
    return EXIT_OK
