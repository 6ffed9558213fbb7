"""Security headers and cookie flags of the web UI (SURFACE-006).

Every page is judged for HSTS (max-age of a year or more, and only over https, where it
means something), framing (CSP `frame-ancestors` without a wildcard, or X-Frame-Options
DENY/SAMEORIGIN) and `X-Content-Type-Options: nosniff`; an authenticated page also for
`Cache-Control: no-store`; every cookie set on the way (the login's answer included)
for Secure, HttpOnly and SameSite Lax or Strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.core.transcript import Transcript
from harness.probes.auth.http_auth import HttpApi, Session

HSTS_MIN_AGE_S = 365 * 24 * 3600
FRAME_OPTIONS = frozenset({"deny", "sameorigin"})
SCHEME_ONLY = re.compile(r"[a-z][a-z0-9+.-]*:")  # a CSP scheme-source: `https:`, `data:`
SAME_SITE = frozenset({"lax", "strict"})
MAX_AGE = re.compile(r'(?:^|;)\s*max-age\s*=\s*"?(\d+)"?\s*(?:;|$)', re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    """One answer whose headers are judged; `cookies_only` for the login's own answer."""

    label: str
    request: str
    status: int | None  # None: only its cookies were kept (the login's answer)
    headers: tuple[tuple[str, str], ...]
    authenticated: bool = False
    cookies_only: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def record(self) -> dict[str, object]:
        return {
            "page": self.label,
            "request": self.request,
            "status": self.status,
            "headers": [f"{k}: {v}" for k, v in self.headers],
        }


def fetch(
    api: HttpApi, label: str, path: str, session: Session | None, transcript: Transcript
) -> Page:
    """GET `path`, with the session's header when there is one."""
    headers = session.headers if session is not None else None
    answer = api.send("GET", path, transcript, headers=headers)
    return Page(label, f"GET {path}", answer.status, answer.headers, session is not None)


@dataclass(frozen=True)
class Cookie:
    """A Set-Cookie header's name and the attributes that matter here."""

    name: str
    secure: bool
    http_only: bool
    same_site: str  # lower case; "" when absent

    @classmethod
    def parse(cls, header: str) -> Cookie:
        first, *attributes = header.split(";")
        flags = {a.strip().split("=", 1)[0].lower(): a.strip() for a in attributes if a.strip()}
        same_site = flags.get("samesite", "").partition("=")[2].strip().lower()
        return cls(
            first.split("=", 1)[0].strip(), "secure" in flags, "httponly" in flags, same_site
        )

    def problems(self) -> list[str]:
        missing = [
            name
            for name, present in (("Secure", self.secure), ("HttpOnly", self.http_only))
            if not present
        ]
        if self.same_site not in SAME_SITE:
            missing.append(f"SameSite=Lax or Strict (has {self.same_site or 'none'})")
        return [f"cookie {self.name!r} lacks {', '.join(missing)}"] if missing else []


@dataclass(frozen=True)
class HeaderRules:
    """What SURFACE-006 demands of each page."""

    hsts_min_age_s: int = HSTS_MIN_AGE_S

    def problems(self, page: Page, *, https: bool) -> list[str]:
        """What `page` lacks, each naming the header."""
        found = [p for header in page.values("Set-Cookie") for p in Cookie.parse(header).problems()]
        if page.cookies_only:
            return found
        found += self._hsts(page, https=https)
        if not _framing_denied(page):
            found.append(
                "no CSP frame-ancestors limited to 'none', 'self' or named hosts, and no "
                "X-Frame-Options DENY/SAMEORIGIN"
            )
        if "nosniff" not in [v.strip().lower() for v in page.values("X-Content-Type-Options")]:
            found.append("no X-Content-Type-Options: nosniff")
        if page.authenticated and not any(
            "no-store" in v.lower() for v in page.values("Cache-Control")
        ):
            found.append("no Cache-Control: no-store")
        return found

    def _hsts(self, page: Page, *, https: bool) -> list[str]:
        if not https:
            return ["served over plain HTTP, where Strict-Transport-Security cannot apply"]
        values = page.values("Strict-Transport-Security")
        if not values:
            return ["no Strict-Transport-Security"]
        match = MAX_AGE.search(values[0])
        age = int(match.group(1)) if match else None
        if age is None or age < self.hsts_min_age_s:
            return [f"Strict-Transport-Security max-age {age} is below {self.hsts_min_age_s}"]
        return []


def _framing_denied(page: Page) -> bool:
    """Only the page's own origin or named hosts may frame it.

    Every enforced CSP applies, so one restrictive `frame-ancestors` is enough; a browser
    that sees `frame-ancestors` at all ignores X-Frame-Options, so a permissive one is not
    saved by X-Frame-Options DENY.
    """
    ancestors = [
        sources.split()
        for policy in page.values("Content-Security-Policy")
        for directive in policy.split(";")
        for name, _, sources in [directive.strip().partition(" ")]
        if name.lower() == "frame-ancestors"
    ]
    if ancestors:
        return any(all(_names_its_framers(s) for s in sources) for sources in ancestors)
    return any(v.strip().lower() in FRAME_OPTIONS for v in page.values("X-Frame-Options"))


def _names_its_framers(source: str) -> bool:
    """A `frame-ancestors` source that admits named origins only: 'none', 'self' or a host
    (`*.vendor.example` included), not `*`, a scheme (`https:` admits every https origin)
    or a host that is only a wildcard (`https://*`)."""
    source = source.lower()
    if source in ("'none'", "'self'"):
        return True
    if source.startswith("'") or SCHEME_ONLY.fullmatch(source):
        return False
    host = source.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host not in ("", "*")
