"""A profile from someone else's hands: every hostile file ends as a located error, fast.

Each case must give `ProfileError` (CLI exit 2, `file:line: field: message`) within a
second and without a traceback, whatever the file holds or is.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import yamlfile
from harness.config.profile import load_profile
from harness.core.errors import ProfileError

LETTERS = "abcdefghi"
BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{new}: &{new} [{', '.join(['*' + old] * 9)}]" for old, new in itertools.pairwise(LETTERS)]
)


def _rejected(path: Path) -> str:
    started = time.monotonic()
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert time.monotonic() - started < 2.0
    return str(caught.value)


def test_deep_nesting_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("schema: medsec/profile/v1\ndevice:\n  x: " + "[" * 100_000 + "]" * 100_000)
    assert _rejected(path) == f"{path}:3: (document): nested deeper than 64 levels"


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_a_control_character_is_named_with_its_line_and_column(tmp_path: Path, char: str) -> None:
    path = tmp_path / "ctl.yaml"
    path.write_text(f"schema: medsec/profile/v1\ndevice:\n  name: ab{char}c\n")
    code = f"U+{ord(char):04X}"
    assert _rejected(path) == f"{path}:3: (document): control character {code} at column 11"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS + "\n")
    message = _rejected(path)
    assert "more than 100000 values once aliases are expanded" in message
    assert message.startswith(f"{path}:")


def test_ordinary_aliases_still_load() -> None:
    text = "base: &b {port: 22}\nother: *b\nlist: [*b, *b]\n"
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"aliases-{os.getpid()}.yaml"
    path.write_text(text)
    try:
        assert yamlfile.load(path).data["list"] == [{"port": 22}, {"port": 22}]
    finally:
        path.unlink()


def test_a_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as out:
        out.truncate(50 * 1024 * 1024)
    assert "larger than 1048576 bytes" in _rejected(path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    assert _rejected(path) == f"{path}: (document): cannot read: not a regular file"


def test_a_device_is_refused() -> None:
    assert _rejected(Path("/dev/zero")) == "/dev/zero: (document): cannot read: not a regular file"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in _rejected(tmp_path)


def test_a_5000_digit_number_keeps_its_line(tmp_path: Path) -> None:
    path = tmp_path / "number.yaml"
    path.write_text("schema: medsec/profile/v1\ndevice:\n  firmware: " + "9" * 5000 + "\n")
    assert _rejected(path) == f"{path}:3: (document): a number of more than 100 digits"


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"schema: medsec/profile/v1\ndevice:\n  name: caf\xe9\n")
    assert _rejected(path) == f"{path}:3: (document): not UTF-8 (byte 0xe9)"


@pytest.mark.parametrize(
    "content",
    [
        "a: " + "[" * 5000 + "]" * 5000,
        "a: \x00",
        BILLION_LAUGHS,
    ],
    ids=["deep", "nul", "laughs"],
)
def test_cli_validate_exits_2_with_one_located_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{path}:" in done.stderr


SECRET = "Zq7Xw9Vb2Nm4Kp8J"  # a password, mistyped unquoted into the profile below


def _leaks(message: str) -> bool:
    """Does `message` hold any 4 characters of SECRET, or quote anything at all?"""
    pieces = (SECRET[i : i + 4] for i in range(len(SECRET) - 3))
    return any(p in message for p in pieces) or "'" in message or '"' in message


@pytest.mark.parametrize(
    ("value", "column", "hint"),
    [
        (f"*{SECRET}", 13, "an undefined alias (a value starting with *: quote it)"),
        (f"!{SECRET[:6]}@{SECRET[6:]}", 13, "an unknown tag (a value starting with !: quote it)"),
        (f"!tag{SECRET} x", 13, "an unknown tag (a value starting with !: quote it)"),
        (f"!{SECRET}!x y", 13, "an unknown tag"),
        (f"!<{SECRET} x", 31, "an unknown tag"),
        (f"!%ff{SECRET} x", 14, "an unknown tag"),
        (f"@{SECRET}", 13, "a character that cannot start a value (a value starting with @"),
        (f"%{SECRET}", 13, "a character that cannot start a value"),
        (f'"{SECRET}\\Q"', 31, "an invalid escape in a double-quoted value"),
        (f'"{SECRET}\\xQQ"', 32, "an invalid escape in a double-quoted value"),
        (f"&{SECRET[:8]}$ x", 22, "an invalid anchor or alias (a value starting with & or *"),
        (f"|{SECRET}", 14, "an invalid block scalar header (a value starting with | or >"),
        (f"!!binary {SECRET}Ä", 13, "invalid base64 after !!binary"),
    ],
    ids=[
        "alias", "tag", "tag-space", "tag-handle", "verbatim-tag", "tag-escape", "at",
        "percent", "escape", "hex-escape", "anchor", "block-scalar", "base64",
    ],
)  # fmt: skip
def test_a_yaml_error_names_line_column_and_fix_never_the_value(
    tmp_path: Path, value: str, column: int, hint: str
) -> None:
    path = tmp_path / "mistyped.yaml"
    path.write_text(f"schema: medsec/profile/v1\nssh:\n  password: {value}\n  port: 22\n")
    message = _rejected(path)
    assert message.startswith(f"{path}:3: (document): invalid YAML at column {column}: ")
    assert hint in message
    assert not _leaks(message), message


def test_other_yaml_errors_keep_only_the_parsers_own_words(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(f"ssh:\n  password: [{SECRET}\n  port: 22\n")
    assert _rejected(path) == (
        f"{path}:3: (document): invalid YAML at column 7: expected ',' or ']', but got ':'"
    )
    path.write_text(f"ssh:\n  password: x\n{SECRET}\n  port: 22\n")
    assert (
        _rejected(path)
        == f"{path}:4: (document): invalid YAML at column 7: a key without ':' after it"
    )


def test_an_anchor_defined_twice_is_named_without_its_name(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(f"a: &{SECRET} 1\nb: &{SECRET} 2\n")
    message = _rejected(path)
    assert message == (
        f"{path}:2: (document): invalid YAML at column 4: "
        "an anchor defined twice (a value starting with &: quote it)"
    )


@pytest.mark.parametrize("value", [f"*{SECRET}", f"!{SECRET[:6]}@{SECRET[6:]}", f"!tag{SECRET} x"])
def test_cli_validate_never_echoes_a_mistyped_password(tmp_path: Path, value: str) -> None:
    path = tmp_path / "pump.yaml"
    path.write_text(f"schema: medsec/profile/v1\nserial:\n  url: /dev/null\n  password: {value}\n")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert f"{path}:4: (document): invalid YAML at column 13: " in done.stderr
    assert "quote it" in done.stderr
    assert not _leaks(done.stdout + done.stderr), done.stderr
