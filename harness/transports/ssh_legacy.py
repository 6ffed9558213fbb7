"""SSH algorithms paramiko no longer ships, for audits of old servers and the emulator's W-07."""

from __future__ import annotations

from hashlib import sha1

import paramiko
from paramiko.kex_group14 import KexGroup14SHA256

GROUP14_SHA1 = "diffie-hellman-group14-sha1"


class KexGroup14SHA1(KexGroup14SHA256):
    """RFC 4253's group14 with SHA-1: the same 2048-bit group, the deprecated hash."""

    name = GROUP14_SHA1
    hash_algo = sha1


def enable_group14_sha1(transport: paramiko.Transport) -> None:
    """Make `diffie-hellman-group14-sha1` a kex this one transport can be told to use."""
    transport._kex_info = {**transport._kex_info, GROUP14_SHA1: KexGroup14SHA1}  # type: ignore[attr-defined]
