"""The ``perfecter`` command line.

Kept thin: every command module imports only Typer at load time and pulls in the core,
Textual or torch inside the command body, so ``perfecter --help`` stays fast and light.
"""

from __future__ import annotations

import typer

from pixelperfecter_ml.cli import ml_app

from . import __version__
from .cli_bench import bench_command
from .cli_reconstruct import reconstruct_command, synth_command
from .tui.command import tui_command


def _hide_bool_placeholders() -> None:
    """Flags take no value, so help shows none: Typer >= 0.16 prints ``<bool>`` beside every flag
    (``--help`` included), which reads as if ``--diff true`` were wanted."""
    option = getattr(getattr(typer, "core", None), "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if option is None or original is None or getattr(original, "_pp_patched", False):
        return

    def display_type_rich(self, ctx):  # type: ignore[no-untyped-def]
        if getattr(self, "is_flag", False) and getattr(self, "is_bool_flag", False):
            return None
        return original(self, ctx)

    display_type_rich._pp_patched = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_hide_bool_placeholders()

app = typer.Typer(
    name="perfecter",
    help="Turn fake pixel art (AI-generated or blurry upscaled) back into true pixel art.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perfecter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Pixel Perfecter."""


app.command("reconstruct")(reconstruct_command)
app.command("bench")(bench_command)
app.command("synth")(synth_command)
app.command("tui")(tui_command)
app.add_typer(ml_app, name="ml")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
