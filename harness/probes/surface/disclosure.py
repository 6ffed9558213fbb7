"""Version disclosure (SURFACE-004): product and version tokens in what a device shows.

A token is a product name followed by a version of at least two numeric parts:
`nginx/1.22.1`, `OpenSSL/1.1.1k`, `OpenSSH_9.2p1`, `lighttpd-1.4.69`, `BusyBox v1.36.1`,
`Linux version 6.1.0`; separated from the name by a space only with three parts or more
(`Ubuntu 22.04.3`), so that `Temperature 36.6` or `IP-100` are not taken for one. An
IPv4 address is never a version. The SSH identification line is judged only against
`policy.ssh_banner_pattern`: its software version is part of the protocol.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.probes.surface.banners import Banner

_VERSION = r"\d+(?:\.\d+)+[A-Za-z0-9.+~]*"
VERSION_TOKEN = re.compile(
    r"(?<![\w.-])(?P<product>[A-Za-z][A-Za-z0-9+_.-]*?)"
    rf"(?:[/_-]v?(?P<joined>{_VERSION})"
    rf"|\s+(?:v|version\s+)(?P<named>{_VERSION})"
    r"|\s+(?P<spaced>\d+\.\d+\.\d+[A-Za-z0-9.+~]*))"
    r"(?![\w])",
)
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
MAX_SHOWN = 100


@dataclass(frozen=True)
class VersionToken:
    """A product and the version next to it, as they appear in the text."""

    product: str
    version: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.product} {self.version}"


def version_tokens(text: str) -> list[VersionToken]:
    """Every product + version token in `text`."""
    found = []
    for match in VERSION_TOKEN.finditer(text):
        version = match.group("joined") or match.group("named") or match.group("spaced")
        if IPV4.match(version):
            continue
        found.append(VersionToken(match.group("product"), version, match.start(), match.end()))
    return found


@dataclass(frozen=True)
class Disclosure:
    """One banner that says too much, and what."""

    banner: Banner
    what: str

    def __str__(self) -> str:
        return f"{self.banner.where}: {self.what}"


@dataclass(frozen=True)
class DisclosureRules:
    """`policy.disclose_versions` and `policy.ssh_banner_pattern`."""

    disclose_versions: bool
    ssh_banner_pattern: str

    def problems(self, banners: Iterable[Banner]) -> list[Disclosure]:
        """Each SSH identification not matching the pattern; unless versions may be
        disclosed, each other banner naming a product with its version."""
        found = []
        for banner in banners:
            if banner.kind == "ssh-identification":
                if not re.search(self.ssh_banner_pattern, banner.text):
                    what = f"{_shown(banner.text)!r} does not match {self.ssh_banner_pattern!r}"
                    found.append(Disclosure(banner, what))
            elif not self.disclose_versions:
                tokens = version_tokens(banner.text)
                if tokens:
                    named = ", ".join(dict.fromkeys(_shown(str(t)) for t in tokens))
                    found.append(Disclosure(banner, f"names {named}"))
        return found


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."
