"""`medsec validate` and `medsec trace`: what a profile says, and what its threats are traced to."""

from __future__ import annotations

from pathlib import Path

from harness.cli.exit_codes import EXIT_OK, EXIT_USAGE
from harness.core.terminal import clean


def _say(text: str) -> None:
    """Print a line of profile or threat-model text, never an escape sequence."""
    print(clean(text))


def cmd_validate(path: Path) -> int:
    from harness.config.profile import load_profile
    from harness.config.threatmodel import load_threat_model

    profile = load_profile(path)
    model = load_threat_model(profile.threat_model) if profile.threat_model else None
    interfaces = [n for n in ("network", "ssh", "serial", "update", "http") if getattr(profile, n)]
    _say(
        f"{path}: valid medsec/profile/v1 for {profile.device.name} "
        f"(firmware {profile.device.firmware}); interfaces: {', '.join(interfaces) or 'none'}"
    )
    if model is not None:
        _say(
            f"threat model {profile.threat_model}: {len(model.threats)} threats, "
            f"{len(model.controls)} controls"
        )
    for waiver in profile.waivers:
        _say(f"waiver {waiver.check} {waiver.target or '(all targets)'} until {waiver.expires}")
    return EXIT_OK


def cmd_trace(path: Path) -> int:
    from harness.config.profile import load_profile
    from harness.config.threatmodel import load_threat_model
    from harness.plugin.suites import implemented_checks
    from harness.reporting import matrix

    profile = load_profile(path)
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
