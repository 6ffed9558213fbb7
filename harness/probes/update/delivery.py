"""Delivery adapters: getting an image to the device, and hearing its verdict.

- `HttpChannel`: the image as the body of a POST or PUT, or as a multipart form (with a
  detached signature as a second field), Basic or Digest credentials or none.
- `SwupdateChannel`: SWUpdate's web server. It answers 200 to every upload, refused or
  not; its verdict and messages come on the progress websocket (`/ws`), which the
  adapter opens before the upload and reads until SUCCESS or FAILURE.
- `SshChannel`: SFTP upload, then the profile's install command (exit status 0 means
  installed).

Every adapter can send with the profile's credentials, with none, or with wrong ones
(UPDATE-008), and can cut a transfer at a chosen byte (UPDATE-011). Reading the running
version back is `version_readers`' job.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from harness.core.deadline import Deadline
from harness.core.errors import DeviceError, ProtocolViolation
from harness.core.redact import Secret, reveal
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.transports import http, http_upload
from harness.transports.ssh import SshSession, SshTarget
from harness.transports.websocket import MessageSocket
from harness.updates.attacks import UpdateImage

WRONG_PASSWORD = "medsec-wrong-" + "password"
IDLE_WAIT_S = 3.0
SWUPDATE_UPLOAD_PATH = "/upload"  # SWUpdate's web server takes images here
# Words of a device message that carry its verdict or an error, and how many such to show.
VERDICT_WORDS = ("ERROR", "error", "successful", "invalid", "refused", "failed", "Not installing")
VERDICT_MESSAGES_SHOWN = 12


class AuthMode(str, enum.Enum):
    """Which credentials an upload carries."""

    PROFILE = "profile credentials"
    NONE = "no credentials"
    WRONG = "wrong credentials"


@dataclass(frozen=True)
class HttpAuth:
    """HTTP credentials and their scheme."""

    scheme: str  # basic | digest
    username: str
    password: Secret


@dataclass(frozen=True)
class DeliveryReply:
    """What the device said about one image, in its own words."""

    accepted: bool | None  # its verdict: True installed/accepted, False refused, None none
    status: int | None  # HTTP status of the upload, or exit status of the install command
    body: str  # the answer to the upload, or the install command's output
    messages: tuple[str, ...] = ()  # progress messages (SWUpdate's websocket)
    elapsed_s: float = 0.0
    sent: int = 0  # image bytes that left the harness
    cut: bool = False  # the harness cut the transfer on purpose
    lost: str = ""  # the connection broke during the delivery
    auth_refused: bool = False  # refused for lack of credentials, before taking the image
    login_refused: bool = False  # the credentials themselves were refused (HTTP 401, SSH)
    delivered: bool = True  # False: no connection could be made, not a byte was sent

    @property
    def verdict_messages(self) -> tuple[str, ...]:
        """The device's messages worth reading in a summary: its errors and its outcome."""
        said = [m for m in self.messages if any(word in m for word in VERDICT_WORDS)]
        return tuple(said[:VERDICT_MESSAGES_SHOWN])

    def summary(self) -> str:
        verdict = {True: "accepted", False: "refused", None: "no verdict"}[self.accepted]
        status = f"status {self.status}" if self.status is not None else "no status"
        extra = f"; {self.lost}" if self.lost else ""
        return f"{verdict} ({status}, {self.sent} bytes sent{', cut' if self.cut else ''}{extra})"


class UpdateChannel(Protocol):
    """Delivers images; implemented by every adapter below."""

    @property
    def description(self) -> str: ...

    def deliver(
        self,
        image: UpdateImage,
        transcript: Transcript,
        *,
        auth: AuthMode = AuthMode.PROFILE,
        cut_at: int | None = None,
    ) -> DeliveryReply: ...


def _credentials(auth: AuthMode, profiled: HttpAuth | None) -> HttpAuth | None:
    if auth is AuthMode.NONE:
        return None
    if auth is AuthMode.WRONG:
        scheme = profiled.scheme if profiled else "basic"
        username = profiled.username if profiled else "update"
        return HttpAuth(scheme, username, WRONG_PASSWORD)
    return profiled


