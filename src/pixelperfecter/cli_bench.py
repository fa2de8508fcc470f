"""`perfecter bench` (placeholder until the benchmark lands)."""

import typer


def bench_command() -> None:
    """Run the synthetic and real-world benchmark."""
    typer.echo("not implemented yet", err=True)
    raise typer.Exit(2)
