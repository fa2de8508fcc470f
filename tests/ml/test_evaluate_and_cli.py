from __future__ import annotations

import csv
import json
import subprocess
import sys

from .conftest import REPO


def test_evaluate_writes_markdown_and_csv(tiny_run, tmp_path):
    from pixelperfecter_ml.evaluate import run_evaluation

    cfg, _ = tiny_run
    report = run_evaluation(model=cfg.run_dir / "best.pt", out_dir=tmp_path, per_tier=1, tiers=["clean"], realworld=None)
    md = (tmp_path / "report.md").read_text()
    assert "| set | method |" in md and "heuristic" in md and "hybrid" in md
    rows = list(csv.DictReader(open(tmp_path / "report.csv")))
    assert [r["method"] for r in rows] == ["heuristic", "model", "hybrid"]
    assert all(r["dataset"] == "synthetic:clean" and r["n"] == "1" for r in rows)
    for r in rows:
        for col in ("cell_exact_pct", "offset_1px_pct", "diff_lt_2_pct", "restored_pct"):
            assert 0.0 <= float(r[col]) <= 100.0
    assert (tmp_path / "cases.csv").exists()
    assert len(report.outcomes) == 3
    assert "## What the hybrid changed" in md
    (change,) = report.changes
    assert change["dataset"] == "synthetic:clean" and change["n"] == 1
    assert change["heuristic_failures"] + change["heuristic_successes"] == 1


def test_fixed_broken_counts_flips_against_the_heuristic():
    from pixelperfecter_ml.evaluate import CaseOutcome, fixed_broken

    def case(name, method, restored, dataset="synthetic:small"):
        return CaseOutcome(dataset, name, method, cell_ok=False, offset_ok=False, diff_ok=True, restored=restored, seconds=0.0)

    outcomes = [case("a", "heuristic", False), case("a", "hybrid", True),   # fixed
                case("b", "heuristic", True), case("b", "hybrid", False),   # broken
                case("c", "heuristic", False), case("c", "hybrid", False),  # still failing
                case("d", "heuristic", True), case("d", "hybrid", True), case("d", "model", False)]
    real = [CaseOutcome("realworld:single-grid", "x.png", m, cell_ok=ok, offset_ok=False, diff_ok=True, restored=None, seconds=0.0)
            for m, ok in (("heuristic", False), ("hybrid", True))]
    names: dict = {}
    rows = {r["dataset"]: r for r in fixed_broken(outcomes + real, names=names)}
    assert rows["synthetic:small"] == {"dataset": "synthetic:small", "n": 4, "heuristic_failures": 2, "fixed": 1, "heuristic_successes": 2, "broken": 1}
    assert rows["realworld:single-grid"]["fixed"] == 1 and rows["realworld:single-grid"]["broken"] == 0
    # Which cases: for looking at them, listed under the table.
    assert names["synthetic:small"] == (["a"], ["b"], ["c"]) and names["realworld:single-grid"] == (["x.png"], [], [])
    from pixelperfecter_ml.evaluate import _fixed_broken_markdown

    md = _fixed_broken_markdown(list(rows.values()), names=names)
    assert "- synthetic:small, fixed: a" in md and "- synthetic:small, broken: b" in md and "- synthetic:small, still failing: c" in md


def test_bench_reports_inference_time(tiny_run):
    from pixelperfecter_ml.evaluate import bench_inference

    cfg, _ = tiny_run
    result = bench_inference(model=cfg.run_dir / "best.pt", n_images=2)
    assert result.suggest_ms > 0 and result.forward_ms > 0
    assert "ms/image" in result.summary()


