"""`perfecter ml evaluate` and `perfecter ml bench`: heuristic vs model vs hybrid.

Held-out synthetic cases (seeds disjoint from the training cache, full-size images) and,
when present, the hand-labelled real images in ``../shared/realworld``.  Per method:
% with the exact cell size (within 1 % on both axes), % with both offsets within +-1 px
(circular: offset mod cell), % with diff < 2 %, % restored (synthetic only,
``score_restoration``), and the mean time per image.  Beside the rates, per set, what the
hybrid changed against the heuristic (``fixed_broken``): how many of the heuristic's failures
it fixes and how many of its successes it breaks (success: restored on synthetic cases, the cell
within 1 % of the label on real images).
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHODS = ("heuristic", "model", "hybrid", "gridline", "hybrid-gl")
# With a gridline model (``--gridline``): "gridline" is what ``perfecter reconstruct --ml`` does
# with the gridline proposer (its candidates scored by the core's selection stage inside
# ``detect_grid``); "hybrid-gl" is ``gridline_infer.gridline_hybrid``: a gridline candidate
# replaces the heuristic's grid when its placed lines agree clearly better with the model's
# boundary peaks.
HYBRID_METHODS = ("hybrid", "gridline", "hybrid-gl")
EVAL_SEED_BASE = 10_000_000  # training caches use seed * 1_000_003 + i with small seeds


@dataclass
class CaseOutcome:
    dataset: str  # synthetic:<tier> | realworld
    name: str
    method: str
    cell_ok: bool
    offset_ok: bool
    diff_ok: bool
    restored: bool | None
    seconds: float


@dataclass
class EvalReport:
    outcomes: list[CaseOutcome]
    markdown: str
    md_path: Path
    csv_path: Path
    rows: list[dict[str, object]] = field(default_factory=list)
    changes: list[dict[str, object]] = field(default_factory=list)  # ``fixed_broken`` per set
    changes_by_method: dict[str, list[dict[str, object]]] = field(default_factory=dict)


def _circ(a: float, b: float, cell: float) -> float:
    d = abs(a - b) % cell
    return min(d, cell - d)


def _grid_checks(metrics, cell_w: float, cell_h: float, off_x: float | None, off_y: float | None) -> tuple[bool, bool, bool]:
    if metrics is None:
        return False, False, False
    cell_ok = abs(metrics.cell_w - cell_w) / cell_w <= 0.01 and abs(metrics.cell_h - cell_h) / cell_h <= 0.01
    if off_x is None or off_y is None:
        offset_ok = False
    else:
        offset_ok = _circ(metrics.offset_x, off_x, cell_w) <= 1.0 and _circ(metrics.offset_y, off_y, cell_h) <= 1.0
    return bool(cell_ok), bool(offset_ok), bool(metrics.diff_pct < 2.0)


def _run_methods(rgba: np.ndarray, has_alpha: bool, predictor, gridline=None) -> dict[str, tuple[object, float]]:
    """{method: (Reconstruction, seconds)} sharing the heuristic run and the suggestions
    (``gridline``: a loaded gridline model adds the "gridline" and "hybrid-gl" methods)."""
    from pixelperfecter.core.pipeline import reconstruct
    from pixelperfecter.core.types import ReconstructParams

    from .inference import hybrid_from_array, suggest_from_array

    t0 = time.perf_counter()
    heur = reconstruct(rgba, has_alpha=has_alpha)
    t_heur = time.perf_counter() - t0
    t0 = time.perf_counter()
    sugg = suggest_from_array(rgba, top_k=3, model=predictor)
    t_sugg = time.perf_counter() - t0
    top = sugg[0]
    t0 = time.perf_counter()
    model_only = reconstruct(rgba, ReconstructParams(cell_w=top.cell_w, cell_h=top.cell_h, offset_x=top.offset_x, offset_y=top.offset_y), has_alpha=has_alpha)
    t_model = time.perf_counter() - t0 + t_sugg
    t0 = time.perf_counter()
    hybrid = hybrid_from_array(rgba, has_alpha=has_alpha, suggestions=sugg, heuristic_result=heur)
    t_hybrid = time.perf_counter() - t0 + t_sugg + t_heur
    out = {"heuristic": (heur, t_heur), "model": (model_only, t_model), "hybrid": (hybrid.result, t_hybrid)}
    if gridline is not None:
        out.update(_gridline_methods(rgba, has_alpha, gridline, heur, t_heur))
    return out


def _gridline_methods(rgba: np.ndarray, has_alpha: bool, gridline, heur, t_heur: float) -> dict[str, tuple[object, float]]:
    from pixelperfecter.core.pipeline import reconstruct

    from .gridline_infer import gridline_candidates, gridline_hybrid

    t0 = time.perf_counter()
    cands = gridline_candidates(rgba, gridline)
    t_cands = time.perf_counter() - t0
    t0 = time.perf_counter()
    via_core = reconstruct(rgba, has_alpha=has_alpha, proposers=[lambda _img: cands])
    t_core = time.perf_counter() - t0 + t_cands
    t0 = time.perf_counter()
    hyb = gridline_hybrid(rgba, gridline, has_alpha=has_alpha, heuristic_result=heur)
    t_hyb = time.perf_counter() - t0 + t_heur
    return {"gridline": (via_core, t_core), "hybrid-gl": (hyb.result, t_hyb)}


def evaluate_synthetic(predictor, tiers: list[str], per_tier: int, seed: int, gridline=None) -> list[CaseOutcome]:
    from pixelperfecter.core.synth import make_case, score_restoration

    outcomes = []
    for tier in tiers:
        for i in range(per_tier):
            case = make_case(EVAL_SEED_BASE + seed + i, tier)
            for method, (res, secs) in _run_methods(case.image, case.has_alpha, predictor, gridline).items():
                cell_ok, offset_ok, diff_ok = _grid_checks(res.metrics, case.cell_w, case.cell_h, case.offset_x % case.cell_w, case.offset_y % case.cell_h)
                restored = score_restoration(res.sprite, case.truth).restored
                outcomes.append(CaseOutcome(f"synthetic:{tier}", f"{tier}-{EVAL_SEED_BASE + seed + i}", method, cell_ok, offset_ok, diff_ok, bool(restored), secs))
    return outcomes


def evaluate_realworld(predictor, folder: Path, gridline=None) -> list[CaseOutcome]:
    from pixelperfecter.core.io import ImageLoadError, load_image

    labels = folder / "labels.jsonl"
    if not labels.exists():
        return []
    outcomes = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        lab = json.loads(line)
        if lab.get("cell_w") is None or lab.get("cell_h") is None:
            continue
        try:
            loaded = load_image(folder / lab["file"])
        except ImageLoadError:
            continue
        for method, (res, secs) in _run_methods(loaded.rgba, loaded.has_alpha, predictor, gridline).items():
            cell_ok, offset_ok, diff_ok = _grid_checks(res.metrics, float(lab["cell_w"]), float(lab["cell_h"]), lab.get("phase_x"), lab.get("phase_y"))
            outcomes.append(CaseOutcome(f"realworld:{lab.get('kind', '?')}", lab["file"], method, cell_ok, offset_ok, diff_ok, None, secs))
    return outcomes


def summarise(outcomes: list[CaseOutcome]) -> list[dict[str, object]]:
    rows = []
    datasets = sorted({o.dataset for o in outcomes}, key=lambda d: (d.startswith("realworld"), d))
    for ds in datasets:
        for method in METHODS:
            sel = [o for o in outcomes if o.dataset == ds and o.method == method]
            if not sel:
                continue
            restored = [o.restored for o in sel if o.restored is not None]
            rows.append({
                "dataset": ds,
                "method": method,
                "n": len(sel),
                "cell_exact_pct": round(100 * np.mean([o.cell_ok for o in sel]), 1),
                "offset_1px_pct": round(100 * np.mean([o.offset_ok for o in sel]), 1),
                "diff_lt_2_pct": round(100 * np.mean([o.diff_ok for o in sel]), 1),
                "restored_pct": round(100 * np.mean(restored), 1) if restored else "",
                "ms_per_image": round(1000 * np.mean([o.seconds for o in sel]), 1),
            })
    return rows


def _success(o: CaseOutcome) -> bool:
    return bool(o.restored) if o.restored is not None else o.cell_ok


def fixed_broken(outcomes: list[CaseOutcome], method: str = "hybrid",
                 names: dict[str, tuple[list[str], list[str], list[str]]] | None = None) -> list[dict[str, object]]:
    """Per set: the heuristic's failures and successes, and how many of each ``method`` flips;
    ``names`` (when given) receives per set the cases it fixed, broke and left failing."""
    if names is None:
        names = {}
    by_case: dict[tuple[str, str], dict[str, CaseOutcome]] = {}
    for o in outcomes:
        by_case.setdefault((o.dataset, o.name), {})[o.method] = o
    rows = []
    datasets = sorted({d for d, _ in by_case}, key=lambda d: (d.startswith("realworld"), d))
    for ds in datasets:
        pairs = [(m["heuristic"], m[method]) for (d, _), m in by_case.items() if d == ds and "heuristic" in m and method in m]
        if not pairs:
            continue
        failures = [h for h, _ in pairs if not _success(h)]
        fixed = [h.name for h, y in pairs if not _success(h) and _success(y)]
        broken = [h.name for h, y in pairs if _success(h) and not _success(y)]
        rows.append({
            "dataset": ds,
            "n": len(pairs),
            "heuristic_failures": len(failures),
            "fixed": len(fixed),
            "heuristic_successes": len(pairs) - len(failures),
            "broken": len(broken),
        })
        # Which cases, for looking at them (not in the counts' table).
        names[ds] = (fixed, broken, [h.name for h in failures if h.name not in fixed])
    return rows


def _fixed_broken_markdown(rows: list[dict[str, object]], method: str = "hybrid",
                           names: dict[str, tuple[list[str], list[str], list[str]]] | None = None) -> str:
    what = "the hybrid" if method == "hybrid" else f"{method}"
    lines = ["", f"## What {what} changed (success: restored; real images: cell within 1 %)", "",
             f"| set | n | heuristic failures | fixed by {what} | heuristic successes | broken by {what} |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['n']} | {r['heuristic_failures']} | {r['fixed']} | {r['heuristic_successes']} | {r['broken']} |")
    listed = [f"- {ds}, {label}: {', '.join(cases)}" for ds, (fixed, broken, failing) in (names or {}).items()
              for label, cases in (("fixed", fixed), ("broken", broken), ("still failing", failing)) if cases]
    if listed:
        lines += ["", *listed]
    return "\n".join(lines) + "\n"


def _markdown(rows: list[dict[str, object]], header: str) -> str:
    cols = ["dataset", "method", "n", "cell_exact_pct", "offset_1px_pct", "diff_lt_2_pct", "restored_pct", "ms_per_image"]
    titles = ["set", "method", "n", "cell within 1 %", "offsets ±1 px", "diff < 2 %", "restored", "ms / image"]
    lines = [header, "", "| " + " | ".join(titles) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) if r[c] != "" else "–" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def run_evaluation(
    model=None, out_dir: str | Path = "runs/evaluate", per_tier: int = 25, tiers: list[str] | None = None,
    seed: int = 20_000, realworld: str | Path | None = "../shared/realworld", gridline: str | Path | None = None,
) -> EvalReport:
    from pixelperfecter.core.io import write_text_atomic

    from .inference import load_predictor

    predictor = load_predictor(model)
    gl = None
    if gridline is not None:
        from .gridline_infer import load_gridline

        gl = load_gridline(None if str(gridline) == "default" else gridline)
    # The harsh tiers too: where the heuristic fails is where the hybrid has to show its value.
    tiers = tiers or ["clean", "fractional", "ai", "drift", "small", "big", "sheet"]
    outcomes = evaluate_synthetic(predictor, tiers, per_tier, seed, gl)
    if realworld is not None and Path(realworld).is_dir():
        outcomes += evaluate_realworld(predictor, Path(realworld), gl)
    rows = summarise(outcomes)
    names: dict[str, tuple[list[str], list[str], list[str]]] = {}
    changes = fixed_broken(outcomes, names=names)
    header = f"# Grid estimation: heuristic vs model vs hybrid\n\nmodel: `{predictor.path}`; synthetic: {per_tier} held-out cases per tier (seed {seed})"
    if gl is not None:
        header += f"; gridline model: `{gl.path}`"
    md = _markdown(rows, header) + _fixed_broken_markdown(changes, names=names)
    by_method = {"hybrid": changes}
    if gl is not None:
        for method in HYBRID_METHODS[1:]:
            method_names: dict[str, tuple[list[str], list[str], list[str]]] = {}
            by_method[method] = fixed_broken(outcomes, method, names=method_names)
            md += _fixed_broken_markdown(by_method[method], method, method_names)
    out = Path(out_dir)
    md_path = write_text_atomic(out / "report.md", md)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["dataset"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = write_text_atomic(out / "report.csv", buf.getvalue())
    cases = io.StringIO()
    cw = csv.writer(cases, lineterminator="\n")
    cw.writerow(["dataset", "name", "method", "cell_ok", "offset_ok", "diff_ok", "restored", "seconds"])
    for o in outcomes:
        cw.writerow([o.dataset, o.name, o.method, int(o.cell_ok), int(o.offset_ok), int(o.diff_ok), "" if o.restored is None else int(o.restored), round(o.seconds, 4)])
    write_text_atomic(out / "cases.csv", cases.getvalue())
    return EvalReport(outcomes, md, md_path, csv_path, rows, changes, by_method)


@dataclass
class BenchResult:
    n_images: int
    threads: int
    forward_ms: float  # model forward on the crops of one image (median)
    suggest_ms: float  # pre-processing + forward + aggregation (median)
    load_ms: float  # first load of the model
    runtime: str = "torch"  # or "onnxruntime"

    def summary(self) -> str:
        how = f"{self.threads} torch threads" if self.runtime == "torch" else "onnxruntime"
        return (
            f"CPU inference over {self.n_images} images ({how}): "
            f"suggest {self.suggest_ms:.1f} ms/image (median, incl. crops + Canny), model forward {self.forward_ms:.1f} ms, "
            f"model load {self.load_ms:.0f} ms"
        )


def bench_inference(model=None, n_images: int = 20, threads: int = 0, size: tuple[int, int] | None = None) -> BenchResult:
    """Median CPU time of the suggestions per image (``model``: a checkpoint, TorchScript or
    ONNX file; ONNX runs in onnxruntime, without torch).  ``size``: the images' size (default:
    the ai tier's own sizes)."""
    from pixelperfecter.core.synth import make_case

    from .inference import aggregate, clear_cache, load_predictor, predict_crops
    from .preprocess import crop_origins, model_input, premultiplied_rgb

    onnx = model is not None and str(model).endswith(".onnx")
    if threads > 0 and not onnx:
        import torch

        torch.set_num_threads(threads)
    clear_cache()
    t0 = time.perf_counter()
    predictor = load_predictor(model)
    load_ms = 1000 * (time.perf_counter() - t0)
    images = [make_case(EVAL_SEED_BASE + 777 + i, "ai", size=size).image for i in range(n_images)]
    predict_crops(predictor, images[0])  # warm-up
    suggest, forward = [], []
    for img in images:
        t0 = time.perf_counter()
        aggregate(predict_crops(predictor, img), 3)
        suggest.append(time.perf_counter() - t0)
        rgb = premultiplied_rgb(img)
        side = predictor.crop
        batch = np.stack([model_input(rgb[y : y + side, x : x + side], side) for y in crop_origins(img.shape[0], side, 2) for x in crop_origins(img.shape[1], side, 2)])
        t0 = time.perf_counter()
        predictor(batch)
        forward.append(time.perf_counter() - t0)
    if onnx:
        n_threads = threads
    else:
        import torch

        n_threads = torch.get_num_threads()
    return BenchResult(n_images, n_threads, 1000 * float(np.median(forward)), 1000 * float(np.median(suggest)), load_ms,
                       "onnxruntime" if onnx else "torch")


