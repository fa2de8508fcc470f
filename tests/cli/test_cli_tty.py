"""The progress bar shown on a terminal: messages printed during it stay on their own lines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import write_clean_png
from PIL import Image

pytestmark = pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a pseudo-terminal")


def test_progress_bar_on_a_terminal_keeps_errors_on_their_own_lines(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    for i in range(4):
        write_clean_png(inputs / f"ok{i}.png", seed=i)
    (inputs / "broken.png").write_bytes(b"not a png at all")
    Image.new("RGB", (2, 2)).save(inputs / "tiny.png")
    cmd = f"{sys.executable} -m pixelperfecter.cli reconstruct {inputs} --out {tmp_path / 'out'} --workers 1 --no-metrics"
    proc = subprocess.run(
        ["script", "-qec", cmd, "/dev/null"],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "120", "TERM": "xterm", "PATH": "/usr/bin:/bin"},
    )
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stdout).replace("\r", "\n")
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert proc.returncode == 1, proc.stdout
    assert len(errors) == 2, lines
    # Each message starts its own line: nothing of the bar ("reconstructing", "3/6") before it.
    assert all(line.startswith("error: ") for line in errors), errors
    assert any("reconstructing" in line for line in lines), "no progress bar on a terminal"