def authorization(
    scope: Scope,
    credentials: HttpAuth | None,
    method: str,
    url: str,
    *,
    timeout: float,
    transcript: Transcript,
    ca_file: Path | None,
) -> dict[str, str]:
    """The Authorization header for one request (Digest asks the device for a nonce first)."""
    if credentials is None:
        return {}
    parts = urlsplit(url)
    uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if credentials.scheme == "basic":
        pair = f"{credentials.username}:{reveal(credentials.password)}"
        token = base64.b64encode(pair.encode())
        return {"Authorization": f"Basic {token.decode()}"}
    challenge_url = parts._replace(
        scheme="https" if parts.scheme in ("https", "wss") else "http"
    ).geturl()
    answer = http.request(
        scope, "GET", challenge_url, timeout=timeout, transcript=transcript, ca_file=ca_file
    )
    challenge = answer.header("WWW-Authenticate") or ""
    if answer.status != 401 or not challenge.lower().startswith("digest"):
        transcript.event(f"no Digest challenge (HTTP {answer.status}); sending without credentials")
        return {}
    header = http_upload.digest_authorization(
        challenge, method, uri, credentials.username, reveal(credentials.password)
    )
    return {"Authorization": header}


@dataclass(frozen=True)
class _Body:
    """A request body announced by length and produced in pieces."""

    length: int
    content_type: str
    pieces: tuple[bytes | UpdateImage, ...]

    def chunks(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from piece.chunks()


def _raw_body(image: UpdateImage) -> _Body:
    return _Body(image.size, "application/octet-stream", (image,))


def multipart_body(image: UpdateImage, field_name: str, signature_field: str | None) -> _Body:
    """A multipart/form-data body: the image, then its detached signature if it has one."""
    boundary = "medsec-" + secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
        f'filename="{image.name}.img"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    pieces: list[bytes | UpdateImage] = [head, image, b"\r\n"]
    if image.signature is not None and signature_field:
        pieces.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{signature_field}"; '
                f'filename="{image.name}.sig"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + image.signature
            + b"\r\n"
        )
    pieces.append(f"--{boundary}--\r\n".encode())
    length = sum(p.size if isinstance(p, UpdateImage) else len(p) for p in pieces)
    return _Body(length, f"multipart/form-data; boundary={boundary}", tuple(pieces))


@dataclass(frozen=True)
class HttpChannel:
    """Images uploaded to `url` over HTTP(S)."""

    scope: Scope
    url: str
    credentials: HttpAuth | None
    ca_file: Path | None
    timeout: float
    method: str = "POST"
    upload: str = "raw"  # raw | multipart
    form_field: str = "file"
    signature_field: str = "signature"

    @property
    def description(self) -> str:
        return f"{self.method} {self.url} ({self.upload})"

    def deliver(
        self,
        image: UpdateImage,
        transcript: Transcript,
        *,
        auth: AuthMode = AuthMode.PROFILE,
        cut_at: int | None = None,
    ) -> DeliveryReply:
        if self.upload == "multipart" or image.signature is not None:
            body = multipart_body(image, self.form_field, self.signature_field)
        else:
            body = _raw_body(image)
        headers = authorization(
            self.scope,
            _credentials(auth, self.credentials),
            self.method,
            self.url,
            timeout=self.timeout,
            transcript=transcript,
            ca_file=self.ca_file,
        )
        result = http_upload.upload(
            self.scope,
            self.method,
            self.url,
            length=body.length,
            chunks=body.chunks(),
            headers={"Content-Type": body.content_type, **headers},
            timeout=self.timeout,
            transcript=transcript,
            ca_file=self.ca_file,
            cut_at=cut_at,
        )
        return _http_reply(result, image)


