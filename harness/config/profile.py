"""Device profiles: the YAML that says what a device is, how to reach it and what it must show.

`load_profile(path)` returns a frozen `Profile` or raises `ProfileError` whose every line
names file, line and field. `${VAR}` reads the environment (`${VAR:-default}` too);
relative paths resolve against the profile's folder; every address the profile names
must lie inside `scope.allow`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.config import bootloaders, catalogue, shipped, yamlfile
from harness.config.sbom import load as load_sbom
from harness.core.errors import OutOfScope, ProfileError, ProfileIssue
from harness.core.scope import Scope, url_host

SCHEMA_ID = "medsec/profile/v1"
TLS_PROTOCOLS = frozenset({"https", "mqtts", "tls", "dicom-tls"})
Port = Annotated[int, Field(ge=1, le=65535)]
PORT_RANGES = r"^\d+(-\d+)?(,\d+(-\d+)?)*$"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    if (info.context or {}).get("check_files", True) and not value.is_file():
        raise ValueError(f"file not found: {value}")
    return value


ProfileFile = Annotated[Path, AfterValidator(_resolve_path)]
_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _shipped_threat_model(value: Any, info: ValidationInfo) -> Any:
    """A bare name (`infusion-pump`) names a threat model shipped with the harness, unless
    a file of that name sits beside the profile; so a copied profile keeps its model."""
    if not isinstance(value, str) or not _MODEL_NAME.match(value):
        return value
    base = (info.context or {}).get("base_dir")
    if base is not None and (Path(base) / value).is_file():
        return value
    folder = shipped.profiles_dir() / "threat-models"
    if (folder / f"{value}.yaml").is_file():
        return str(folder / f"{value}.yaml")
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    raise ValueError(
        f"no file {value!r} beside the profile, and no shipped threat model of that name "
        f"(shipped: {', '.join(names) or 'none'})"
    )


ThreatModelFile = Annotated[
    Path, BeforeValidator(_shipped_threat_model), AfterValidator(_resolve_path)
]


def _valid_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(_valid_regex)]
DEFAULT_SSH_BANNER = r"^SSH-2\.0-\S+$"


def _readable_sbom(value: Path, info: ValidationInfo) -> Path:
    """A CycloneDX file this harness can read (checked when files are)."""
    if (info.context or {}).get("check_files", True):
        try:
            load_sbom(value)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{value.name}: {exc}") from None
    return value


SbomFile = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_readable_sbom)]


def _policy_reference(value: str, info: ValidationInfo) -> str:
    """A built-in crypto policy name, or a policy file resolved against the profile."""
    from harness.config.crypto_policy import BUILT_IN

    if value in BUILT_IN:
        return value
    return str(_resolve_path(Path(value), info))


PolicyReference = Annotated[str, AfterValidator(_policy_reference)]


class _Section(BaseModel):
    # YAML reads `firmware: 2.4` or `tls_min_version: 1.2` as numbers; people mean text.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)


class Device(_Section):
    """Identity as profiled; copied into every report."""

    name: str
    vendor: str
    model: str
    firmware: str
    serial_number: str | None = None
    hardware: str | None = None


class ScopeRules(_Section):
    """Rules of engagement."""

    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = Field(min_length=1)
    destructive: bool = Field(
        default=False, description="brute force, fuzzing, flashing also need --allow-destructive"
    )

    @field_validator("allow", mode="before")
    @classmethod
    def _host_bits_allowed(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [
                ipaddress.ip_network(str(v), strict=False) if _is_network(v) else v for v in value
            ]
        return value

    def scope(self) -> Scope:
        return Scope(self.allow)


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return True


ServiceProtocol = Literal[
    "https", "mqtts", "tls", "dicom-tls", "ssh", "http", "mqtt", "telnet", "other"
]


class Service(_Section):
    """One port and the protocol it should speak."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    port: Port
    protocol: ServiceProtocol

    @property
    def tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS


