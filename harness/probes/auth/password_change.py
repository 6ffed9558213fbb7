"""AUTH-012: ask the API to set weak new passwords; each must be refused, the old one kept.

Every weak password the device accepts is changed back at once, and the trial ends by
logging in with the original password, so the account is left as it was found (or the
evidence says it could not be).
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass

from harness.config.profile import PasswordChange
from harness.core.errors import DeviceUnreachable
from harness.core.redact import Secret, reveal, shown
from harness.core.transcript import Transcript
from harness.probes.auth.http_auth import HttpApi, LoginVerdict, Session, login

POLICY_REFUSALS = frozenset({400, 403, 409, 422})


def weak_candidates(username: str, min_length: int, vendor_default: str) -> list[tuple[str, str]]:
    """(rule, password) pairs a password policy must refuse."""
    alphabet = string.ascii_letters + string.digits + "!#%&*+-="
    short = "".join(secrets.choice(alphabet) for _ in range(max(1, min_length - 1)))
    common = ("password" + "1234567890")[: max(min_length, 12)]
    if len(common) < min_length:
        common = (common * 4)[:min_length]
    return [
        (f"too short ({len(short)} characters, random)", short),
        ("equal to the user name", username),
        (f"common ({len(common)} characters)", common),
        ("a vendor default", vendor_default),
    ]


@dataclass(frozen=True)
class ChangeAttempt:
    """One requested change: the new password only in redacted form."""

    rule: str
    password_shown: str
    status: int
    accepted: bool
    decided: bool
    detail: str
    restored: bool | None = None  # after an accepted weak password: changed back?


@dataclass(frozen=True)
class ChangeTrial:
    attempts: tuple[ChangeAttempt, ...]
    old_password_works: bool
    session_secrets: tuple[str, ...]

    @property
    def accepted(self) -> tuple[ChangeAttempt, ...]:
        return tuple(a for a in self.attempts if a.accepted)

    @property
    def undecided(self) -> tuple[ChangeAttempt, ...]:
        """Answers that are neither an acceptance nor a policy refusal."""
        return tuple(a for a in self.attempts if not a.decided)


def try_weak_passwords(
    api: HttpApi,
    spec: PasswordChange,
    candidates: list[tuple[str, str]],
    transcript: Transcript,
) -> ChangeTrial:
    """Request each candidate as the account's new password (see the module docstring)."""
    username = spec.account.username
    original = spec.account.password
    session = _login(api, username, original, transcript)
    seen = [session.secret]
    attempts = []
    for rule, candidate in candidates:
        status, detail = _change(api, spec, session, original, candidate, transcript)
        accepted = 200 <= status < 300
        restored = None
        if accepted:
            back, _ = _change(api, spec, session, candidate, original, transcript)
            restored = 200 <= back < 300
        decided = accepted or status in POLICY_REFUSALS
        attempts.append(
            ChangeAttempt(rule, shown(candidate), status, accepted, decided, detail, restored)
        )
    check = login(api, username, original, transcript)
    if check.session is not None:
        seen.append(check.session.secret)
    return ChangeTrial(tuple(attempts), check.verdict is LoginVerdict.ACCEPTED, tuple(seen))


def _login(api: HttpApi, username: str, password: Secret, transcript: Transcript) -> Session:
    result = login(api, username, password, transcript)
    if result.session is None or result.verdict is not LoginVerdict.ACCEPTED:
        raise DeviceUnreachable(
            api.http.base_url, f"the account {username!r} cannot log in ({result.detail})"
        )
    return result.session


def _change(
    api: HttpApi,
    spec: PasswordChange,
    session: Session,
    old: Secret,
    new: Secret,
    transcript: Transcript,
) -> tuple[int, str]:
    transcript.send_secret(f"change password {shown(old)} -> {shown(new)}")
    body = json.dumps({spec.old_field: reveal(old), spec.new_field: reveal(new)}).encode()
    headers = {"Content-Type": "application/json", **session.headers}
    reply = api.send(spec.method, spec.path, transcript, headers=headers, body=body)
    return reply.status, reply.text.strip()[:200]
