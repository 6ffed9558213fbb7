"""What the common bootloaders print and which keys they take, by name (AUTH-006).

A profile names its bootloader (`serial.bootloader.name: u-boot`) and sets only what its
board changed; a bootloader this table does not know needs at least its prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BootloaderTraits:
    """How one bootloader starts, stops and boots on a console."""

    name: str
    prompt: str  # regex, searched line by line (re.MULTILINE)
    interrupt: tuple[str, ...]  # keys pressed one at a time, in turn, through the boot window
    password_prompt: str  # text, any case: the bootloader asks a password before its prompt
    boot_command: str  # typed, then Enter, at an open prompt: the device boots
    clear_line: str  # empties the command line, so boot_command is typed on a clean line
    banner: str  # regex: the bootloader has started, so the reset really began


U_BOOT = BootloaderTraits(
    name="u-boot",
    # Line-anchored, not end-anchored: a key U-Boot echoes after its prompt still shows it.
    prompt=r"^(?:=>|U-Boot>) ?",
    # U-Boot's default autoboot stops on any key and keeps the rest as typed input; Ctrl-C
    # also stops a CONFIG_AUTOBOOT_KEYED_CTRLC board. Enter would repeat the last command.
    interrupt=("\x03", " "),
    password_prompt="password",  # noqa: S106 - a prompt, not a password
    boot_command="boot",
    clear_line="\x03",  # U-Boot drops the line on Ctrl-C and prints its prompt again
    banner=r"U-Boot(?: SPL)? |Hit any key to stop autoboot|Autoboot in \d+ seconds",
)
BAREBOX = BootloaderTraits(
    name="barebox",
    prompt=r"^barebox@[^\r\n]*:/",
    interrupt=("\x03", " "),
    password_prompt="password",  # noqa: S106 - a prompt, not a password
    boot_command="boot",
    clear_line="\x03",
    banner=r"barebox \d{4}\.\d{2}|Hit (?:m for menu or )?any (?:other )?key to stop autoboot",
)
GRUB = BootloaderTraits(
    name="grub",
    prompt=r"^grub> ?",
    # Esc shows a hidden menu (or stops its countdown); `c` asks for the command line,
    # which a GRUB with superusers guards with a user name and password.
    interrupt=("\x1b", "c"),
    password_prompt="Enter username:",  # noqa: S106 - a prompt, not a password
    boot_command="normal",  # reads grub.cfg again: the menu's countdown boots the default
    clear_line="\x15",  # Ctrl-U: kill the line
    banner=r"GNU GRUB|Welcome to GRUB|will be executed automatically|Press any key to continue",
)
KNOWN: dict[str, BootloaderTraits] = {
    "uboot": U_BOOT,
    "dasuboot": U_BOOT,
    "barebox": BAREBOX,
    "grub": GRUB,
    "grub2": GRUB,
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def known(name: str) -> BootloaderTraits | None:
    """The traits of a bootloader this table knows by `name` (any case, `-` or not)."""
    return KNOWN.get(_key(name))


def generic(name: str, prompt: str) -> BootloaderTraits:
    """Cautious traits for a bootloader the table does not know: its prompt is given."""
    banners = "|".join(dict.fromkeys(t.banner for t in KNOWN.values()))
    return BootloaderTraits(
        name=name,
        prompt=prompt,
        interrupt=("\x03", " "),
        password_prompt="password",  # noqa: S106 - a prompt, not a password
        boot_command="boot",
        clear_line="\x15",
        banner=banners + r"|(?i:autoboot|press any key)",
    )


def names() -> str:
    """The names this table knows, for messages and the schema."""
    return ", ".join(dict.fromkeys(t.name for t in KNOWN.values()))


KEY_NAMES = {"\x03": "Ctrl-C", " ": "space", "\r": "Enter", "\x1b": "Esc", "\x15": "Ctrl-U"}


def key_name(key: str) -> str:
    """How a key shows in evidence: `Ctrl-C`, `space`, or the text typed."""
    if key in KEY_NAMES:
        return KEY_NAMES[key]
    if len(key) == 1 and ord(key) < 0x20:
        return f"Ctrl-{chr(ord(key) + 0x40)}"
    return repr(key)