class Network(_Section):
    """How the device is reached over IP."""

    host: str
    expected_tcp: tuple[Port, ...] = Field(
        default=(), description="any other open TCP port is a finding"
    )
    services: tuple[Service, ...] = ()
    scan_ports: str = Field(
        default="1-65535",
        pattern=PORT_RANGES,
        description="ports SURFACE-001 scans, as ranges: 1-1024,8080",
    )
    expected_udp: tuple[Port, ...] = Field(
        default=(), description="any other UDP port that answers is a finding (SURFACE-002)"
    )
    udp_ports: str = Field(
        default="1-65535",
        pattern=PORT_RANGES,
        description="ports SURFACE-002 sweeps, as ranges (the UDP services' own ports and "
        "expected_udp always); narrow it for a device that rate-limits ICMP",
    )
    host6: ipaddress.IPv6Address | None = Field(
        default=None,
        description="the device's IPv6 address: SURFACE-009 scans it and compares with host",
    )

    @model_validator(mode="after")
    def _unique_service_names(self) -> Network:
        names = [s.name for s in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"service names must be unique: {', '.join(duplicates)}")
        return self


class Ssh(_Section):
    """The SSH service and the account the harness may use."""

    host: str | None = Field(default=None, description="defaults to network.host")
    port: Port = 22
    username: str
    password: SecretStr | None = None
    key_file: ProfileFile | None = None


class Bootloader(_Section):
    """The bootloader the console shows while the device starts (AUTH-006).

    A known `name` (u-boot, barebox, grub) brings that bootloader's prompt, keys and banner;
    set a key only where the board differs. Any other name needs at least `prompt`.
    """

    name: str = Field(
        default="bootloader",
        description=f"{bootloaders.names()} bring their own defaults; any other name needs prompt",
    )
    prompt: Regex | None = Field(
        default=None,
        min_length=1,
        description="regex of the bootloader's command prompt, searched line by line "
        "(U-Boot: '^(?:=>|U-Boot>) ?')",
    )
    interrupt: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(
        default=None,
        min_length=1,
        description="keys pressed one at a time, in turn, through the boot window "
        "(U-Boot and barebox: Ctrl-C, space; GRUB: Esc, c)",
    )
    password_prompt: str | None = Field(
        default=None,
        min_length=1,
        description="text (any case) a locked bootloader shows instead of its prompt "
        "(U-Boot: 'password')",
    )
    boot_command: str | None = Field(
        default=None,
        description="typed, then Enter, at an open prompt to let the device boot "
        "(U-Boot, barebox: 'boot'; GRUB: 'normal')",
    )
    clear_line: str | None = Field(
        default=None,
        min_length=1,
        description="key that empties the command line before boot_command "
        "(U-Boot, barebox: Ctrl-C; otherwise Ctrl-U)",
    )
    banner: Regex | None = Field(
        default=None,
        description="regex of what the bootloader prints as it starts: the reset began "
        "(U-Boot: its version line or 'Hit any key to stop autoboot')",
    )
    boot_timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=480,  # a check's watchdog ends it after 600 s
        description="the longest the device takes from serial.reset_command to its login prompt",
    )

    @model_validator(mode="after")
    def _prompt_known(self) -> Bootloader:
        if self.prompt is None and bootloaders.known(self.name) is None:
            raise ValueError(
                f"prompt: required for a bootloader this harness does not know "
                f"({self.name!r}; known: {bootloaders.names()})"
            )
        return self

    @property
    def traits(self) -> bootloaders.BootloaderTraits:
        """The named bootloader's traits with this profile's keys over them."""
        base = bootloaders.known(self.name)
        if base is None:
            assert self.prompt is not None  # the validator demands it
            base = bootloaders.generic(self.name, self.prompt)
        return dataclasses.replace(
            base,
            name=self.name,
            prompt=self.prompt or base.prompt,
            interrupt=self.interrupt or base.interrupt,
            password_prompt=self.password_prompt or base.password_prompt,
            boot_command=base.boot_command if self.boot_command is None else self.boot_command,
            clear_line=self.clear_line or base.clear_line,
            banner=self.banner or base.banner,
        )


