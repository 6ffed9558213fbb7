"""Device text printed by `medsec` cannot drive the user's terminal or break rich's markup."""

from __future__ import annotations

import pytest
from rich.console import Console

from harness.core.terminal import clean, markup_safe


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("OpenSSH_9.6\x1b]0;owned\x07", "OpenSSH_9.6"),  # window title (OSC, BEL)
        ("v1\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "v1link"),  # hyperlink (OSC, ST)
        ("\x1b[2J\x1b[1;1Hclean", "clean"),  # clear screen, cursor home (CSI)
        ("red\x1b[31m!", "red!"),
        ("abc\u202etxt.exe", "abctxt.exe"),  # right-to-left override
        ("a\u2066b\u2069c", "abc"),  # bidi isolates
        ("bell\x07 and nul\x00", "bell\ufffd and nul\ufffd"),
        ("tab\there", "tab here"),
        ("line\nbreak", "line\ufffdbreak"),
        ("caf\u00e9 \u2713", "caf\u00e9 \u2713"),  # ordinary Unicode stays
    ],
)
def test_clean_removes_what_could_drive_a_terminal(hostile: str, shown: str) -> None:
    assert clean(hostile) == shown


def test_newlines_may_be_kept_for_multi_line_text() -> None:
    assert clean("a\nb\x1b[2J", keep_newlines=True) == "a\nb"


@pytest.mark.parametrize("hostile", ["version [/]", "[bold red]x[/bold red]", "[link=x]y"])
def test_markup_safe_text_prints_as_itself_through_rich(hostile: str) -> None:
    console = Console(record=True, width=200, color_system=None)
    console.print(f"[green]ok[/] {markup_safe(hostile)}")
    assert console.export_text().strip() == f"ok {hostile}"
