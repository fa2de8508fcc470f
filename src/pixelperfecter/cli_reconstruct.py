"""`perfecter reconstruct` and `perfecter synth` (placeholder)."""

import typer


def reconstruct_command() -> None:
    """Reconstruct true pixel art from fake pixel art."""
    typer.echo("not implemented yet", err=True)
    raise typer.Exit(2)


def synth_command() -> None:
    """Generate synthetic fake pixel art with known grids."""
    typer.echo("not implemented yet", err=True)
    raise typer.Exit(2)
