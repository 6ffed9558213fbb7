"""The pump's running firmware and its update verifier.

The hardened verifier checks, in order: format (`medsec_v1.parse`), model, hardware
revision, signature with the trusted key, payload digest, and anti-rollback (the image
must be strictly newer). Each planted weakness removes or changes exactly one step,
chosen by one field of `VerifierFlags`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.updates import medsec_v1
from harness.updates.versions import parse_version


@dataclass(frozen=True)
class UpdateVerdict:
    """What the verifier decided; `version` is the version running afterwards."""

    accepted: bool
    reason: str
    version: str


@dataclass(frozen=True)
class VerifierFlags:
    """Which verification steps run; the defaults are the hardened device."""

    check_payload_digest: bool = True  # False plants W-09
    check_rollback: bool = True  # False plants W-11
    trust_embedded_key: bool = False  # True plants W-10

    @classmethod
    def for_weaknesses(cls, weaknesses: Collection[str]) -> VerifierFlags:
        """The flags of a pump with these planted weakness ids."""
        return cls(
            check_payload_digest="W-09" not in weaknesses,
            check_rollback="W-11" not in weaknesses,
            trust_embedded_key="W-10" in weaknesses,
        )


_Check = Callable[[medsec_v1.Image], "str | None"]


class FirmwareState:
    """The running firmware identity; updates replace the version under a lock."""

    def __init__(
        self,
        *,
        version: str,
        model: str,
        hardware: str,
        trusted_key: Ed25519PublicKey,
        flags: VerifierFlags | None = None,
    ) -> None:
        parse_version(version)
        self.model = model
        self.hardware = hardware
        self.trusted_key = trusted_key
        self.flags = flags or VerifierFlags()
        self._version = version
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The version running now."""
        with self._lock:
            return self._version

    def verify_and_install(self, image: bytes) -> UpdateVerdict:
        """Verify a medsec-v1 image and, if every step passes, install its version."""
        with self._lock:
            try:
                parsed = medsec_v1.parse(image)
            except medsec_v1.ImageFormatError as exc:
                return UpdateVerdict(False, f"malformed image: {exc}", self._version)
            for check in self._checks():
                reason = check(parsed)
                if reason is not None:
                    return UpdateVerdict(False, reason, self._version)
            self._version = parsed.header.version
            return UpdateVerdict(True, "installed", self._version)

    def _checks(self) -> list[_Check]:
        checks: list[_Check] = [
            self._check_model,
            self._check_hardware,
            self._check_version_syntax,
            self._check_signature,
        ]
        if self.flags.check_payload_digest:
            checks.append(self._check_payload_digest)
        if self.flags.check_rollback:
            checks.append(self._check_newer)
        return checks

    def _check_model(self, image: medsec_v1.Image) -> str | None:
        if image.header.model != self.model:
            return f"image is for model {image.header.model!r}, this device is {self.model!r}"
        return None

    def _check_hardware(self, image: medsec_v1.Image) -> str | None:
        if image.header.hardware != self.hardware:
            return (
                f"image is for hardware {image.header.hardware!r}, this device is {self.hardware!r}"
            )
        return None

    def _check_version_syntax(self, image: medsec_v1.Image) -> str | None:
        try:
            parse_version(image.header.version)
        except ValueError as exc:
            return f"image version refused: {exc}"
        return None

    def _check_signature(self, image: medsec_v1.Image) -> str | None:
        if not image.signature_valid(self._verification_key(image)):
            return "signature does not verify with the trusted update key"
        return None

    def _verification_key(self, image: medsec_v1.Image) -> Ed25519PublicKey:
        if self.flags.trust_embedded_key:
            return image.embedded_key() or self.trusted_key  # W-10: the package names its key
        return self.trusted_key

    def _check_payload_digest(self, image: medsec_v1.Image) -> str | None:
        if not image.payload_digest_matches():
            return "payload SHA-256 does not match the signed header"
        return None

    def _check_newer(self, image: medsec_v1.Image) -> str | None:
        if parse_version(image.header.version) <= parse_version(self._version):
            return (
                f"version {image.header.version} is not newer than the running "
                f"{self._version} (anti-rollback)"
            )
        return None
