"""How a device's web server asks for a login, read from a few GETs (nothing is submitted).

`/` first (and the one same-origin page it redirects to), then the usual login paths
until one shows how to log in: a `401` with `WWW-Authenticate: Basic` (or Digest), an
HTML form with a password field, or a login endpoint that refuses GET with `405` (an API
that takes its credentials by POST, as JSON when it answers in JSON).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urljoin, urlsplit

from harness.core.errors import DeviceError
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import http
from harness.transports.http import HttpResponse

LOGIN_PATHS = ("/login", "/api/login")  # asked when `/` shows no login
MAX_PARSED = 256 * 1024  # bytes of a page searched for a form
MAX_FORMS = 32
MAX_INPUTS = 64  # per form
METHOD_NOT_ALLOWED = 405
UNAUTHORIZED = 401
REDIRECTS = frozenset({301, 302, 303, 307, 308})
TEXT_INPUTS = frozenset({"", "text", "email"})
LoginStyle = Literal["form", "json", "basic", "digest"]


@dataclass(frozen=True)
class LoginHint:
    """How the device appears to take credentials, and what showed it."""

    style: LoginStyle
    path: str
    method: Literal["GET", "POST"]
    seen: str
    username_field: str | None = None
    password_field: str | None = None


@dataclass(frozen=True)
class PageSeen:
    """One GET and its answer, as far as a login is concerned."""

    path: str
    status: int
    content_type: str
    server: str
    location: str | None


@dataclass(frozen=True)
class WebFront:
    """A web server's answers to the GETs, and the login they showed, if any."""

    base_url: str
    pages: tuple[PageSeen, ...]
    login: LoginHint | None

    @property
    def server(self) -> str:
        return next((p.server for p in self.pages if p.server), "")


@dataclass
class _Form:
    action: str
    method: str
    inputs: list[tuple[str, str]]  # (type, name)


class _Forms(HTMLParser):
    """Every <form> of a page with its inputs (bounded in number)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and len(self.forms) < MAX_FORMS:
            method = values.get("method", "get").upper()
            self.forms.append(_Form(values.get("action", ""), method, []))
        elif tag == "input" and self.forms and len(self.forms[-1].inputs) < MAX_INPUTS:
            self.forms[-1].inputs.append((values.get("type", "").lower(), values.get("name", "")))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def login_form(page: str, page_url: str) -> LoginHint | None:
    """The first form of `page` (found at `page_url`) with a named password field, when
    it is posted to the same origin."""
    parser = _Forms()
    with contextlib.suppress(Exception):  # a hostile page ends the search, not the probe
        parser.feed(page)
        parser.close()
    for form in parser.forms:
        password = next((n for t, n in form.inputs if t == "password" and n), None)
        if password is None:
            continue
        before = form.inputs[: next(i for i, (t, _) in enumerate(form.inputs) if t == "password")]
        username = next((n for t, n in reversed(before) if t in TEXT_INPUTS and n), None)
        action = urljoin(page_url, form.action or page_url)
        if _origin(action) != _origin(page_url):
            continue  # a form posted to another host: not this device's login
        return LoginHint(
            "form",
            urlsplit(action).path or "/",
            "POST" if form.method == "POST" else "GET",
            f"a form at {urlsplit(page_url).path} with password field {password!r}",
            username,
            password,
        )
    return None


def hint(base_url: str, path: str, answer: HttpResponse) -> LoginHint | None:
    """What the answer to GET `path` says about the login, if anything."""
    challenge = answer.header("WWW-Authenticate") or ""
    scheme = challenge.split(" ", 1)[0].lower()
    if answer.status == UNAUTHORIZED and scheme in ("basic", "digest"):
        style: LoginStyle = "basic" if scheme == "basic" else "digest"
        return LoginHint(style, path, "GET", f"401 at {path}: WWW-Authenticate: {challenge[:80]}")
    content_type = (answer.header("Content-Type") or "").lower()
    if answer.status == METHOD_NOT_ALLOWED and path in LOGIN_PATHS:
        style = "json" if "json" in content_type else "form"
        allow = answer.header("Allow")
        seen = f"405 to GET {path}" + (f" (Allow: {allow[:40]})" if allow else "")
        return LoginHint(style, path, "POST", seen)
    if answer.status < 300 and "html" in content_type:
        return login_form(answer.body[:MAX_PARSED].decode("utf-8", "replace"), base_url + path)
    return None


def web_front(scope: Scope, base_url: str, *, timeout: float, transcript: Transcript) -> WebFront:
    """GET `/` (following one same-origin redirect), then LOGIN_PATHS, until a login shows.

    Raises DeviceError when `/` draws no HTTP answer at all (the port does not speak HTTP).
    """
    pages: list[PageSeen] = []
    todo = ["/"]
    asked: set[str] = set()
    while todo:
        path = todo.pop(0)
        asked.add(path)
        try:
            answer = http.request(
                scope, "GET", base_url + path, timeout=timeout, transcript=transcript
            )
        except DeviceError:
            if not pages:
                raise
            continue
        location = answer.header("Location") if answer.status in REDIRECTS else None
        pages.append(
            PageSeen(
                path,
                answer.status,
                answer.header("Content-Type") or "",
                answer.header("Server") or "",
                location,
            )
        )
        found = hint(base_url, path, answer)
        if found is not None:
            return WebFront(base_url, tuple(pages), found)
        if location and len(pages) == 1:
            target = urljoin(base_url + path, location)
            if _origin(target) == base_url and urlsplit(target).path not in asked:
                todo.append(urlsplit(target).path or "/")
        if not todo:
            todo = [p for p in LOGIN_PATHS if p not in asked][:1]
    return WebFront(base_url, tuple(pages), None)
