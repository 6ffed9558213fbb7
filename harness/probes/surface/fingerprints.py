"""Banners to components: a small rule table of our own (SURFACE-007).

Each rule names one product of an embedded device, the names it goes by in an SBOM
(package names, purl names, CPE products) and a pattern over banner text whose `version`
group is the upstream version and whose optional `revision` group is a distribution's
package revision (Debian's OpenSSH says `OpenSSH_9.2p1 Debian-2+deb12u3` for the package
`1:9.2p1-2+deb12u3`). Written after reading how Rapid7 Recog fingerprints these banners,
without its patterns. A product + version token that no rule covers is unidentified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.probes.surface.banners import Banner
from harness.probes.surface.disclosure import version_tokens

SSH_PROTOCOL = re.compile(r"^SSH-\d+\.\d+-")


@dataclass(frozen=True)
class Rule:
    """How one product shows itself, and what it is called in an SBOM."""

    product: str  # the name observed components carry
    names: frozenset[str]  # lower case: package, purl and CPE product names
    cpe: str  # vendor:product of the NVD's CPE dictionary
    pattern: re.Pattern[str]


def _rule(product: str, names: str, cpe: str, pattern: str) -> Rule:
    return Rule(product, frozenset(names.split()), cpe, re.compile(pattern, re.IGNORECASE))


RULES = (
    _rule(
        "openssh",
        "openssh openssh-server openssh-client openssh-portable",
        "openbsd:openssh",
        r"\bOpenSSH_(?P<version>\d+\.\d+(?:\.\d+)?(?:p\d+)?)"
        r"(?:[ -](?:Debian|Ubuntu|Raspbian)-(?P<revision>[0-9][\w.+~]*))?",
    ),
    _rule(
        "dropbear",
        "dropbear dropbear-bin dropbear-run dropbear_ssh",
        "dropbear_ssh_project:dropbear_ssh",
        r"\bdropbear(?:_(?P<version>\d{4}\.\d+(?:\.\d+)?))?\b",
    ),
    _rule(
        "lighttpd",
        "lighttpd",
        "lighttpd:lighttpd",
        r"\blighttpd(?:/(?P<version>\d+\.\d+\.\d+))?",
    ),
    _rule(
        "nginx",
        "nginx nginx-core nginx-light nginx-full nginx-extras",
        "f5:nginx",
        r"(?<![\w-])nginx(?:/(?P<version>\d+\.\d+\.\d+))?(?![\w-])",
    ),
    _rule(
        "busybox",
        "busybox busybox-static",
        "busybox:busybox",
        r"\bBusyBox(?: v(?P<version>\d+\.\d+(?:\.\d+)?))?",
    ),
    _rule(
        "mosquitto",
        "mosquitto eclipse-mosquitto",
        "eclipse:mosquitto",
        r"\bmosquitto(?:/| version )(?P<version>\d+\.\d+\.\d+)",
    ),
    _rule(
        "goahead",
        "goahead goahead-webs",
        "embedthis:goahead",
        r"\bGoAhead(?:-Webs|-http)?(?:/(?P<version>\d+\.\d+\.\d+))?",
    ),
    _rule("boa", "boa", "boa:boa", r"\bBoa/(?P<version>\d+\.\d+\.\d+(?:rc\d+)?)"),
    _rule(
        "openssl",
        "openssl libssl3 libssl1.1",
        "openssl:openssl",
        r"\bOpenSSL/(?P<version>\d+\.\d+\.\d+[a-z]?)",
    ),
)


@dataclass(frozen=True)
class Observed:
    """A component a banner names: product, upstream version and revision where shown."""

    rule: Rule
    version: str  # "" when the banner hides it
    revision: str  # a distribution's package revision, "" when none
    banner: Banner
    token: str  # the text the rule matched

    @property
    def shown(self) -> str:
        if not self.version:
            return f"{self.rule.product} (no version shown)"
        revision = f" (package revision {self.revision})" if self.revision else ""
        return f"{self.rule.product} {self.version}{revision}"


@dataclass(frozen=True)
class Identification:
    """What a set of banners names: components, and tokens no rule covers."""

    observed: tuple[Observed, ...]
    unidentified: tuple[tuple[Banner, str], ...]  # (first banner, a product + version token)
    silent: tuple[Banner, ...]  # banners naming no product or version at all


def identify(banners: tuple[Banner, ...]) -> Identification:
    """Apply the rules to every banner; leftover version tokens are unidentified."""
    observed: list[Observed] = []
    unidentified: list[tuple[Banner, str]] = []
    silent: list[Banner] = []
    for banner in banners:
        text = SSH_PROTOCOL.sub("", banner.text) if banner.kind.startswith("ssh") else banner.text
        spans = []
        for rule in RULES:
            for match in rule.pattern.finditer(text):
                version = match.groupdict().get("version") or ""
                revision = match.groupdict().get("revision") or ""
                observed.append(Observed(rule, version, revision, banner, match.group(0)))
                spans.append(range(match.start(), match.end()))
        leftovers = [t for t in version_tokens(text) if not any(t.start in span for span in spans)]
        unidentified += [(banner, str(t)) for t in leftovers]
        if not spans and not leftovers:
            silent.append(banner)
    first_seen = {token: (banner, token) for banner, token in reversed(unidentified)}
    return Identification(
        tuple(_unique(observed)),
        tuple(first_seen[t] for t in dict.fromkeys(t for _, t in unidentified)),
        tuple(silent),
    )


def _unique(observed: list[Observed]) -> list[Observed]:
    """One entry per product, version and revision (the first banner that showed it); a
    product seen without a version only when no banner showed its version."""
    seen: dict[tuple[str, str, str], Observed] = {}
    for item in observed:
        seen.setdefault((item.rule.product, item.version, item.revision), item)
    versioned = {item.rule.product for item in seen.values() if item.version}
    return [i for i in seen.values() if i.version or i.rule.product not in versioned]
