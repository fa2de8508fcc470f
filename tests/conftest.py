"""Shared fixtures: the real-world image set beside the repo (skipped cleanly when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REALWORLD_DIR = REPO_ROOT.parent / "shared" / "realworld"


@pytest.fixture(scope="session")
def realworld_dir() -> Path:
    if not (REALWORLD_DIR / "labels.jsonl").is_file():
        pytest.skip("../shared/realworld is not present")
    return REALWORLD_DIR


@pytest.fixture(scope="session")
def realworld_labels(realworld_dir: Path) -> list[dict]:
    lines = (realworld_dir / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
