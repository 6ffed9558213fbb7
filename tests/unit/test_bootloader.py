"""AUTH-006's rules: the known bootloaders' traits, what their consoles print, the finding."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from harness.config.bootloaders import key_name
from harness.config.profile import Bootloader
from harness.probes.auth.bootloader import HANDOFF, RESTART, BootFinding, BootOutcome

# What the bootloaders really print (U-Boot: Debian's qemu_arm64 build, as the bench shows).
UBOOT_BANNER = "U-Boot 2023.01+dfsg-2+deb12u3 (Jun 22 2026 - 08:38:07 +0000)"
UBOOT_STOPPED = "Hit any key to stop autoboot:  2 \b\b\b 0 \r\n=> "


@pytest.mark.parametrize("name", ["u-boot", "U-Boot", "uboot", "Das U-Boot"])
def test_u_boot_by_any_spelling_brings_its_keys(name: str) -> None:
    traits = Bootloader(name=name).traits
    assert traits.name == name
    assert traits.interrupt == ("\x03", " ")  # never Enter (repeats) nor Esc (stays in the line)
    assert traits.boot_command == "boot"
    assert traits.clear_line == "\x03"


def test_the_profile_overrides_the_named_defaults() -> None:
    traits = Bootloader(name="U-Boot", prompt="=> $", interrupt=[" "], boot_command="").traits
    assert (traits.prompt, traits.interrupt, traits.boot_command) == ("=> $", (" ",), "")
    assert traits.banner == Bootloader(name="u-boot").traits.banner


def test_an_unknown_bootloader_needs_its_prompt_and_gets_cautious_keys() -> None:
    with pytest.raises(ValidationError, match=r"prompt: required.*known: u-boot, barebox, grub"):
        Bootloader(name="RedBoot")
    traits = Bootloader(name="RedBoot", prompt="^RedBoot> ").traits
    assert traits.interrupt == ("\x03", " ")
    assert traits.clear_line == "\x15"
    assert re.search(traits.banner, "Hit any key to stop autoboot")


@pytest.mark.parametrize(
    ("name", "console", "shows_prompt"),
    [
        ("u-boot", UBOOT_STOPPED, True),
        ("u-boot", "\r\n=>  ", True),  # a key echoed after the prompt
        ("u-boot", "\r\nU-Boot> ", True),
        ("u-boot", UBOOT_BANNER + "\r\nHit any key to stop autoboot:  2 ", False),
        ("u-boot", "Starting kernel ...\r\n", False),
        ("barebox", "\r\nbarebox@Phytec phyCORE-i.MX6:/ ", True),
        ("barebox", "barebox 2023.07.0 #1 Mon Jul 3\r\n", False),
        ("grub", "\r\ngrub> ", True),
        ("grub", "GNU GRUB  version 2.06\r\n", False),
    ],
)
def test_the_named_prompts_are_recognised(name: str, console: str, shows_prompt: bool) -> None:
    prompt = re.compile(Bootloader(name=name).traits.prompt, re.MULTILINE)
    assert bool(prompt.search(console)) is shows_prompt


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("u-boot", UBOOT_BANNER),
        ("u-boot", "U-Boot SPL 2021.01 (Jan 01 2021 - 00:00:00 +0000)"),
        ("u-boot", "Hit any key to stop autoboot:  3 "),
        ("barebox", "barebox 2023.07.0-00001-g1234 #1 Mon Jul 3 2023"),
        ("grub", "                             GNU GRUB  version 2.06"),
    ],
)
def test_the_named_banners_say_the_reset_began(name: str, line: str) -> None:
    assert re.search(Bootloader(name=name).traits.banner, line)


def test_restart_and_kernel_messages() -> None:
    assert RESTART.search(b"[  812.3] reboot: Restarting system")
    assert RESTART.search(b"The system is going down NOW!")
    assert not RESTART.search(b"sh: reboot: not found")
    for line in (b"Starting kernel ...", b"[    0.000000] Booting Linux on physical CPU 0x0"):
        assert HANDOFF.search(line)
    assert not HANDOFF.search(UBOOT_BANNER.encode())


def test_keys_are_named_for_the_evidence() -> None:
    assert [key_name(k) for k in ("\x03", " ", "\r", "\x1b", "\x02", "stop")] == [
        "Ctrl-C",
        "space",
        "Enter",
        "Esc",
        "Ctrl-B",
        "'stop'",
    ]


def test_only_an_open_prompt_is_an_interrupted_boot() -> None:
    def finding(outcome: BootOutcome) -> BootFinding:
        return BootFinding(outcome, (), 0.1, UBOOT_BANNER, None, True, "")

    assert finding(BootOutcome.INTERRUPTED).interrupted
    for outcome in (BootOutcome.LOCKED, BootOutcome.BOOTED, BootOutcome.NOT_RESET):
        assert not finding(outcome).interrupted
