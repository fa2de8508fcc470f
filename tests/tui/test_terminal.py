"""Protocol choice, tmux included: every branch of ``terminal.decide`` and the tmux version probe."""

from __future__ import annotations

import pytest

from pixelperfecter.tui.terminal import decide, tmux_version, version_tuple


def test_outside_tmux_sixel_then_kitty_then_half_blocks() -> None:
    assert decide("auto", True, True, None).kind == "sixel"
    assert decide("auto", False, True, None).kind == "kitty"
    d = decide("auto", False, False, None)
    assert d.kind == "halfblock" and "no Sixel or Kitty" in d.reason
    assert decide("kitty", False, False, None).kind == "kitty"  # forced: honoured outside tmux


def test_tmux_that_renders_sixel_itself_gets_sixel() -> None:
    d = decide("auto", True, False, "3.4")
    assert d.kind == "sixel" and "tmux 3.4" in d.reason


@pytest.mark.parametrize("choice", ["auto", "sixel", "kitty", "halfblock"])
def test_old_tmux_gets_half_blocks_with_a_reason(choice: str) -> None:
    d = decide(choice, False, False, "3.3a")
    assert d.kind == "halfblock" and "tmux 3.3a" in d.reason and "\n" not in d.reason
    if choice == "sixel":  # forcing Sixel there used to give blank panes and no word about it
        assert "-g sixel" in d.reason and "blank" in d.reason


def test_tmux_version_reads_tmux_minus_v() -> None:
    assert tmux_version({}) is None
    assert tmux_version({"TMUX": "/tmp/tmux-0/default,1,0"}, run=lambda argv: "tmux 3.3a\n") == "3.3a"
    assert version_tuple("3.3a") == (3, 3)
    assert version_tuple("3.4") >= (3, 4) > version_tuple("3.3a")


def test_old_tmux_with_passthrough_carries_sixel_when_asked() -> None:
    d = decide("sixel", False, False, "3.3a", passthrough=True)
    assert d.kind == "sixel-tmux" and "passthrough" in d.reason
    auto = decide("auto", False, False, "3.3a", passthrough=True)
    assert auto.kind == "halfblock" and "-g sixel" in auto.reason  # never guessed: tmux cannot tell what is outside
    off = decide("sixel", False, False, "3.3a", passthrough=False)
    assert off.kind == "halfblock" and "allow-passthrough" in off.reason


def test_passthrough_wrapping_doubles_every_escape() -> None:
    from pixelperfecter.tui.terminal import tmux_passthrough, wrap_passthrough

    wrapped = wrap_passthrough("\x1b[3;4H\x1bPq#0;2;0;0;0\x1b\\")
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b[3;4H\x1b\x1bPq") and wrapped.endswith("\x1b\x1b\\\x1b\\")
    assert wrapped[len("\x1bPtmux;"):-2].replace("\x1b\x1b", "").count("\x1b") == 0
    assert tmux_passthrough(run=lambda argv: "on\n") and not tmux_passthrough(run=lambda argv: "off\n")


def test_inside_tmux_the_kitty_query_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kitty graphics query is what leaked into tmux's status line as ``Gi=…,s=1,v=1``."""
    import sys

    from textual_image.renderable import sixel, tgp

    from pixelperfecter.tui import terminal

    asked: list[str] = []
    monkeypatch.setattr(sixel, "query_terminal_support", lambda: asked.append("sixel") or False)
    monkeypatch.setattr(tgp, "query_terminal_support", lambda: asked.append("kitty") or True)
    monkeypatch.setattr(terminal, "_CACHE", {})
    monkeypatch.setattr(terminal, "tmux_version", lambda environ=None, run=None: "3.3a")
    monkeypatch.setattr(terminal, "tmux_passthrough", lambda run=None: False)

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "__stdout__", Tty())
    d = terminal.probe("auto")
    assert asked == ["sixel"] and d.kind == "halfblock" and d.tmux == "3.3a"
    monkeypatch.setattr(terminal, "_CACHE", {})
    monkeypatch.setattr(terminal, "tmux_version", lambda environ=None, run=None: None)
    asked.clear()
    assert terminal.probe("auto").kind == "kitty" and asked == ["sixel", "kitty"]  # outside tmux it is asked