class Serial(_Section):
    """The console: any pyserial URL, or the serial port of the profile's labgrid place."""

    url: str | None = Field(
        default=None,
        description="device path, socket://, rfc2217://, loop://; left out when the console is "
        "the NetworkSerialPort of the profile's labgrid place",
    )
    baudrate: int = Field(default=115200, gt=0)

    @property
    def console_url(self) -> str:
        """The console's URL (a labgrid place supplies it when the run acquires the place)."""
        if self.url is None:
            raise LookupError("serial.url is known once the labgrid place is acquired")
        return self.url

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        if scheme not in ("", "loop", "socket", "rfc2217"):
            raise ValueError(
                f"{scheme}:// is not a console this harness opens: use a device path, "
                "socket://HOST:PORT, rfc2217://HOST:PORT or loop://"
            )
        return value

    login_prompt: str = "login:"
    password_prompt: str = "Password:"  # noqa: S105 - a prompt, not a password
    shell_prompt: Regex = Field(
        default=r"[#$] ?$", description="regex matched at the end of the console output"
    )
    username: str | None = None
    password: SecretStr | None = None
    reset_command: str | None = Field(
        default=None,
        description="typed at the console shell (logged in as serial.username) to restart the "
        "device; AUTH-006 and SURFACE-008 read the boot log after it",
    )
    bootloader: Bootloader | None = None


class Labgrid(_Section):
    """A place on a labgrid coordinator (the `labgrid` extra): the run acquires it, takes
    the console from its NetworkSerialPort and power-cycles its NetworkPowerPort where a
    check resets the device, and releases it at the end."""

    place: str = Field(min_length=1, description="the place's name on the coordinator")
    coordinator: str = Field(
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$",
        description="HOST:PORT of labgrid-coordinator (its default port is 20408)",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="the longest any one call to the coordinator takes"
    )
    power_off_s: float = Field(
        default=2.0, ge=0, le=60, description="how long a power cycle leaves the power off"
    )

    @property
    def coordinator_host(self) -> str:
        return self.coordinator.rpartition(":")[0].strip("[]")


class Tls(_Section):
    """How TLS peers of the device are judged."""

    ca_file: ProfileFile | None = Field(
        default=None, description="trust anchor(s), PEM, that the device's chains must reach"
    )
    server_name: str | None = Field(
        default=None, description="name sent as SNI and expected in the certificate"
    )