def _http_reply(result: http_upload.UploadResult, image: UpdateImage) -> DeliveryReply:
    response = result.response
    status = response.status if response else None
    return DeliveryReply(
        accepted=None if status is None else 200 <= status < 300,
        status=status,
        body=response.text if response else "",
        elapsed_s=result.elapsed_s,
        sent=min(result.sent, image.size),
        cut=result.cut,
        lost=result.lost,
        auth_refused=status in (401, 403),
        login_refused=status == 401,
    )


@dataclass(frozen=True)
class SwupdateEvent:
    """One progress message of SWUpdate's websocket, decoded."""

    kind: str  # status | message | source | info | step
    value: str  # the status name, or the message text

    @classmethod
    def parse(cls, text: str) -> SwupdateEvent | None:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return None
        if not isinstance(document, dict):
            return None
        kind = str(document.get("type", ""))
        value = (
            document.get("status")
            if kind == "status"
            else document.get("text", document.get("source", ""))
        )
        return cls(kind, str(value or ""))


def swupdate_verdict(messages: tuple[str, ...]) -> bool | None:
    """SUCCESS -> True, FAILURE -> False, neither yet -> None (the first one counts)."""
    for text in messages:
        event = SwupdateEvent.parse(text)
        if event and event.kind == "status" and event.value in ("SUCCESS", "FAILURE"):
            return event.value == "SUCCESS"
    return None


def _idle(messages: tuple[str, ...]) -> bool:
    return any("Waiting for requests" in text for text in messages)


@dataclass(frozen=True)
class SwupdateChannel:
    """SWUpdate's web server: multipart upload to /upload, verdict from /ws."""

    scope: Scope
    url: str  # the web server's base URL
    credentials: HttpAuth | None
    ca_file: Path | None
    timeout: float
    verdict_timeout: float

    @property
    def description(self) -> str:
        return f"SWUpdate web server {self.url} (/upload, verdict on /ws)"

    def _endpoint(self, path: str, websocket: bool = False) -> str:
        parts = urlsplit(self.url)
        scheme = parts.scheme
        if websocket:
            scheme = "wss" if scheme == "https" else "ws"
        return parts._replace(scheme=scheme, path=parts.path.rstrip("/") + path).geturl()

    def deliver(
        self,
        image: UpdateImage,
        transcript: Transcript,
        *,
        auth: AuthMode = AuthMode.PROFILE,
        cut_at: int | None = None,
    ) -> DeliveryReply:
        credentials = _credentials(auth, self.credentials)
        progress = self._open_progress(credentials, transcript)
        try:
            upload_url = self._endpoint(SWUPDATE_UPLOAD_PATH)
            headers = authorization(
                self.scope,
                credentials,
                "POST",
                upload_url,
                timeout=self.timeout,
                transcript=transcript,
                ca_file=self.ca_file,
            )
            body = multipart_body(image, "file", None)
            result = http_upload.upload(
                self.scope,
                "POST",
                upload_url,
                length=body.length,
                chunks=body.chunks(),
                headers={"Content-Type": body.content_type, **headers},
                timeout=self.timeout,
                transcript=transcript,
                ca_file=self.ca_file,
                cut_at=cut_at,
            )
            http_reply = _http_reply(result, image)
            messages: tuple[str, ...] = ()
            verdict: bool | None = None
            if progress is not None and not http_reply.auth_refused:
                wait = min(self.timeout, IDLE_WAIT_S) if result.cut else self.verdict_timeout
                progress.wait(lambda m: swupdate_verdict(m) is not None, Deadline(wait))
                verdict = swupdate_verdict(progress.messages)
                if verdict is not None:
                    progress.wait(_idle, Deadline(IDLE_WAIT_S))
                messages = progress.messages
        finally:
            if progress is not None:
                progress.close()
        if http_reply.auth_refused:
            verdict = False
        texts = tuple(
            e.value for e in (SwupdateEvent.parse(m) for m in messages) if e and e.kind == "message"
        )
        return DeliveryReply(
            accepted=verdict,
            status=http_reply.status,
            body=http_reply.body,
            messages=texts,
            elapsed_s=result.elapsed_s,
            sent=http_reply.sent,
            cut=http_reply.cut,
            lost=http_reply.lost,
            auth_refused=http_reply.auth_refused,
            login_refused=http_reply.login_refused,
        )

    def _open_progress(
        self, credentials: HttpAuth | None, transcript: Transcript
    ) -> MessageSocket | None:
        url = self._endpoint("/ws", websocket=True)
        headers = authorization(
            self.scope,
            credentials,
            "GET",
            url,
            timeout=self.timeout,
            transcript=transcript,
            ca_file=self.ca_file,
        )
        try:
            return MessageSocket(
                self.scope,
                url,
                timeout=self.timeout,
                transcript=transcript,
                headers=headers,
                ca_file=self.ca_file,
            )
        except ProtocolViolation as exc:
            transcript.event(f"progress websocket not opened: {exc}")
            return None


