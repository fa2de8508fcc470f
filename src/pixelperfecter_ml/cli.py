"""`perfecter ml ...` (placeholder). Must not import torch at module load."""

import typer

ml_app = typer.Typer(help="ML-assisted grid estimation (needs the 'ml' extra).", no_args_is_help=True)


@ml_app.command("prepare")
def prepare() -> None:
    """Build the dataset."""
    typer.echo("not implemented yet", err=True)
    raise typer.Exit(2)