class TlsClient(_Section):
    """Where the device connects out as a TLS client (CRYPTO-012): the harness listens there."""

    listen: str = Field(
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):\d{1,5}$",
        description="address:port the device is configured to connect to; the harness binds it",
    )
    server_name: str | None = Field(
        default=None, description="name the device expects in the server certificate"
    )
    ca_cert: ProfileFile | None = Field(
        default=None, description="test CA the device build trusts (PEM), for the control cases"
    )
    ca_key: ProfileFile | None = Field(default=None, description="private key of ca_cert (PEM)")
    wait_s: float = Field(
        default=30.0, gt=0, le=600, description="how long to wait for each device connection"
    )

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Update(_Section):
    """The update channel and the test signing key the engineering build trusts."""

    channel: Literal["https", "ssh", "serial", "swupdate"] = Field(
        description="https: HTTP(S) upload to url; ssh: SFTP upload then install_command; "
        "swupdate: SWUpdate's web server at url (/upload, progress on /ws); serial: none yet"
    )
    url: str | None = Field(
        default=None,
        description="https: the upload endpoint; swupdate: the agent's web server (base URL)",
    )
    image_format: Literal["medsec-v1", "swupdate", "detached"]
    signing_key: ProfileFile
    signing_cert: ProfileFile | None = Field(
        default=None, description="certificate of signing_key (CMS-signed formats: swupdate)"
    )
    description_template: ProfileFile | None = Field(
        default=None,
        description="swupdate: sw-description template; {version}, {hardware} and "
        "{sha256:NAME} are filled in, nothing else",
    )
    version_url: str | None = None
    version_command: str | None = Field(
        default=None, description="command printing the running version (see version_over)"
    )
    version_over: Literal["ssh", "serial"] = Field(
        default="ssh", description="where version_command runs when there is no version_url"
    )
    version_regex: Regex = Field(
        default=r"(\d+(?:\.\d+)+)",
        description="first group is the running version (a JSON reply's `version` field wins)",
    )
    username: str | None = None
    password: SecretStr | None = None
    auth: Literal["basic", "digest"] = Field(
        default="basic", description="HTTP authentication scheme of username/password"
    )
    method: Literal["POST", "PUT"] = "POST"
    upload: Literal["raw", "multipart"] = Field(
        default="raw", description="raw: the image is the request body; multipart: a form"
    )
    form_field: str = Field(default="file", description="multipart field of the image")
    signature_field: str = Field(
        default="signature", description="multipart field of a detached signature"
    )
    upload_path: str = Field(
        default="/tmp/medsec-update.img",  # noqa: S108 - a path on the device
        description="ssh: where SFTP puts the image (a detached signature gets .sig)",
    )
    install_command: str | None = Field(
        default=None,
        description="ssh: command that installs the uploaded image; {image} and {signature} "
        "are replaced by the uploaded paths",
    )
    hardware: str | None = Field(default=None, description="hardware revision images name")
    foreign_hw_revision: str = Field(
        default="9.9", description="hardware revision of the wrong-hardware image"
    )
    next_version: str | None = Field(default=None, pattern=r"^\d+(\.\d+)*$")
    rollback_version: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)*$",
        description="older than the running version (default: just below it)",
    )
    payload: ProfileFile | tuple[ProfileFile, ...] | None = Field(
        default=None,
        description="medsec-v1 and detached: one file (default synthetic bytes); swupdate: "
        "the files put after sw-description(.sig); a name ending in .in is a text "
        "template and enters the image without the .in",
    )
    max_size: int = Field(default=64 * 1024 * 1024, gt=0)
    reboot_timeout_s: float = Field(
        default=120.0,
        gt=0,
        le=480,  # a check's watchdog ends it after 600 s
        description="how long a device gone after an upload may take to come back",
    )

    @model_validator(mode="after")
    def _format_needs(self) -> Update:
        if self.channel in ("https", "swupdate") and not self.url:
            raise ValueError(f"channel {self.channel} needs update.url")
        if self.channel == "ssh" and not self.install_command:
            raise ValueError("channel ssh needs update.install_command")
        if self.image_format == "swupdate":
            missing = [
                name
                for name in ("signing_cert", "description_template", "payload")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"image_format swupdate needs update.{', update.'.join(missing)}")
        elif len(self.payload_files) > 1:
            raise ValueError(f"image_format {self.image_format} takes one payload file")
        return self

    @property
    def payload_files(self) -> tuple[Path, ...]:
        """`payload` as a tuple, whichever shape the profile used."""
        if self.payload is None:
            return ()
        return self.payload if isinstance(self.payload, tuple) else (self.payload,)


SshAuthMethod = Literal[
    "none", "password", "keyboard-interactive", "publickey", "hostbased", "gssapi-with-mic"
]


