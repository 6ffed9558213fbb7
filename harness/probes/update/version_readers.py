"""Reading the running version back: from a URL, an SSH command, or a console command.

Every reader answers `read(transcript) -> str` and raises `DeviceError` when the device
does not answer, so a check can tell "still refusing" from "gone".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from harness.core.deadline import Deadline
from harness.core.errors import ProtocolViolation
from harness.core.redact import Secret, reveal
from harness.core.scope import Scope
from harness.core.transcript import Transcript
from harness.probes import console as console_probe
from harness.probes.console import ConsolePrompts
from harness.probes.update.delivery import HttpAuth, authorization
from harness.transports import http, http_upload
from harness.transports.serial import Console
from harness.transports.ssh import SshTarget


class VersionReader(Protocol):
    """Reads the running version; DeviceError when the device does not answer."""

    @property
    def description(self) -> str: ...

    def read(self, transcript: Transcript) -> str: ...


def parse_version_reply(text: str, regex: str, target: str) -> str:
    """A JSON object's `version` field if the reply is one, else the regex's first group."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        document = None
    if isinstance(document, dict) and isinstance(document.get("version"), str | int | float):
        return str(document["version"])
    match = re.search(regex, text)
    if match is None:
        raise ProtocolViolation(target, f"no version in the answer: {text[:120]!r}")
    return match.group(1) if match.groups() else match.group(0)


@dataclass(frozen=True)
class UrlVersion:
    """GET `url` (with the update credentials if the device asks for them)."""

    scope: Scope
    url: str
    regex: str
    credentials: HttpAuth | None
    ca_file: Path | None
    timeout: float

    @property
    def description(self) -> str:
        return f"GET {self.url}"

    def read(self, transcript: Transcript) -> str:
        headers = {}
        if self.credentials is not None and self.credentials.scheme == "basic":
            headers = authorization(
                self.scope,
                self.credentials,
                "GET",
                self.url,
                timeout=self.timeout,
                transcript=transcript,
                ca_file=self.ca_file,
            )
        response = http.request(
            self.scope,
            "GET",
            self.url,
            timeout=self.timeout,
            transcript=transcript,
            headers=headers,
            ca_file=self.ca_file,
        )
        challenge = response.header("WWW-Authenticate") or ""
        if (
            response.status == 401
            and self.credentials is not None
            and challenge.lower().startswith("digest")
        ):
            path = urlsplit(self.url).path or "/"
            header = http_upload.digest_authorization(
                challenge, "GET", path, self.credentials.username, reveal(self.credentials.password)
            )
            response = http.request(
                self.scope,
                "GET",
                self.url,
                timeout=self.timeout,
                transcript=transcript,
                headers={"Authorization": header},
                ca_file=self.ca_file,
            )
        if response.status != 200:
            raise ProtocolViolation(self.url, f"version URL answered HTTP {response.status}")
        return parse_version_reply(response.text, self.regex, self.url)


@dataclass(frozen=True)
class SshCommandVersion:
    """Log in over SSH as the profiled account and run `command`."""

    target: SshTarget
    command: str
    regex: str

    @property
    def description(self) -> str:
        return f"ssh {self.target.username}@{self.target} {self.command!r}"

    def read(self, transcript: Transcript) -> str:
        with self.target.login(transcript) as session:
            status, output = session.run(self.command)
        if status != 0:
            raise ProtocolViolation(session.target, f"{self.command!r} exited with {status}")
        return parse_version_reply(output, self.regex, session.target)


@dataclass(frozen=True)
class ConsoleVersion:
    """Log in on the serial console, type `command`, log out."""

    scope: Scope
    url: str
    baudrate: int
    prompts: ConsolePrompts
    username: str
    password: Secret
    command: str
    regex: str
    timeout: float

    @property
    def description(self) -> str:
        return f"console {self.url} {self.command!r}"

    def read(self, transcript: Transcript) -> str:
        deadline = Deadline(4 * self.timeout)
        with Console(
            self.scope,
            self.url,
            baudrate=self.baudrate,
            timeout=self.timeout,
            transcript=transcript,
        ) as port:
            console_probe.reach_login_prompt(port, self.prompts, deadline)
            login = console_probe.try_login(
                port, self.prompts, self.username, self.password, deadline
            )
            if login.outcome is not console_probe.LoginOutcome.SHELL:
                raise ProtocolViolation(
                    self.url, f"the profiled console login {self.username!r} was refused"
                )
            port.forget()
            port.write(self.command.encode() + b"\r", "version command")
            _, shell = self.prompts.patterns()[0], self.prompts.patterns()[2]
            _, seen = port.expect([shell], deadline)
            console_probe.log_out(port, self.prompts, deadline)
        text = seen.decode("utf-8", "replace")
        body = text.split("\n", 1)[1] if "\n" in text else text  # drop the echoed command
        return parse_version_reply(body, self.regex, self.url)
