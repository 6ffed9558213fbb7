"""SURFACE-008's profile-secret rule: a secret that reads as a word counts only as a token
where a secret is expected; any other secret counts wherever it appears."""

from __future__ import annotations

import pytest

from harness.core.redact import shown
from harness.probes.surface import console_secrets

PROFILE = "a secret from the profile"
CMDLINE = "[    0.000000] Kernel command line: console=ttyAMA0 root=/dev/vda2 rootwait ro"


def kinds(text: str, *secrets: str) -> list[str]:
    return [f.kind for f in console_secrets.scan(text, secrets)]


@pytest.mark.parametrize(
    "line",
    [
        CMDLINE,
        "passwd: password for root changed by root",
        "Changing password for root",
        "Welcome root, last login on ttyAMA0",
        "chroot: /root/rootfs mounted",
    ],
)
def test_a_word_like_secret_in_ordinary_text_is_not_a_leak(line: str) -> None:
    assert kinds(line, "root") == []


@pytest.mark.parametrize(
    "line",
    [
        "root password: root",
        "wifi passphrase is root",
        "login root with password root",
        "psk='root'",
        "auth_token = root",
    ],
)
def test_a_word_like_secret_where_a_secret_is_expected_is_a_leak(line: str) -> None:
    found = {f.kind: f.excerpt for f in console_secrets.scan(line, ["root"])}
    assert found[PROFILE] == shown("root")


def test_digits_only_and_letters_only_secrets_read_as_words() -> None:
    assert console_secrets.reads_as_word("root")
    assert console_secrets.reads_as_word("medsecweak")
    assert console_secrets.reads_as_word("12345678")
    assert not console_secrets.reads_as_word("Xq7-long-secret")
    assert kinds("Memory: 12345678K available", "12345678") == []
    assert PROFILE in kinds("pwd=12345678", "12345678")


def test_a_secret_that_cannot_be_a_word_counts_anywhere() -> None:
    assert kinds("mqtt: connect user=pump pw-hash Xq7-long-secretZ", "Xq7-long-secret") == [PROFILE]