class Policy(_Section):
    """Expected posture; every key has a strict default."""

    tls_min_version: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"

    @field_validator("tls_min_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return f"{value:.1f}" if isinstance(value, float) else value

    ssh_policy: PolicyReference = Field(
        default="strict", description="crypto policy for SSH: strict, legacy or a policy file"
    )
    tls_ciphers: PolicyReference = Field(
        default="strict", description="crypto policy for TLS: strict, legacy or a policy file"
    )
    cert_min_rsa_bits: int = Field(default=2048, ge=1024, le=16384)
    cert_min_days_left: int = Field(
        default=30, ge=0, description="a certificate must stay valid this long"
    )
    allow_self_signed: bool = False
    http_redirect_allowed: bool = Field(
        default=False, description="plain HTTP may answer with a bare redirect to https"
    )
    max_connections: int = Field(
        default=2, ge=1, le=64, description="connections TLS and SSH audits open at once per device"
    )
    lockout_after_failures: int = Field(default=5, ge=1, le=100)
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="every single I/O")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    scan_concurrency: int = Field(
        default=256, ge=1, le=4096, description="connections SURFACE-001 keeps open at once"
    )
    scan_connect_timeout_s: float = Field(
        default=1.0, gt=0, le=30, description="a scanned port silent this long is filtered"
    )
    update_timeout_s: float = Field(
        default=600.0, gt=0, le=3600, description="how long UPDATE-001 waits for the new version"
    )
    allow_reinstall: bool = Field(
        default=False, description="the device may install an image of the running version"
    )
    ssh_auth_methods: tuple[SshAuthMethod, ...] | None = Field(
        default=None,
        description="SSH authentication methods the server must offer, exactly (AUTH-007); "
        "default from ssh_policy: strict -> [publickey], legacy -> [publickey, password, "
        "keyboard-interactive]",
    )
    lockout_delay_s: float = Field(
        default=30.0, gt=0, le=3600, description="AUTH-009: a delay this long counts as lockout"
    )
    session_idle_timeout_s: float = Field(
        default=600.0, gt=0, le=3600, description="AUTH-011: idle sessions end within this"
    )
    password_min_length: int = Field(
        default=12, ge=1, le=128, description="AUTH-012: shorter new passwords are refused"
    )
    fuzz_cases: int = Field(
        default=1000, ge=1, le=20000, description="ROBUST-007: mutated exchanges per service"
    )
    fuzz_rate: float = Field(
        default=50.0, gt=0, le=1000, description="ROBUST-007: fuzz cases started per second"
    )
    fuzz_answer_s: float = Field(
        default=0.25,
        gt=0,
        le=30,
        description="ROBUST-007: how long the answer to a mutated message is read",
    )
    disclose_versions: bool = Field(
        default=False,
        description="SURFACE-004: banners, HTTP headers, error pages and the console may name "
        "product versions before login",
    )
    ssh_banner_pattern: Regex = Field(
        default=DEFAULT_SSH_BANNER,
        description="SURFACE-004: regex the SSH identification line must match (the default "
        "allows any software version and no comment, such as Debian's package revision)",
    )
    # ROBUST: each bound below keeps a check far inside the plugin's 600 s watchdog.
    liveness_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="ROBUST: how long a service that stopped answering after a case is waited "
        "for (the evidence says when it came back); ROBUST-005: every service must answer "
        "within this after the flood's release",
    )
    robust_stop_at_first_failure: bool = Field(
        default=True,
        description="ROBUST: a check stops at the first case after which the device does not "
        "answer; false runs the remaining cases too",
    )
    flood_connections: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="ROBUST-005: concurrent TCP connections opened to each expected port",
    )
    flood_rate: float = Field(
        default=100.0,
        ge=1,
        le=1000,
        description="ROBUST-005: new connections per second, at most",
    )
    flood_hold_s: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="ROBUST-005: how long the flood's connections are held open",
    )
    slow_connections: int = Field(
        default=16, ge=1, le=128, description="ROBUST-008: connections sending headers slowly"
    )
    slow_interval_s: float = Field(
        default=5.0, gt=0, le=30, description="ROBUST-008: each sends one header byte this often"
    )
    slow_hold_s: float = Field(
        default=30.0,
        gt=0,
        le=120,
        description="ROBUST-008: how long the slow connections are kept going",
    )

    @property
    def expected_ssh_auth_methods(self) -> frozenset[str]:
        """The SSH authentication methods AUTH-007 expects the server to offer."""
        if self.ssh_auth_methods is not None:
            return frozenset(self.ssh_auth_methods)
        if self.ssh_policy == "legacy":
            return frozenset({"publickey", "password", "keyboard-interactive"})
        return frozenset({"publickey"})


