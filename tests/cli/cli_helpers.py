"""Helpers for the CLI tests: deterministic clean pixel art and a Typer runner wrapper."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from pixelperfecter.cli import app
from pixelperfecter.core.synth import random_sprite


def clean_sprite(cells_x: int, cells_y: int, seed: int = 0, transparent: bool = False) -> np.ndarray:
    return random_sprite(np.random.default_rng(seed), cells_x, cells_y, transparent)


def blow_up(sprite: np.ndarray, cell: int) -> np.ndarray:
    """Exact integer-scale fake pixel art: every cell a cell x cell block, phase 0."""
    return np.repeat(np.repeat(sprite, cell, axis=0), cell, axis=1)


def write_clean_png(path: Path, cells_x: int = 12, cells_y: int = 8, cell: int = 8, seed: int = 0, transparent: bool = False) -> np.ndarray:
    """Write an exact ``cell``-scaled sprite to ``path``; return the sprite (the truth)."""
    sprite = clean_sprite(cells_x, cells_y, seed, transparent)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "RGBA" if transparent else "RGB"
    img = blow_up(sprite, cell)
    Image.fromarray(img if transparent else img[..., :3], mode).save(path)
    return sprite


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def make_invoker() -> Callable[..., Run]:
    """``invoke("reconstruct", "x.png", ...)`` runs the app in-process and returns a Run."""
    runner = CliRunner()

    def invoke(*args: object) -> Run:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return invoke


def png_size(path: str | Path) -> tuple[int, int]:
    with Image.open(path) as img:
        img.load()
        return img.size


def no_tmp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]
