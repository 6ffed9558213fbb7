"""Delivery adapters: getting an image to the device and reading its running version back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ProtocolViolation
from harness.scope import Scope
from harness.transcript import Transcript
from harness.transports import http


@dataclass(frozen=True)
class DeliveryReply:
    """What the update channel answered to one image."""

    status: int
    body: str
    elapsed_s: float

    @property
    def claims_accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class HttpsChannel:
    """Images POSTed as the request body to `update.url`, version read from `version_url`."""

    scope: Scope
    url: str
    version_url: str | None
    version_regex: str
    credentials: tuple[str, str] | None
    ca_file: Path | None
    timeout: float

    def deliver(self, image: bytes, transcript: Transcript) -> DeliveryReply:
        response = http.request(
            self.scope,
            "POST",
            self.url,
            timeout=self.timeout,
            transcript=transcript,
            body=image,
            headers={"Content-Type": "application/octet-stream"},
            basic_auth=self.credentials,
            ca_file=self.ca_file,
        )
        return DeliveryReply(response.status, response.text, response.elapsed_s)

    def read_version(self, transcript: Transcript) -> str:
        """The running version, as `version_url` reports it."""
        if self.version_url is None:
            raise LookupError("the profile has no update.version_url")
        response = http.request(
            self.scope,
            "GET",
            self.version_url,
            timeout=self.timeout,
            transcript=transcript,
            ca_file=self.ca_file,
        )
        target = self.version_url
        if response.status != 200:
            raise ProtocolViolation(target, f"version URL answered HTTP {response.status}")
        return parse_version_reply(response.text, self.version_regex, target)


def parse_version_reply(text: str, regex: str, target: str) -> str:
    """A JSON object's `version` field if the reply is one, else the regex's first group."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("version"), str | int | float):
        return str(document["version"])
    match = re.search(regex, text)
    if match is None:
        raise ProtocolViolation(target, f"no version in the answer: {text[:120]!r}")
    return match.group(1) if match.groups() else match.group(0)
