"""`perfecter tui` (placeholder)."""

import typer


def tui_command() -> None:
    """Open the interactive feedback console."""
    typer.echo("not implemented yet", err=True)
    raise typer.Exit(2)