@dataclass(frozen=True)
class SshChannel:
    """SFTP upload to `upload_path`, then `install_command` ({image}, {signature})."""

    target: SshTarget  # the profiled account logs in; UPDATE-008 tries no or a wrong password
    upload_path: str
    install_command: str
    install_timeout: float

    @property
    def description(self) -> str:
        return f"SFTP to {self.target}{self.upload_path}, then {self.install_command!r}"

    def deliver(
        self,
        image: UpdateImage,
        transcript: Transcript,
        *,
        auth: AuthMode = AuthMode.PROFILE,
        cut_at: int | None = None,
    ) -> DeliveryReply:
        started = time.monotonic()
        session = self.target.connect(transcript)
        try:
            if not self._log_in(session, auth):
                return DeliveryReply(
                    False,
                    None,
                    "SSH authentication refused",
                    elapsed_s=time.monotonic() - started,
                    auth_refused=auth is not AuthMode.PROFILE,
                    login_refused=True,
                )
            sent, cut = self._put(session, image, transcript, cut_at)
            if cut:
                return DeliveryReply(
                    None, None, "", elapsed_s=time.monotonic() - started, sent=sent, cut=True
                )
            command = self.install_command.format(
                image=self.upload_path, signature=self.upload_path + ".sig"
            )
            session.timeout = self.install_timeout
            status, output = session.run(command)
        except DeviceError as exc:
            return DeliveryReply(
                None, None, "", elapsed_s=time.monotonic() - started, lost=str(exc)
            )
        finally:
            session.close()
        return DeliveryReply(
            status == 0,
            status,
            output,
            elapsed_s=time.monotonic() - started,
            sent=image.size,
        )

    def _log_in(self, session: SshSession, auth: AuthMode) -> bool:
        target = self.target
        if auth is AuthMode.PROFILE:
            return session.login(
                target.username, password=target.password, key_file=target.key_file
            )
        return session.login(
            target.username, password="" if auth is AuthMode.NONE else WRONG_PASSWORD
        )

    def _put(
        self, session: SshSession, image: UpdateImage, transcript: Transcript, cut_at: int | None
    ) -> tuple[int, bool]:
        sftp = session.sftp()
        signature_path = self.upload_path + ".sig"
        sent = 0
        try:
            with contextlib.suppress(OSError):
                sftp.remove(signature_path)
            with sftp.open(self.upload_path, "wb") as remote:
                for chunk in image.chunks():
                    if cut_at is not None and sent + len(chunk) >= cut_at:
                        remote.write(chunk[: cut_at - sent])
                        transcript.event(
                            f"SFTP transfer cut on purpose after {cut_at} of {image.size} bytes"
                        )
                        return cut_at, True
                    remote.write(chunk)
                    sent += len(chunk)
            if image.signature is not None:
                with sftp.open(signature_path, "wb") as remote:
                    remote.write(image.signature)
            transcript.event(f"SFTP put {sent} bytes to {self.upload_path}")
        except OSError as exc:
            raise ProtocolViolation(
                session.target, f"SFTP upload failed after {sent} bytes: {exc}"
            ) from None
        finally:
            sftp.close()
        return sent, False