class Credential(_Section):
    username: str
    password: SecretStr


class LockoutAccounts(_Section):
    """Sacrificial accounts AUTH-009 may lock, one per interface it measures."""

    ssh: Credential | None = None
    http: Credential | None = None
    serial: Credential | None = None


class PasswordChange(_Section):
    """How the HTTP API changes an account's own password (AUTH-012)."""

    path: str = Field(pattern=r"^/", description="relative to http.base_url")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    old_field: str = "old_password"
    new_field: str = "new_password"
    account: Credential = Field(description="the account whose password is changed and restored")


class Auth(_Section):
    default_credentials: tuple[Credential, ...] = Field(
        default=(), description="tried in addition to the built-in vendor-default list"
    )
    lockout_account: LockoutAccounts = Field(
        default=LockoutAccounts(),
        description="AUTH-009 (destructive): accounts it may lock, per interface",
    )
    privileged_commands: tuple[str, ...] = Field(
        default=(),
        description="AUTH-013: harmless commands only an administrator may run (over SSH)",
    )
    password_change: PasswordChange | None = None


class HttpAccount(_Section):
    username: str
    password: SecretStr


class HttpLogin(_Section):
    """How the API logs a user in and hands out a session."""

    path: str = Field(default="/api/login", pattern=r"^/", description="relative to base_url")
    method: Literal["POST", "GET"] | None = Field(
        default=None, description="GET for style basic, POST for json and form when absent"
    )
    style: Literal["json", "form", "basic"] = Field(
        default="json",
        description="json or form: credentials in the body; basic: HTTP Basic on this path",
    )
    username_field: str = "username"
    password_field: str = "password"  # noqa: S105 - a field name
    token_field: str = Field(
        default="token", description="JSON field of a successful reply holding the session token"
    )
    session_cookie: str | None = Field(
        default=None, description="cookie that carries the session; any cookie counts if absent"
    )

    @property
    def request_method(self) -> str:
        """The profiled method, else GET for Basic (a static page answers POST with 405)."""
        if self.method is not None:
            return self.method
        return "GET" if self.style == "basic" else "POST"


class HttpEndpoint(_Section):
    """A protected, state-changing request and where its effect can be read back (AUTH-010)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    method: Literal["POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/")
    body: dict[str, Any] | str | None = Field(
        default=None, description="a harmless body (a mapping is sent as JSON)"
    )
    state_path: str | None = Field(
        default=None, pattern=r"^/", description="GET that shows the state the request changes"
    )


class Http(_Section):
    """The device's HTTP(S) API: login, accounts and protected endpoints."""

    base_url: str = Field(pattern=r"^https?://", description="e.g. https://192.0.2.10:443")
    login: HttpLogin = HttpLogin()
    account: HttpAccount | None = Field(
        default=None, description="an account allowed to use the protected endpoints"
    )
    low_privilege_account: HttpAccount | None = Field(
        default=None, description="an account that must be refused by the protected endpoints"
    )
    expired_token: SecretStr | None = Field(
        default=None, description="a session token that has expired (AUTH-010 replays it)"
    )
    protected: tuple[HttpEndpoint, ...] = ()
    verify_tls: bool = Field(
        default=False,
        description="true: an https request whose chain does not verify against tls.ca_file "
        "(the system store without one) ends the check as an error; false: the AUTH checks "
        "still authenticate, record that the chain failed and leave it to CRYPTO-005",
    )

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


