"""What the profile names, as the inputs the probes take."""

from __future__ import annotations

from harness.config.profile import Profile
from harness.core.scope import Scope
from harness.transports.ssh import SshTarget


def ssh_target(profile: Profile, scope: Scope) -> SshTarget | None:
    """The SSH service and its profiled account, or None when the profile has no ssh."""
    if profile.ssh is None:
        return None
    return SshTarget(
        scope,
        profile.ssh_host,
        profile.ssh.port,
        profile.policy.timeout_s,
        profile.ssh.username,
        profile.ssh.key_file,
        profile.ssh.password,
    )
