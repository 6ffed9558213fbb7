"""The emulated infusion pump IP-100: every service on one address, and its device profile."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import yaml

from harness.config import shipped
from harness.sim import api_accounts, pki, sbom
from harness.sim.api_service import MAX_IMAGE_BYTES, UPDATE_USER, ApiService
from harness.sim.console import SerialConsole
from harness.sim.firmware import FirmwareState, VerifierFlags
from harness.sim.gdb_stub import GdbStub
from harness.sim.lockout import FailedLogins
from harness.sim.pki import PumpKeys
from harness.sim.ssh_service import SshService, random_password
from harness.sim.telemetry_pki import CLOUD_NAME, cloud_ca, telemetry_certificate
from harness.sim.telemetry_service import TELEMETRY_USER, TelemetryService
from harness.sim.uplink import Uplink, reserve_port
from harness.sim.vendor_service import VendorService
from harness.sim.weaknesses import PLANTED, WEAKNESSES
from harness.updates.versions import parse_version

VARIANTS = ("hardened", "vulnerable")
VENDOR = "Example Medical"
VERSION_REGEX = r"\b(\d+\.\d+\.\d+)\b"  # x.y.z: never the two-part hardware revision
_pump_numbers = itertools.count(1)


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """What to emulate and where."""

    workdir: Path
    weaknesses: frozenset[str] = frozenset()
    host: str = "127.0.0.1"
    firmware: str = "2.4.1"
    model: str = "IP-100"
    hardware: str = "1.0"
    label: str = "hardened"
    lockout_after: int = 5  # failed logins before an account locks (every interface)
    lockout_s: float = 1.0  # short, so that AUTH-009 stays fast; the profile says the same
    idle_timeout_s: float = 1.5  # shell sessions (SSH, console) end after this much idle


@dataclass(frozen=True)
class Endpoints:
    """Where the running pump listens."""

    host: str
    ssh_port: int
    https_port: int
    console_path: str
    vendor_port: int | None
    telemetry_port: int | None = None
    uplink_port: int | None = None  # where the uplink connects (nobody listens until a test)
    gdb_port: int | None = None  # W-14's debug stub


@dataclass(frozen=True)
class Credentials:
    """The secrets a harness needs for positive controls (they also go into the profile)."""

    console_username: str
    console_password: str
    update_username: str
    update_password: str
    api_admin_password: str
    api_operator_password: str


class _Service(Protocol):
    def stop(self) -> None: ...


def planted_list() -> str:
    return ", ".join(PLANTED)


def validate_weaknesses(weakness_ids: Iterable[str]) -> frozenset[str]:
    """The ids as a set; ValueError for an unknown id or one this version cannot plant."""
    chosen = frozenset(weakness_ids)
    for weakness_id in sorted(chosen):
        weakness = WEAKNESSES.get(weakness_id)
        if weakness is None:
            raise ValueError(
                f"unknown weakness {weakness_id!r}; this emulator plants: {planted_list()}"
            )
        if not weakness.planted:
            raise ValueError(
                f"weakness {weakness_id} ({weakness.description}) is not planted by this "
                f"emulator version; it plants: {planted_list()}"
            )
    return chosen


def weaknesses_for(variant: str, weakness_ids: list[str]) -> frozenset[str]:
    """`hardened`: none, or exactly `weakness_ids`; `vulnerable`: every planted weakness."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    chosen = validate_weaknesses(weakness_ids)
    if variant == "vulnerable":
        if chosen:
            raise ValueError(
                "--weakness selects single weaknesses of the hardened pump; "
                "the vulnerable variant already plants all of them"
            )
        return frozenset(PLANTED)
    return chosen


def label_for(variant: str, weakness_ids: Collection[str]) -> str:
    """How a pump is named in its profile: the variant, or its weakness ids."""
    return "+".join(sorted(weakness_ids)) if variant == "hardened" and weakness_ids else variant


def _check_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be an IP address literal, not {host!r}") from None
    if address.is_unspecified:
        raise ValueError(f"refusing to listen on every interface ({host}); name one address")


def _next_minor(version: str) -> str:
    parts = [*parse_version(version), 0, 0]
    return f"{parts[0]}.{parts[1] + 1}.0"


def _previous_patch(version: str) -> str:
    parts = parse_version(version)
    return ".".join(str(p) for p in (*parts[:-1], max(0, parts[-1] - 1)))


