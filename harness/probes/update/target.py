"""The profiled update target: how images reach the device and how its version is read.

`build_target(profile, scope)` joins the delivery adapter of `update.channel` with the
version reader (`update.version_url`, else `update.version_command` over SSH or the
console), and lists every interface a version can be read from (for UPDATE-010).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.profile import Profile
from harness.core.errors import NotSupported
from harness.core.scope import Scope
from harness.probes import profiled
from harness.probes.console import ConsolePrompts
from harness.probes.update.delivery import (
    HttpAuth,
    HttpChannel,
    SshChannel,
    SwupdateChannel,
    UpdateChannel,
)
from harness.probes.update.version_readers import (
    ConsoleVersion,
    SshCommandVersion,
    UrlVersion,
    VersionReader,
)


@dataclass(frozen=True)
class UpdateTarget:
    """Where images go, and where the running version comes from."""

    channel: UpdateChannel
    reader: VersionReader
    readers: dict[str, VersionReader]  # every interface that reports the version
    reboot_timeout_s: float


def _http_auth(profile: Profile) -> HttpAuth | None:
    update = profile.update
    assert update is not None
    if update.username is None:
        return None
    return HttpAuth(update.auth, update.username, update.password or "")


def _readers(profile: Profile, scope: Scope) -> dict[str, VersionReader]:
    update = profile.update
    assert update is not None
    timeout = profile.policy.timeout_s
    readers: dict[str, VersionReader] = {}
    if update.version_url:
        readers["version_url"] = UrlVersion(
            scope,
            update.version_url,
            update.version_regex,
            _http_auth(profile),
            profile.tls.ca_file,
            timeout,
        )
    ssh = profiled.ssh_target(profile, scope)
    if update.version_command and ssh is not None:
        readers["ssh"] = SshCommandVersion(ssh, update.version_command, update.version_regex)
    serial = profile.serial
    if update.version_command and serial is not None and serial.username is not None:
        readers["console"] = ConsoleVersion(
            scope,
            serial.console_url,
            serial.baudrate,
            ConsolePrompts.of(serial),
            serial.username,
            serial.password or "",
            update.version_command,
            update.version_regex,
            timeout,
        )
    return readers


def build_target(profile: Profile, scope: Scope) -> UpdateTarget:
    """The update target of the profile; NotSupported says why one cannot be built."""
    update = profile.update
    if update is None:
        raise NotSupported("the profile has no update section")
    readers = _readers(profile, scope)
    primary = "version_url" if "version_url" in readers else update.version_over
    if primary not in readers:
        raise NotSupported(
            "no way to read the running version: set update.version_url, or "
            "update.version_command with an ssh section (or a serial section with its login)"
        )
    timeout = profile.policy.timeout_s
    channel: UpdateChannel
    if update.channel == "https":
        assert update.url is not None
        channel = HttpChannel(
            scope,
            update.url,
            _http_auth(profile),
            profile.tls.ca_file,
            timeout,
            method=update.method,
            upload=update.upload,
            form_field=update.form_field,
            signature_field=update.signature_field,
        )
    elif update.channel == "swupdate":
        assert update.url is not None
        channel = SwupdateChannel(
            scope,
            update.url,
            _http_auth(profile),
            profile.tls.ca_file,
            timeout,
            profile.policy.update_timeout_s,
        )
    elif update.channel == "ssh":
        ssh = profiled.ssh_target(profile, scope)
        if ssh is None or update.install_command is None:
            raise NotSupported("channel ssh needs an ssh section and update.install_command")
        channel = SshChannel(
            ssh, update.upload_path, update.install_command, profile.policy.update_timeout_s
        )
    else:
        raise NotSupported(
            f"update channel {update.channel!r} cannot deliver images in this harness version"
        )
    return UpdateTarget(channel, readers[primary], readers, update.reboot_timeout_s)
