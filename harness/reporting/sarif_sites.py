"""Where a check's target lives in the device profile: the YAML line, and the target's address.

GitHub code scanning shows a result only at a line of a file in the repository, so each
(check, target) is placed on the profile line that describes what was probed: the
`network.services` entry of a TLS service, the `ssh:` section, `serial:`, `update:`, and
so on; its address (`tls://host:port`, `ssh://host:port`, `serial://url`) is the logical
location. The profile is read without expanding `${VAR}`s, so no secret is ever read here.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import catalogue, yamlfile
from harness.config.profile import TLS_PROTOCOLS
from harness.core.errors import MedsecError

# Checks judged against one key of the profile rather than their target's section: the key
# (its nearest ancestor when absent) and the scheme of the address.
_CHECK_KEYS: dict[str, tuple[yamlfile.Loc, str]] = {
    "SURFACE-001": (("network", "expected_tcp"), "tcp"),
    "SURFACE-002": (("network", "expected_udp"), "udp"),
    "SURFACE-007": (("sbom",), "tcp"),
    "SURFACE-009": (("network", "host6"), "tcp"),
    "CRYPTO-012": (("tls_client",), "tls-client"),  # the device connects out to the harness
}


@dataclass(frozen=True)
class Site:
    """One target's place in the profile."""

    line: int  # 1-based line of the key or list item; 1 when the profile could not be read
    key: str  # the profile key path, e.g. `network.services[0]`
    address: str  # e.g. `tls://192.0.2.10:443`


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _without_credentials(url: str) -> str:
    """A URL as an address: no user, password, query or fragment (they may hold secrets)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return ""
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ProfileSites:
    """The profile as the SARIF writer needs it: key lines and the addresses it names."""

    document: yamlfile.LocatedDocument | None
    problem: str = ""  # why the profile could not be read (sites then point at line 1)

    @classmethod
    def read(cls, path: Path) -> ProfileSites:
        """Parse `path` for its lines (never its `${VAR}`s); an unreadable file is noted."""
        try:
            return cls(yamlfile.load(path))
        except MedsecError as exc:
            return cls(None, f"{path}: {str(exc).splitlines()[0] if str(exc) else exc}")

    @property
    def sha256(self) -> str:
        return self.document.sha256 if self.document else ""

    def _data(self) -> dict[str, Any]:
        return _mapping(self.document.data) if self.document else {}

    def _site(self, loc: yamlfile.Loc, address: str) -> Site:
        line = self.document.line_of(loc) if self.document else None
        return Site(line or 1, yamlfile.dotted(loc), address)

    def site(self, check_id: str, target: str) -> Site:
        """Where `check_id` on `target` points: the best profile line, and an address."""
        network = _mapping(self._data().get("network"))
        host = _host_in_url(str(network.get("host", "device")))
        loc, scheme = _CHECK_KEYS.get(check_id, ((), ""))
        if loc and loc[0] in self._data():  # else the target's own section says more
            if loc[-1] == "host6" and network.get("host6"):
                host = _host_in_url(str(network["host6"]))
            return self._site(loc, f"{scheme}://{host}")
        spec = catalogue.CATALOGUE.get(check_id)
        # TLS checks and ROBUST-007 run once per service, named by the service: a service
        # may well be called `ssh` or `http` too, so for them the service wins.
        per_service = spec is not None and "tls" in spec.interfaces
        found = self._service(network, target, host) if per_service else None
        found = found or self._interface(target, network, host)
        found = found or self._service(network, target, host)
        return found or self._site((), f"medsec:{urllib.parse.quote(target)}")

    def _service(self, network: dict[str, Any], name: str, host: str) -> Site | None:
        services = network.get("services")
        for index, service in enumerate(services if isinstance(services, list) else []):
            service = _mapping(service)
            if str(service.get("name")) == name:
                protocol = str(service.get("protocol", "tcp"))
                scheme = "tls" if protocol in TLS_PROTOCOLS else protocol
                address = f"{scheme}://{host}:{service.get('port', '')}"
                return self._site(("network", "services", index), address)
        return None

    def _interface(self, target: str, network: dict[str, Any], host: str) -> Site | None:
        data = self._data()
        if target == "ssh":
            ssh = _mapping(data.get("ssh"))
            ssh_host = _host_in_url(str(ssh.get("host", host)))
            return self._site(("ssh",), f"ssh://{ssh_host}:{ssh.get('port', 22)}")
        if target == "serial":
            url = str(_mapping(data.get("serial")).get("url", ""))
            shown = _without_credentials(url) if "://" in url else url
            return self._site(("serial",), f"serial://{shown}")
        if target == "http":
            base = _without_credentials(str(_mapping(data.get("http")).get("base_url", "")))
            return self._site(("http",), base or f"http://{host}")
        if target == "update":
            update = _mapping(data.get("update"))
            url = _without_credentials(str(update.get("url", "")))
            return self._site(("update",), url or f"update://{update.get('channel', '')}")
        if target == "mqtt":
            return self._mqtt(network, host)
        if target == "network":
            return self._site(("network",), f"tcp://{host}")
        if target == "tls":
            return self._site(("network", "services"), f"tls://{host}")
        if target == "device":
            name = str(_mapping(data.get("device")).get("name", ""))
            return self._site(("device",), f"device://{urllib.parse.quote(name)}")
        return None

    def _mqtt(self, network: dict[str, Any], host: str) -> Site:
        services = network.get("services")
        for index, service in enumerate(services if isinstance(services, list) else []):
            service = _mapping(service)
            if service.get("protocol") == "mqtt":
                address = f"mqtt://{host}:{service.get('port', '')}"
                return self._site(("network", "services", index), address)
        return self._site(("network",), f"mqtt://{host}")
