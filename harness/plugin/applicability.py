"""Whether a check applies to the profiled device before it runs, and why not."""

from __future__ import annotations

from harness.config import catalogue
from harness.config.profile import Profile


def interfaces_present(profile: Profile) -> dict[str, bool]:
    """Which of the catalogue's interfaces the profile provides."""
    services = profile.network.services if profile.network else ()
    return {
        "ssh": profile.ssh is not None,
        "serial": profile.serial is not None,
        "network": profile.network is not None,
        "tls": bool(profile.tls_services) or profile.tls_client is not None,
        "mqtt": any(s.protocol in ("mqtt", "mqtts") for s in services),
        "update": profile.update is not None,
        "http": profile.http is not None,
    }


def not_applicable_reason(
    spec: catalogue.CheckSpec, profile: Profile, *, allow_destructive: bool
) -> str | None:
    """Why `spec` cannot run against this profile (no interface, not allowed), or None."""
    if spec.destructive:
        if not allow_destructive:
            return "destructive check; run with --allow-destructive to include it"
        if not profile.scope.destructive:
            return "destructive check; the profile's scope.destructive is false"
    present = interfaces_present(profile)
    if not any(present[i] for i in spec.interfaces):
        wanted = " or ".join("TLS service" if i == "tls" else i for i in spec.interfaces)
        return f"the profile has no {wanted} interface"
    return None
