"""The CLI must load light: no torch, textual or numpy just to parse arguments."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "textual", "numpy", "cv2", "pandas", "PIL", "pixelperfecter.core")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_pulls_in_nothing_heavy():
    loaded = _modules_after("import pixelperfecter.cli")
    assert "pixelperfecter.cli_reconstruct" in loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_reconstruct_help_stays_light():
    code = (
        "from typer.testing import CliRunner\n"
        "from pixelperfecter.cli import app\n"
        "r = CliRunner().invoke(app, ['reconstruct', '--help'])\n"
        "assert r.exit_code == 0 and '--cell-size' in r.stdout, r.stdout\n"
    )
    loaded = _modules_after(code)
    assert [m for m in ("torch", "textual", "numpy", "pixelperfecter.core") if m in loaded] == []


def test_cli_defaults_mirror_the_core():
    from pixelperfecter.cli_reconstruct import DEFAULT_MAX_PIXELS
    from pixelperfecter.core.io import DEFAULT_MAX_PIXELS as CORE_MAX_PIXELS
    from pixelperfecter.core.types import Thresholds

    assert DEFAULT_MAX_PIXELS == CORE_MAX_PIXELS == Thresholds().max_pixels
