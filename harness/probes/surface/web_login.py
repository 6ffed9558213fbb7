"""How a device's web server asks for a login, read from a few GETs (nothing is submitted).

`/` first (and the one same-origin page it redirects to), then the usual login paths
until one shows how to log in: a `401` with `WWW-Authenticate: Basic` (or Digest), an
HTML form with a password field, or a login endpoint that refuses GET with `405` (an API
that takes its credentials by POST, as JSON when it answers in JSON).
"""

from __future__ import annotations

import time
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
# html.parser is quadratic on some input ("<a " repeated, "<!--" repeated): a page is fed
# in chunks, and what is not parsed within the budget is not searched.
PARSE_CHUNK = 4096  # characters fed at once
PARSE_BUDGET_S = 0.5  # seconds of parsing per page; a real 256 KiB page takes ~0.05
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
    note: str = ""  # why part of the page was not searched for a login form, if it was not


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


def _forms(page: str) -> tuple[list[_Form], str]:
    """The forms of `page`, and why part of it was not parsed ("" when all of it was)."""
    parser = _Forms()
    stop = time.monotonic() + PARSE_BUDGET_S
    try:
        for start in range(0, len(page), PARSE_CHUNK):
            if time.monotonic() > stop:
                return parser.forms, (
                    f"only the first {start} of {len(page)} characters were parsed "
                    f"within {PARSE_BUDGET_S}s"
                )
            parser.feed(page[start : start + PARSE_CHUNK])
    except Exception as exc:  # a hostile page ends the search, not the probe
        return parser.forms, f"parsing stopped: {type(exc).__name__}"
    # No close(): it makes no start tag of the rest, and is quadratic on some rests.
    if len(parser.rawdata) > PARSE_CHUNK:
        rest = len(parser.rawdata)
        return (
            parser.forms,
            f"the last {rest} characters were never parsed (an unfinished tag or comment?)",
        )
    return parser.forms, ""


def login_form(page: str, page_url: str) -> LoginHint | None:
    """The first form of `page` (found at `page_url`) with a named password field, when
    it is posted to the same origin."""
    return _login_form(page, page_url)[0]


def _login_form(page: str, page_url: str) -> tuple[LoginHint | None, str]:
    """`login_form`, and why part of the page was not searched ("" when all of it was)."""
    forms, note = _forms(page)
    for form in forms:
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
        ), note
    return None, note


def hint(base_url: str, path: str, answer: HttpResponse) -> LoginHint | None:
    """What the answer to GET `path` says about the login, if anything."""
    return _hint(base_url, path, answer)[0]


def _hint(base_url: str, path: str, answer: HttpResponse) -> tuple[LoginHint | None, str]:
    """`hint`, and why part of the page was not searched ("" when all of it was)."""
    challenge = answer.header("WWW-Authenticate") or ""
    scheme = challenge.split(" ", 1)[0].lower()
    if answer.status == UNAUTHORIZED and scheme in ("basic", "digest"):
        style: LoginStyle = "basic" if scheme == "basic" else "digest"
        return LoginHint(
            style, path, "GET", f"401 at {path}: WWW-Authenticate: {challenge[:80]}"
        ), ""
    content_type = (answer.header("Content-Type") or "").lower()
    if answer.status == METHOD_NOT_ALLOWED and path in LOGIN_PATHS:
        style = "json" if "json" in content_type else "form"
        allow = answer.header("Allow")
        seen = f"405 to GET {path}" + (f" (Allow: {allow[:40]})" if allow else "")
        return LoginHint(style, path, "POST", seen), ""
    if answer.status < 300 and "html" in content_type:
        return _login_form(answer.body[:MAX_PARSED].decode("utf-8", "replace"), base_url + path)
    return None, ""


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
        found, note = _hint(base_url, path, answer)
        if note:
            transcript.event(f"{path}: {note}; the rest was not searched for a login form")
        pages.append(
            PageSeen(
                path,
                answer.status,
                answer.header("Content-Type") or "",
                answer.header("Server") or "",
                location,
                note,
            )
        )
        if found is not None:
            return WebFront(base_url, tuple(pages), found)
        if location and len(pages) == 1:
            target = urljoin(base_url + path, location)
            if _origin(target) == base_url and urlsplit(target).path not in asked:
                todo.append(urlsplit(target).path or "/")
        if not todo:
            todo = [p for p in LOGIN_PATHS if p not in asked][:1]
    return WebFront(base_url, tuple(pages), None)