NO_TORCH = """
import sys
sys.modules["torch"] = None  # import torch now raises ImportError, find_spec returns None
from typer.testing import CliRunner
from pixelperfecter.cli import app
runner = CliRunner()
codes = []
for args in (["ml", "prepare"], ["ml", "train"], ["ml", "export"], ["ml", "evaluate"]):
    r = runner.invoke(app, args)
    lines = r.output.strip().splitlines()
    assert r.exit_code != 0 and len(lines) == 1, (args, r.exit_code, r.output)
    assert "pip install -e '.[ml]'" in lines[0] and "torch==2.13.0" in lines[0], lines
# Suggestions run torch-free on the shipped ONNX model when onnxruntime is installed (the
# 'ml-runtime' extra), so they get as far as the missing file; without it they say how to install.
import importlib.util
r = runner.invoke(app, ["ml", "suggest", "x.png"])
if importlib.util.find_spec("onnxruntime") is not None:
    assert r.exit_code == 1 and "x.png: file not found" in r.output, r.output
else:
    assert r.exit_code == 3 and "ml-runtime" in r.output, r.output
ok = runner.invoke(app, ["--help"])
assert ok.exit_code == 0, ok.output
ok = runner.invoke(app, ["ml", "--help"])
assert ok.exit_code == 0 and "prepare" in ok.output, ok.output
ok = runner.invoke(app, ["tui", "--help"])
assert ok.exit_code == 0, ok.output
# The core pipeline still runs end to end.
import tempfile, pathlib
from pixelperfecter.core.io import save_png
from pixelperfecter.core.synth import make_case
tmp = pathlib.Path(tempfile.mkdtemp())
save_png(tmp / "a.png", make_case(1, "clean", size=(256, 256)).image)
ok = runner.invoke(app, ["reconstruct", str(tmp / "a.png"), "--out", str(tmp / "out"), "--workers", "1"])
assert ok.exit_code == 0 and (tmp / "out" / "a.png").exists(), ok.output
# --ml without torch: with onnxruntime (the 'ml-runtime' extra) the hybrid runs on the shipped ONNX
# model; without it, one line saying how to install and nothing written.
r = runner.invoke(app, ["reconstruct", "--ml", str(tmp / "a.png"), "--out", str(tmp / "out_ml"), "--workers", "1"])
if importlib.util.find_spec("onnxruntime") is not None:
    assert r.exit_code == 0 and (tmp / "out_ml" / "a.png").exists(), r.output
else:
    assert r.exit_code == 3 and "pip install -e '.[ml-runtime]'" in r.output and not (tmp / "out_ml").exists(), r.output
assert "torch" not in [m for m, v in sys.modules.items() if v is not None]
print("OK")
"""


def test_without_torch_every_ml_command_says_how_to_install():
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_cli_module_does_not_import_torch():
    code = "import sys; import pixelperfecter_ml.cli, pixelperfecter.cli; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_reconstruct_ml_uses_the_hybrid_and_is_never_worse(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import pixelperfecter_ml.inference as inference
    from pixelperfecter.cli import app
    from pixelperfecter.core.io import save_png
    from pixelperfecter.core.synth import make_case

    calls = []
    real = inference.suggest_from_array

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    # --ml passes the model as a proposer to the core's selection stage (batch resolves it by name).
    monkeypatch.setattr(inference, "suggest_from_array", spy)
    case = make_case(3, "ai", size=(320, 320))
    save_png(tmp_path / "a.png", case.image)
    runner = CliRunner()
    plain = runner.invoke(app, ["reconstruct", str(tmp_path / "a.png"), "--out", str(tmp_path / "plain"), "--workers", "1", "--json"])
    hybrid = runner.invoke(app, ["reconstruct", "--ml", str(tmp_path / "a.png"), "--out", str(tmp_path / "ml"), "--workers", "1", "--json"])
    assert plain.exit_code == 0 and hybrid.exit_code == 0, hybrid.output
    assert calls == [1]
    plain_diff = json.loads(plain.stdout.strip().splitlines()[-1])["metrics"]["diff_pct"]
    hybrid_diff = json.loads(hybrid.stdout.strip().splitlines()[-1])["metrics"]["diff_pct"]
    assert hybrid_diff <= plain_diff
    assert (tmp_path / "ml" / "a.png").exists()
