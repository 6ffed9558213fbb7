"""The profile's certificate rules: a chain that reaches the trust anchor and is valid for
long enough (CRYPTO-005), a leaf that names the device (CRYPTO-006).

Key and signature strength is the crypto policy's rule (`TlsPolicy.certificate_problems`);
these take their values from the profile's `policy` and `tls` sections. Each returns the
problems it finds in the words of the check's verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from harness.probes.crypto.certs import CertInfo, ChainVerdict, names_match


@dataclass(frozen=True)
class ChainRules:
    """CRYPTO-005 with the profile's values, judged at `now`."""

    anchor_name: str  # the trust anchor file, as the verdict names it
    allow_self_signed: bool
    min_days_left: int
    now: dt.datetime

    def trust_problems(self, leaf: CertInfo, verdict: ChainVerdict) -> list[str]:
        """A chain that does not reach the anchor; a self-signed leaf only if not allowed."""
        if verdict.reaches_anchor:
            return []
        if leaf.self_signed:
            if self.allow_self_signed:
                return []
            return [f"self-signed leaf {leaf.subject} (allow_self_signed is false)"]
        return [f"chain does not reach {self.anchor_name}: {p}" for p in verdict.problems]

    def validity_problems(self, chain: Sequence[CertInfo]) -> list[str]:
        """Every certificate not yet valid or expired."""
        problems = []
        for info in chain:
            if info.not_before > self.now:
                problems.append(
                    f"#{info.index} {info.subject} not valid before {info.not_before:%Y-%m-%d}"
                )
            if info.not_after < self.now:
                problems.append(
                    f"#{info.index} {info.subject} expired on {info.not_after:%Y-%m-%d}"
                )
        return problems

    def expiry_problems(self, leaf: CertInfo) -> list[str]:
        """A valid leaf that expires within `min_days_left` days."""
        horizon = self.now + dt.timedelta(days=self.min_days_left)
        if self.now <= leaf.not_after < horizon:
            return [f"leaf expires on {leaf.not_after:%Y-%m-%d}, within {self.min_days_left} days"]
        return []

    def problems(self, chain: Sequence[CertInfo], verdict: ChainVerdict) -> list[str]:
        """Every CRYPTO-005 problem of one chain as sent (leaf first)."""
        leaf = chain[0]
        return [
            *self.trust_problems(leaf, verdict),
            *self.validity_problems(chain),
            *self.expiry_problems(leaf),
        ]


def name_problems(leaf: CertInfo, wanted: str) -> list[str]:
    """CRYPTO-006: a leaf whose subjectAltName does not name `wanted` (the CN never counts)."""
    if names_match(leaf, wanted):
        return []
    if not leaf.has_san:
        return [f"leaf has no subjectAltName (CN {leaf.common_name!r} does not count)"]
    return [f"subjectAltName {[*leaf.dns_names, *leaf.ip_addresses]} does not name {wanted}"]