class EmulatedPump:
    """One emulated IP-100. `start()` binds every service to `config.host` on free ports."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.log = logging.getLogger(f"harness.sim.pump{next(_pump_numbers)}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self._log_handler: logging.Handler | None = None
        self._services: list[_Service] = []
        self._endpoints: Endpoints | None = None
        self._keys: PumpKeys | None = None
        self._firmware: FirmwareState | None = None
        self._telemetry: TelemetryService | None = None
        self._console: SerialConsole | None = None
        self._serial_number = f"SIM-{secrets.token_hex(4).upper()}"
        self._credentials = Credentials(
            console_username="service",
            console_password=random_password(),
            update_username=UPDATE_USER,
            update_password=random_password(),
            api_admin_password=random_password(),
            api_operator_password=random_password(),
        )
        self._ssh: SshService | None = None
        self._accounts: api_accounts.AccountsApi | None = None

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise RuntimeError("the pump is not running")
        return self._endpoints

    @property
    def keys(self) -> PumpKeys:
        if self._keys is None:
            raise RuntimeError("the pump is not running")
        return self._keys

    @property
    def firmware(self) -> FirmwareState:
        if self._firmware is None:
            raise RuntimeError("the pump is not running")
        return self._firmware

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def telemetry_login(self) -> tuple[str, str]:
        """User name and password the telemetry broker accepts."""
        if self._telemetry is None:
            raise RuntimeError("the pump is not running")
        return TELEMETRY_USER, self._telemetry.password

    def start(self) -> Endpoints:
        """Generate keys, start every service; ValueError for a bad host or weakness id."""
        if self._endpoints is not None:
            return self._endpoints
        config = self.config
        weaknesses = validate_weaknesses(config.weaknesses)
        _check_host(config.host)
        parse_version(config.firmware)
        config.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._start_log()
        try:
            self._endpoints = self._start_services(weaknesses)
        except BaseException:
            self.stop()
            raise
        self.log.info(
            "pump %s started on %s: ssh %d, https %d, console %s, vendor %s, weaknesses %s",
            config.label,
            config.host,
            self._endpoints.ssh_port,
            self._endpoints.https_port,
            self._endpoints.console_path,
            self._endpoints.vendor_port,
            ",".join(sorted(weaknesses)) or "none",
        )
        return self._endpoints

    def _start_log(self) -> None:
        handler = logging.FileHandler(self.config.workdir / "sim.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.log.addHandler(handler)
        self._log_handler = handler

    def _start_services(self, weaknesses: frozenset[str]) -> Endpoints:
        config = self.config
        keys = self._keys = pki.generate(config.workdir, config.host)
        sbom.write(config.workdir, config.model, config.firmware)
        firmware = self._firmware = FirmwareState(
            version=config.firmware,
            model=config.model,
            hardware=config.hardware,
            trusted_key=keys.update_public_key,
            flags=VerifierFlags.for_weaknesses(weaknesses),
        )
        ssh = SshService(
            host=config.host,
            host_key=keys.host_key,
            client_key=keys.service_public_key,
            firmware=firmware,
            weaknesses=weaknesses,
            log=self.log,
            failed_logins=self._failed_logins(),
            idle_timeout_s=config.idle_timeout_s,
        )
        self._ssh = ssh
        self._services.append(ssh)
        ssh.start()
        accounts = self._accounts = api_accounts.AccountsApi(
            admin_password=self._credentials.api_admin_password,
            operator_password=self._credentials.api_operator_password,
            weaknesses=weaknesses,
            failed_logins=self._failed_logins(enabled="W-03" not in weaknesses),
            log=self.log,
        )
        api = ApiService(
            host=config.host,
            cert=keys.tls_cert_path,
            key=keys.tls_key_path,
            firmware=firmware,
            update_password=self._credentials.update_password,
            weaknesses=weaknesses,
            log=self.log,
            accounts=accounts,
        )
        self._services.append(api)
        api.start()
        console = SerialConsole(
            firmware=firmware,
            password=self._credentials.console_password,
            weaknesses=weaknesses,
            log=self.log,
            failed_logins=self._failed_logins(),
            idle_timeout_s=config.idle_timeout_s,
        )
        self._services.append(console)
        self._console = console
        console.start()
        vendor_port = None
        if "W-12" in weaknesses:
            vendor = VendorService(host=config.host, log=self.log)
            self._services.append(vendor)
            vendor.start()
            vendor_port = vendor.port
        gdb_port = None
        if "W-14" in weaknesses:
            stub = GdbStub(host=config.host, log=self.log)
            self._services.append(stub)
            stub.start()
            gdb_port = stub.port
        telemetry_cert = telemetry_certificate(
            config.workdir, keys, config.host, weak="W-06" in weaknesses
        )
        telemetry = self._telemetry = TelemetryService(
            host=config.host,
            cert=telemetry_cert.cert_path,
            key=telemetry_cert.key_path,
            weaknesses=weaknesses,
            log=self.log,
        )
        self._services.append(telemetry)
        telemetry.start()
        self._cloud_ca = cloud_ca(config.workdir)
        uplink = Uplink(
            address=(config.host, reserve_port(config.host)),
            ca_file=self._cloud_ca.cert_path,
            server_name=CLOUD_NAME,
            firmware_version=config.firmware,
            log=self.log,
        )
        self._services.append(uplink)
        uplink.start()
        return Endpoints(
            config.host,
            ssh.port,
            api.port,
            console.path,
            vendor_port,
            telemetry_port=telemetry.port,
            uplink_port=uplink.address[1],
            gdb_port=gdb_port,
        )

    def _failed_logins(self, *, enabled: bool = True) -> FailedLogins:
        """A failed-login counter for one interface (W-03 disables the HTTP one)."""
        return FailedLogins(
            after=self.config.lockout_after, lock_s=self.config.lockout_s, enabled=enabled
        )

    def power(self, on: bool) -> None:
        """The pump's power switch, as a lab power port would drive it: only the serial
        console follows it (off: silent; on: the boot log from the top); the network
        services stay up, so the emulator never loses its ports."""
        if self._console is not None:
            self._console.power(on)

    def stop(self) -> None:
        """Stop every service, close the pty and the log; safe to call twice."""
        while self._services:
            service = self._services.pop()
            try:
                service.stop()
            except Exception:
                self.log.exception("stopping %s failed", type(service).__name__)
        if self._endpoints is not None:
            self.log.info("pump %s stopped", self.config.label)
        self._endpoints = None
        if self._log_handler is not None:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> EmulatedPump:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def profile(self) -> dict[str, Any]:
        """The device profile of the running pump, as a plain dict."""
        config, endpoints, keys = self.config, self.endpoints, self.keys
        host = config.host
        version = ipaddress.ip_address(host).version
        url_host = f"[{host}]" if version == 6 else host
        api = f"https://{url_host}:{endpoints.https_port}/api"
        network_crypto: dict[str, list[Any]] = {
            "expected_tcp": [endpoints.telemetry_port],
            "services": [
                {"name": "telemetry", "port": endpoints.telemetry_port, "protocol": "mqtts"}
            ],
        }
        profile: dict[str, Any] = {
            "schema": "medsec/profile/v1",
            "device": {
                "name": f"Emulated infusion pump {config.model} ({config.label})",
                "vendor": VENDOR,
                "model": config.model,
                "firmware": config.firmware,
                "serial_number": self._serial_number,
                "hardware": config.hardware,
            },
            "scope": {"allow": [f"{host}/{32 if version == 4 else 128}"], "destructive": True},
        }
        threat_model = shipped.threat_model_path()
        if threat_model.is_file():
            profile["threat_model"] = str(threat_model)
        profile["sbom"] = str(sbom.path(config.workdir).resolve())
        profile |= {
            "network": {
                "host": host,
                "expected_tcp": [endpoints.ssh_port, endpoints.https_port],
                "services": [
                    {"name": "therapy-api", "port": endpoints.https_port, "protocol": "https"},
                    {"name": "service-ssh", "port": endpoints.ssh_port, "protocol": "ssh"},
                ],
            },
            "ssh": {
                "host": host,
                "port": endpoints.ssh_port,
                "username": "service",
                "key_file": str(keys.service_key_path.resolve()),
            },
            "serial": {
                "url": endpoints.console_path,
                "baudrate": 115200,
                "login_prompt": "login:",
                "password_prompt": "Password:",
                "username": self._credentials.console_username,
                "password": self._credentials.console_password,
            },
            "tls": {"ca_file": str(keys.ca_path.resolve())},
            "tls_client": {
                "listen": f"{url_host}:{endpoints.uplink_port}",
                "server_name": CLOUD_NAME,
                "ca_cert": str(self._cloud_ca.cert_path.resolve()),
                "ca_key": str(self._cloud_ca.key_path.resolve()),
                "wait_s": 10,
            },
            "update": {
                "channel": "https",
                "url": f"{api}/update",
                "image_format": "medsec-v1",
                "signing_key": str(keys.signing_key_path.resolve()),
                "version_url": f"{api}/version",
                "version_regex": VERSION_REGEX,
                "username": self._credentials.update_username,
                "password": self._credentials.update_password,
                "hardware": config.hardware,
                "next_version": _next_minor(config.firmware),
                "max_size": MAX_IMAGE_BYTES,
                "rollback_version": _previous_patch(config.firmware),
                "foreign_hw_revision": "9.9",
                "version_command": "version",
                "reboot_timeout_s": 10,  # the emulator never reboots; a gone pump is gone
            },
            "policy": {
                "tls_min_version": "1.2",
                "lockout_after_failures": 5,
                "update_timeout_s": 30,  # the emulator installs at once
                # ROBUST-007 in about a second per service: the pump answers within
                # milliseconds, so a short answer window loses nothing.
                "fuzz_cases": 200,
                "fuzz_rate": 500,
                "fuzz_answer_s": 0.05,
            },
        }
        network = profile["network"]
        network["expected_tcp"] = [*network["expected_tcp"], *network_crypto["expected_tcp"]]
        network["services"] = [*network["services"], *network_crypto["services"]]
        self._add_auth_profile(profile, api)
        return profile

    def _add_auth_profile(self, profile: dict[str, Any], api: str) -> None:
        """The keys the AUTH checks read: API accounts, lockout, consoles, policy."""
        credentials = self._credentials
        if self._ssh is None or self._accounts is None:
            raise RuntimeError("the pump is not running")
        admin = {"username": api_accounts.ADMIN_USER, "password": credentials.api_admin_password}
        operator = {
            "username": api_accounts.OPERATOR_USER,
            "password": credentials.api_operator_password,
        }
        profile["http"] = {
            "base_url": api.removesuffix("/api"),
            "login": {"path": "/api/login", "style": "json", "token_field": "token"},
            "account": admin,
            "low_privilege_account": operator,
            "expired_token": self._accounts.expired_token,
            "protected": [
                {
                    "name": "config",
                    "method": "PUT",
                    "path": "/api/config",
                    "body": {"display_brightness": 65},
                    "state_path": "/api/config",
                }
            ],
        }
        console = {
            "username": credentials.console_username,
            "password": credentials.console_password,
        }
        profile["auth"] = {
            "lockout_account": {
                "ssh": {"username": "service", "password": self._ssh.password},
                "http": dict(operator),
                "serial": dict(console),
            },
            "privileged_commands": ["cat /etc/shadow"],
            "password_change": {"path": "/api/account/password", "account": dict(operator)},
        }
        profile["serial"] |= {
            "reset_command": "reboot",
            "bootloader": {"name": "U-Boot", "prompt": "=> $", "interrupt": [" ", "\x03"]},
        }
        # The pump keeps password login for `service` (strong, random) beside keys, so the
        # vendor default of W-17 stays a single-check weakness; the profile says so.
        profile["policy"] |= {
            "ssh_auth_methods": ["password", "publickey"],
            "lockout_delay_s": self.config.lockout_s,
            # Promise a second more than the pump does, so AUTH-011 has margin on a busy machine.
            "session_idle_timeout_s": self.config.idle_timeout_s + 1.0,
            "password_min_length": api_accounts.PASSWORD_MIN_LENGTH,
            # ROBUST-005 and -008 scaled to an emulator that must finish in seconds: still
            # past every service's connection cap.
            "flood_connections": 40,
            "flood_rate": 400,
            "flood_hold_s": 0.2,
            "slow_connections": 16,
            "slow_interval_s": 0.2,
            "slow_hold_s": 0.6,
        }

    def profile_yaml(self) -> str:
        """The device profile of the running pump as YAML (it holds the test secrets)."""
        header = (
            f"# Written by the medsec emulator for one run of the {self.config.label} pump.\n"
            "# Ports, paths and secrets change at every start.\n"
        )
        return header + yaml.safe_dump(self.profile(), sort_keys=False, default_flow_style=False)

    def write_profile(self, path: Path) -> Path:
        """Write the profile (mode 0600: it holds passwords); returns its absolute path."""
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        pki.write_private(path, self.profile_yaml().encode())
        return path