class Waiver(_Section):
    """An accepted finding: the check still runs and its result is still shown."""

    check: str
    target: str | None = Field(
        default=None, description="service, port or interface; all if absent"
    )
    justification: str = Field(min_length=10)
    expires: dt.date
    approved_by: str | None = Field(default=None, description="who accepted the finding")
    reference: str | None = Field(
        default=None, description="the record that accepts it, e.g. a CAPA or risk file id"
    )

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str) -> str:
        if value not in catalogue.CATALOGUE:
            raise ValueError(f"{value!r} is not a check id of the catalogue")
        return value

    def active(self, today: dt.date) -> bool:
        return today <= self.expires


class ReportInfo(_Section):
    """Who tested, for the report's test configuration (all optional)."""

    tester: str | None = Field(default=None, description="name (and role) of who ran the test")
    organisation: str | None = None
    independence: str | None = Field(
        default=None,
        description="how independent the testers are of the device's developers "
        "(e.g. 'internal verification team, separate from firmware development')",
    )


class Profile(_Section):
    """One device, as the YAML profile describes it."""

    schema_: Literal["medsec/profile/v1"] = Field(alias="schema")
    device: Device
    scope: ScopeRules
    threat_model: ThreatModelFile | None = Field(
        default=None,
        description="a threat-model file, relative to the profile, or the name of one shipped "
        "with the harness (infusion-pump)",
    )
    sbom: SbomFile | None = Field(
        default=None,
        description="the device's CycloneDX SBOM (JSON or XML), relative to the profile: "
        "SURFACE-007 compares the components its banners name with it",
    )
    network: Network | None = None
    ssh: Ssh | None = None
    serial: Serial | None = None
    labgrid: Labgrid | None = Field(
        default=None,
        description="a labgrid place that provides the console (and power) for the run; "
        "needs the labgrid extra",
    )
    tls: Tls = Tls()
    tls_client: TlsClient | None = None
    update: Update | None = None
    http: Http | None = None
    policy: Policy = Policy()
    auth: Auth = Auth()
    waivers: tuple[Waiver, ...] = ()
    report: ReportInfo = ReportInfo()

    _source: Path | None = PrivateAttr(default=None)
    _sha256: str = PrivateAttr(default="")
    _secret_names: dict[str, str] = PrivateAttr(default_factory=dict)
    _unset_env: tuple[ProfileIssue, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _console_known(self) -> Profile:
        if self.serial is not None and self.serial.url is None and self.labgrid is None:
            raise ValueError(
                "serial.url is required, unless a labgrid place (labgrid:) provides the console"
            )
        return self

    def with_console(self, url: str, baudrate: int) -> Profile:
        """This profile with the console a labgrid place provides (the rest unchanged)."""
        serial = self.serial or Serial()
        copy = self.model_copy(
            update={"serial": serial.model_copy(update={"url": url, "baudrate": baudrate})}
        )
        return copy

    def addresses(self) -> list[tuple[tuple[str, ...], str]]:
        """Every host the profile names, with the key path that names it."""
        found: list[tuple[tuple[str, ...], str]] = []
        if self.network:
            found.append((("network", "host"), self.network.host))
            if self.network.host6 is not None:
                found.append((("network", "host6"), str(self.network.host6)))
        if self.ssh:
            found.append((("ssh", "host" if self.ssh.host else "port"), self.ssh_host))
        if self.serial and self.serial.url and (host := url_host(self.serial.url)):
            found.append((("serial", "url"), host))
        if self.labgrid:
            found.append((("labgrid", "coordinator"), self.labgrid.coordinator_host))
        if self.update:
            for name in ("url", "version_url"):
                url = getattr(self.update, name)
                if url and (host := url_host(url)):
                    found.append((("update", name), host))
        if self.http and (host := url_host(self.http.base_url)):
            found.append((("http", "base_url"), host))
        return found

    @property
    def ssh_host(self) -> str:
        if self.ssh is None:
            raise LookupError("the profile has no ssh section")
        if self.ssh.host:
            return self.ssh.host
        if self.network is None:
            raise LookupError("ssh.host is required when the profile has no network section")
        return self.network.host

    @property
    def tls_services(self) -> tuple[Service, ...]:
        return tuple(s for s in self.network.services if s.tls) if self.network else ()

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def sha256(self) -> str:
        return self._sha256

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret value the profile holds, for redaction of evidence."""
        return frozenset(self._secret_names)

    @property
    def secret_names(self) -> Mapping[str, str]:
        """Each secret value with the key path(s) that hold it (`ssh.password`)."""
        return dict(self._secret_names)

    @property
    def unset_env(self) -> tuple[ProfileIssue, ...]:
        """`${VAR}`s left empty because the environment does not set them (only when
        loaded with `require_env=False`)."""
        return self._unset_env

    def waiver_for(self, check_id: str, target: str | None) -> Waiver | None:
        """The waiver naming this check (and target, where the waiver names one)."""
        for waiver in self.waivers:
            if waiver.check == check_id and waiver.target in (None, target):
                return waiver
        return None


def load_profile(
    path: str | Path,
    *,
    check_files: bool = True,
    env: Mapping[str, str] | None = None,
    require_env: bool = True,
) -> Profile:
    """Load and validate a profile; raises ProfileError (file:line: field: message).

    `${VAR}` reads `env` (default the process environment). With `require_env=False` an
    unset variable is left empty and listed in `Profile.unset_env` instead of failing
    (and is listed with the errors when something else fails), for `medsec validate`.
    """
    path = Path(path)
    document = yamlfile.load(path, expand_env=True, env=env, require_env=require_env)
    if document.data.get("schema") not in (SCHEMA_ID, None):
        raise ProfileError(
            [
                document.issue(
                    ("schema",),
                    f"unsupported schema {document.data.get('schema')!r}; "
                    f"this harness reads {SCHEMA_ID}",
                )
            ]
        )
    context = {"base_dir": path.resolve().parent, "check_files": check_files}
    try:
        profile = Profile.model_validate(document.data, context=context)
    except ValidationError as exc:
        failed = yamlfile.raise_validation(exc, document)
        raise ProfileError([*failed.issues, *document.unset]) from None
    scope = profile.scope.scope()
    issues = []
    for loc, host in profile.addresses():
        try:
            scope.resolve(host)
        except (OutOfScope, ValueError) as exc:
            issues.append(document.issue(loc, str(exc)))
    if issues:
        raise ProfileError([*issues, *document.unset])
    profile._source = path
    profile._sha256 = document.sha256
    paths: dict[str, list[str]] = {}
    found = [(v, k) for v, keys in document.secrets.items() for k in keys]
    for value, key in [*found, *_secret_values(profile, ())]:
        if not key.startswith(_PUBLIC) and key not in paths.setdefault(value, []):
            paths[value].append(key)
    profile._secret_names = {value: ", ".join(keys) for value, keys in paths.items() if keys}
    profile._unset_env = tuple(document.unset)
    return profile


# Default credentials are public knowledge the device must refuse, and are often equal to
# the user name: never scrubbed (attempts show them as `ad***` on their own), even when a
# ${VAR} supplies them.
_PUBLIC = "auth.default_credentials"


def _secret_values(model: BaseModel, loc: yamlfile.Loc) -> list[tuple[str, str]]:
    """Every non-empty `SecretStr` in `model`, with its dotted key path."""
    found: list[tuple[str, str]] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.alias or name
        items = enumerate(value) if isinstance(value, tuple) else ((None, value),)
        for index, item in items:
            where = (*loc, key) if index is None else (*loc, key, index)
            if isinstance(item, SecretStr) and item.get_secret_value():
                found.append((item.get_secret_value(), yamlfile.dotted(where)))
            elif isinstance(item, BaseModel):
                found += _secret_values(item, where)
    return found


def json_schema() -> str:
    """The JSON Schema of the profile, as `medsec schema` prints it."""
    schema = Profile.model_json_schema(by_alias=True)
    schema["$id"] = "https://medsec-harness.example/schema/profile-v1.json"
    schema["title"] = "medsec-harness device profile (medsec/profile/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