@dataclass
class GridlineBench:
    n_images: int
    side: int
    threads: int
    runtime: str
    forward_ms: float  # the net on the strips of one image (median)
    profiles_ms: float  # Canny + strip choice + forward + reduction to 1-D (median)
    candidates_ms: float  # profiles + fits -> GridCandidates (median)

    def summary(self) -> str:
        how = f"{self.runtime}, {self.threads or 'default'} threads"
        return (f"gridline model on {self.n_images} images of {self.side}x{self.side} ({how}): net forward {self.forward_ms:.1f} ms/image, "
                f"boundary profiles {self.profiles_ms:.1f} ms, candidates {self.candidates_ms:.1f} ms (medians)")


def bench_gridline(model=None, n_images: int = 10, threads: int = 0, side: int = 1024, strips: int | None = None) -> GridlineBench:
    """Median CPU time of the gridline model per ``side`` x ``side`` image (ONNX: onnxruntime)."""
    from pixelperfecter.core.synth import make_case

    from .gridline_infer import _CACHE, STRIPS, boundary_profiles, gridline_candidates, load_gridline

    strips = STRIPS if strips is None else strips

    onnx = model is not None and str(model).endswith(".onnx")
    if threads > 0 and not onnx:
        import torch

        torch.set_num_threads(threads)
    _CACHE.clear()
    predictor = load_gridline(model, threads=threads if onnx else 0)
    images = [make_case(EVAL_SEED_BASE + 777 + i, "ai", size=(side, side)).image for i in range(n_images)]
    boundary_profiles(images[0], predictor, strips)  # warm-up
    fwd, prof, cand = [], [], []
    calls: list[float] = []
    inner = predictor.__call__

    def timed(x):
        t = time.perf_counter()
        out = inner(x)
        calls.append(time.perf_counter() - t)
        return out

    for img in images:
        calls.clear()
        t0 = time.perf_counter()
        bounds = boundary_profiles(img, timed, strips)  # type: ignore[arg-type]
        prof.append(time.perf_counter() - t0)
        fwd.append(sum(calls))
        t0 = time.perf_counter()
        gridline_candidates(img, predictor, boundaries=bounds)
        cand.append(time.perf_counter() - t0 + prof[-1])
    med = lambda v: 1000 * float(np.median(v))  # noqa: E731
    return GridlineBench(n_images, side, threads, "onnxruntime" if onnx else "torch", med(fwd), med(prof), med(cand))
