"""The keypress → image benchmark (``latency_bench.py``), run once, print-only (figures, not assertions).

    PYTHONPATH=src .venv/bin/python -m pytest tests/tui/test_latency_bench.py -s -q

drives ``perfecter tui -g sixel`` in a real pty (the real Sixel renderer, the real screen
updates) on a 1024x1024 image and prints median/p95 keypress → last byte of the update, bytes
per update and Sixel panes re-sent.  For more samples run ``tests/tui/latency_bench.py`` itself.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from .latency_bench import run


@pytest.mark.slow
def test_keypress_to_image_benchmark_prints_its_figures() -> None:
    perfecter = shutil.which("perfecter") or str(Path(sys.executable).with_name("perfecter"))
    if not Path(perfecter).exists():
        pytest.skip("no perfecter entry point next to the interpreter")
    lines = run(1024, 200, 60, 1, perfecter)
    print("\n" + "\n".join(lines))
    assert len(lines) > 1  # the benchmark ran; the figures are for reading, not for asserting
