"""`perfecter ml prepare`: the labelled dataset, and the training-time Dataset and sampler.

Three label sources, each a row of ``manifest.jsonl`` pointing at a cached native-resolution
region (``crops/`` for real images, ``synthetic/`` for generated sprites):

* ``human``: rows of ``notes/feedback_log.csv`` marked correct (the grid actually used,
  overrides included) are positives; rejected ML suggestions are kept as negatives;
* ``synthetic``: seeded ``pixelperfecter.core.synth`` cases with an exact truth;
* ``weak``: the heuristic pipeline's grid on the images in ``input/``.

Re-running only does the work for keys that are new (content hashes for files, the seed for
synthetic cases); splits of existing rows never move, and new rows are assigned so that every
source keeps its validation share (stratified by label source).

This module is torch-free: the Dataset returns NumPy arrays that the DataLoader collates.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import SOURCES
from .preprocess import CACHE_SIDE, busiest_window, flipped_offset, local_offset, model_input, normalise, premultiplied_rgb

MANIFEST = "manifest.jsonl"
SYNTH_VERSION = "v1"
# Tiers of the synthetic cache, cycled; "large" stretches the AI tier to 40..64 px cells,
# which the benchmark tiers do not reach but real images do.
TIER_CYCLE = ("ai", "drift", "fractional", "ai", "clean", "large", "drift", "ai")


@dataclass
class Sample:
    """One manifest row.  Grid values are in original-image pixels; ``crop_x0/y0`` place the
    cached region in the original image, ``offset_*_crop`` are phases seen from that region."""

    key: str
    source: str  # human | synthetic | weak
    label: str  # positive | negative
    split: str  # train | val
    crop: str  # cached region, relative to the dataset folder
    image: str  # original image (or the synthetic PNG itself)
    content_hash: str
    width: int
    height: int
    crop_x0: int
    crop_y0: int
    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    offset_x_crop: float
    offset_y_crop: float
    target: list[float] = field(default_factory=list)  # [cell_w, cell_h, offset_x_crop, offset_y_crop] / 256
    tier: str = ""
    note: str = ""

    @staticmethod
    def from_json(data: dict) -> "Sample":
        known = set(Sample.__dataclass_fields__)
        return Sample(**{k: v for k, v in data.items() if k in known})


@dataclass
class PrepareReport:
    out_dir: Path
    added: dict[str, int]
    kept: int
    removed: int
    skipped: list[str]
    counts: dict[str, dict[str, int]]  # source -> split -> n

    def summary(self) -> str:
        parts = [f"{src}: {c.get('train', 0)} train / {c.get('val', 0)} val" for src, c in self.counts.items()]
        added = sum(self.added.values())
        return (
            f"{self.out_dir / MANIFEST}: {added} added, {self.kept} kept, {self.removed} removed; "
            + ("; ".join(parts) if parts else "empty")
        )


# --------------------------------------------------------------------------- helpers


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def read_manifest(path: Path) -> list[Sample]:
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Sample.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: bad manifest line ({exc})") from None
    return out


def _write_manifest(path: Path, samples: list[Sample]) -> None:
    from pixelperfecter.core.io import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(asdict(s), sort_keys=True) + "\n" for s in samples))


def _targets(cell_w: float, cell_h: float, ox: float, oy: float) -> list[float]:
    return [normalise(cell_w), normalise(cell_h), normalise(ox), normalise(oy)]


def _cache_region(rgba: np.ndarray, dest: Path) -> tuple[int, int]:
    """Save the busiest CACHE_SIDE window of ``rgba`` (native resolution) and return its origin."""
    from pixelperfecter.core.io import save_png

    x0, y0 = busiest_window(premultiplied_rgb(rgba), CACHE_SIDE)
    save_png(dest, rgba[y0 : y0 + CACHE_SIDE, x0 : x0 + CACHE_SIDE], keep_alpha=True)
    return x0, y0


def _real_sample(key: str, source: str, label: str, path: Path, out_dir: Path, grid: tuple[float, float, float, float], note: str = "") -> Sample:
    from pixelperfecter.core.io import load_image

    loaded = load_image(path)
    crop_rel = f"crops/{key}.png"
    x0, y0 = _cache_region(loaded.rgba, out_dir / crop_rel)
    cw, ch, ox, oy = grid
    oxc, oyc = local_offset(ox, cw, x0), local_offset(oy, ch, y0)
    return Sample(
        key=key, source=source, label=label, split="", crop=crop_rel, image=str(path),
        content_hash=file_hash(path), width=loaded.width, height=loaded.height, crop_x0=x0, crop_y0=y0,
        cell_w=cw, cell_h=ch, offset_x=ox % cw, offset_y=oy % ch, offset_x_crop=oxc, offset_y_crop=oyc,
        target=_targets(cw, ch, oxc, oyc), note=note,
    )


# --------------------------------------------------------------------------- label sources


@dataclass(frozen=True)
class FeedbackLabel:
    image: Path
    label: str  # positive | negative
    grid: tuple[float, float, float, float]
    origin: str  # the log's source column ("tui", "ml-suggestion", ...)
    row_id: str


def _first(row: dict, names: tuple[str, ...]) -> object:
    for n in names:
        if n in row and row[n] is not None and not (isinstance(row[n], float) and math.isnan(row[n])) and str(row[n]).strip() != "":
            return row[n]
    return None


def _grid_from_row(row: dict) -> tuple[float, float, float, float] | None:
    """The grid actually used: the grid columns, else the overrides JSON."""
    overrides: dict = {}
    raw = _first(row, ("overrides", "overrides_json"))
    if raw is not None:
        try:
            parsed = json.loads(str(raw))
            overrides = parsed if isinstance(parsed, dict) else {}
        except json.JSONDecodeError:
            overrides = {}
    def pick(name: str, *alts: str) -> float | None:
        v = _first(row, (name, *alts))
        if v is None:
            v = overrides.get(name)
            if v is None and name in ("cell_w", "cell_h"):
                v = overrides.get("cell_size")
        try:
            return None if v is None else float(v)
        except (TypeError, ValueError):
            return None
    cw, ch = pick("cell_w"), pick("cell_h")
    ox, oy = pick("offset_x", "phase_x"), pick("offset_y", "phase_y")
    if cw is None or ch is None or cw <= 0 or ch <= 0:
        return None
    return cw, ch, ox or 0.0, oy or 0.0


def _feedback_records(log: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """(row number, row dict) of the verdict in effect per image.

    The log is append-only: a changed verdict (``x`` after ``c``) or re-logged notes add a row
    that supersedes the earlier one, so only the current verdict per image counts.  Uses the
    core's ``current_verdicts`` when it exists (it validates the schema and honours the
    ``supersedes`` column), else pandas, tolerant of missing or renamed columns, keeping the last
    row per image.
    """
    try:
        from pixelperfecter.core.feedback import current_verdicts
    except ImportError:
        current_verdicts = None
    if current_verdicts is not None:
        parsed = current_verdicts(log)
        return [(n, asdict(e)) for n, e in enumerate(parsed.entries, 2)], list(parsed.warnings)
    import pandas as pd

    try:
        frame = pd.read_csv(log, dtype=str, keep_default_na=False, on_bad_lines="warn", engine="python")
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        return [], [f"{log}: unreadable feedback log ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"]
    records = list(enumerate(frame.to_dict("records"), 2))
    key = next((c for c in ("image", "image_path", "path", "file") if c in frame.columns), None)
    if key is None:
        return records, []
    last: dict[str, tuple[int, dict]] = {}
    for n, row in records:
        last.pop(str(row[key]), None)
        last[str(row[key])] = (n, row)
    return list(last.values()), []


def read_feedback_labels(log: Path, base_dirs: tuple[Path, ...] = ()) -> tuple[list[FeedbackLabel], list[str]]:
    """Labels from the feedback log, read tolerantly (columns may be missing or renamed).

    ``correct`` rows -> positives with the grid used; ``incorrect`` rows whose source is an
    ML suggestion -> negatives (the suggested grid is known to be wrong).  Other incorrect
    rows say nothing about the right grid and are ignored.
    """
    if not log.exists():
        return [], []
    records, skipped = _feedback_records(log)
    labels: list[FeedbackLabel] = []
    bases = (Path.cwd(), log.parent, log.parent.parent, *base_dirs)
    for n, row in records:
        verdict = str(_first(row, ("verdict", "label")) or "").strip().lower()
        origin = str(_first(row, ("source",)) or "").strip().lower()
        image = _first(row, ("image", "image_path", "path", "file"))
        if verdict not in ("correct", "incorrect") or image is None:
            continue
        if verdict == "incorrect" and not origin.startswith("ml"):
            continue
        grid = _grid_from_row(row)
        if grid is None:
            skipped.append(f"{log}:{n}: no grid in the row")
            continue
        p = Path(str(image))
        found = p if p.is_absolute() else next((b / p for b in bases if (b / p).exists()), None)
        if found is None or not found.exists():
            skipped.append(f"{log}:{n}: image not found ({image})")
            continue
        row_id = _key(*(row.get(c, "") for c in sorted(row)))
        labels.append(FeedbackLabel(found, "positive" if verdict == "correct" else "negative", grid, origin, row_id))
    return labels, skipped


def synthetic_case(seed: int, index: int, tier: str):
    """One cached synthetic case at CACHE_SIDE x CACHE_SIDE (a native-resolution region)."""
    from pixelperfecter.core import synth

    case_seed = seed * 1_000_003 + index
    if tier != "large":
        return synth.make_case(case_seed, tier, size=(CACHE_SIDE, CACHE_SIDE))
    rng = np.random.default_rng([case_seed, 77])
    deg = synth.tier_degradation("ai", rng)
    factor = rng.uniform(40.0, 64.0) / deg.cell_w
    deg = replace(
        deg, cell_w=deg.cell_w * factor, cell_h=deg.cell_h * factor, offset_x=deg.offset_x * factor,
        offset_y=deg.offset_y * factor, blur_sigma=deg.blur_sigma * min(factor, 3.0),
    )
    transparent = bool(rng.random() < 0.25)
    # random_sprite needs >= 60 cells; draw a larger sprite and keep the visible part.
    def sprite(cx: int, cy: int) -> np.ndarray:
        return synth.random_sprite(rng, max(cx, 10), max(cy, 10), transparent)[:cy, :cx]

    case = synth.degrade(sprite, deg, CACHE_SIDE, CACHE_SIDE, rng)
    case.tier, case.seed = "large", case_seed
    return case


def synthetic_truth(seed: int, index: int, tier: str) -> tuple[float, float, float, float]:
    """The grid of ``synthetic_case(seed, index, tier)`` without rendering it (the degradation
    is the generator's first draw), so a cached PNG whose manifest row was lost is reusable."""
    from pixelperfecter.core import synth

    case_seed = seed * 1_000_003 + index
    if tier != "large":
        deg = synth.tier_degradation(tier, np.random.default_rng([case_seed, synth.TIERS.index(tier)]))
        return deg.cell_w, deg.cell_h, deg.offset_x, deg.offset_y
    rng = np.random.default_rng([case_seed, 77])
    deg = synth.tier_degradation("ai", rng)
    factor = rng.uniform(40.0, 64.0) / deg.cell_w
    return deg.cell_w * factor, deg.cell_h * factor, deg.offset_x * factor, deg.offset_y * factor


def _synthetic_sample(seed: int, index: int, out_dir: Path) -> Sample:
    from pixelperfecter.core.io import save_png

    tier = TIER_CYCLE[index % len(TIER_CYCLE)]
    key = f"syn-{SYNTH_VERSION}-{seed}-{index}"
    rel = f"synthetic/{key}.png"
    if (out_dir / rel).exists():
        # Left by an interrupted run: the file is deterministic, only the row is missing.
        cw, ch, ox, oy = synthetic_truth(seed, index, tier)
        w = h = CACHE_SIDE
    else:
        case = synthetic_case(seed, index, tier)
        save_png(out_dir / rel, case.image, keep_alpha=True)
        cw, ch, ox, oy = float(case.cell_w), float(case.cell_h), float(case.offset_x), float(case.offset_y)
        h, w = case.image.shape[:2]
    cw, ch = float(cw), float(ch)
    ox, oy = float(ox % cw), float(oy % ch)
    return Sample(
        key=key, source="synthetic", label="positive", split="", crop=rel, image=rel,
        content_hash=file_hash(out_dir / rel), width=w, height=h, crop_x0=0, crop_y0=0,
        cell_w=cw, cell_h=ch, offset_x=ox, offset_y=oy, offset_x_crop=ox, offset_y_crop=oy,
        target=_targets(cw, ch, ox, oy), tier=tier,
    )


@dataclass(frozen=True)
class _SyntheticJob:
    """``_synthetic_sample`` with the seed and folder bound (picklable for the runner)."""

    seed: int
    out_dir: Path

    def __call__(self, index: int) -> Sample:
        return _synthetic_sample(self.seed, index, self.out_dir)


def _make_synthetic(indices: list[int], seed: int, out: Path, workers: int, executor: str, scheduler: str | None, progress: bool) -> dict[int, Sample]:
    from pixelperfecter.runner import WorkerFailure, make_executor, run_unordered

    if not indices:
        return {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(indices), desc="synthetic", unit="case", leave=False)
    made: dict[int, Sample] = {}
    try:
        chosen = make_executor(executor, workers, len(indices), scheduler=scheduler)
        for position, value in run_unordered(_SyntheticJob(seed, out), indices, chosen):
            if isinstance(value, WorkerFailure):
                raise RuntimeError(f"synthetic case {indices[position]}: {value.reason}")
            made[indices[position]] = value
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return made


# --------------------------------------------------------------------------- prepare


def _assign_splits(samples: list[Sample], val_fraction: float) -> None:
    """Give new rows (split == "") a split so that each source keeps ``val_fraction`` in val."""
    for source in {s.source for s in samples}:
        group = [s for s in samples if s.source == source]
        n_val = sum(1 for s in group if s.split == "val")
        new = sorted((s for s in group if not s.split), key=lambda s: s.key)
        total = len(group) - len(new)
        for s in new:
            total += 1
            want = int(round(val_fraction * total))
            # The first row of a source trains; a source with >= 2 rows gets a val row.
            if n_val < max(want, 1 if total >= 2 and val_fraction > 0 else 0):
                s.split = "val"
                n_val += 1
            else:
                s.split = "train"


def prepare_dataset(
    out_dir: str | Path = "data/ml",
    feedback_log: str | Path | None = "notes/feedback_log.csv",
    input_dir: str | Path | None = "input",
    synthetic: int = 2000,
    seed: int = 0,
    val_fraction: float = 0.1,
    progress: bool = False,
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
) -> PrepareReport:
    """Build or update the dataset under ``out_dir``; only new keys are processed.

    ``workers``/``executor``/``scheduler`` choose where the synthetic cache is made
    (``pixelperfecter.runner``: inline, a local process pool, or Dask).
    """
    from pixelperfecter.core.io import IMAGE_SUFFIXES, ImageLoadError

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    existing = {s.key: s for s in read_manifest(manifest_path)}
    rows: list[Sample] = []
    added = {src: 0 for src in SOURCES}
    skipped: list[str] = []
    wanted: set[str] = set()

    def reuse(key: str) -> Sample | None:
        s = existing.get(key)
        return s if s is not None and (out / s.crop).exists() else None

    # Human labels (feedback log).
    if feedback_log is not None:
        labels, notes = read_feedback_labels(Path(feedback_log))
        skipped.extend(notes)
        for lab in labels:
            key = _key("human", lab.label, file_hash(lab.image), *(round(v, 3) for v in lab.grid))
            if key in wanted:
                continue
            wanted.add(key)
            s = reuse(key)
            if s is None:
                try:
                    s = _real_sample(key, "human", lab.label, lab.image, out, lab.grid, note=f"feedback:{lab.origin}")
                except ImageLoadError as exc:
                    skipped.append(f"{lab.image}: {exc}")
                    continue
                added["human"] += 1
            rows.append(s)

    # Synthetic cache: the cases not cached yet, made on the project's one runner (inline, a
    # local pool or Dask, like `perfecter reconstruct`); each case is deterministic.
    keys = [f"syn-{SYNTH_VERSION}-{seed}-{i}" for i in range(max(0, synthetic))]
    cached = {key: reuse(key) for key in keys}
    missing = [i for i, key in enumerate(keys) if cached[key] is None]
    made = _make_synthetic(missing, seed, out, workers, executor, scheduler, progress)
    for i, key in enumerate(keys):
        wanted.add(key)
        s = cached[key]
        if s is None:
            s = made[i]
            added["synthetic"] += 1
        rows.append(s)

    # Weak labels: the heuristic's grid on input/ images.
    if input_dir is not None and Path(input_dir).is_dir():
        from pixelperfecter.core.pipeline import reconstruct_file

        for path in sorted(Path(input_dir).iterdir()):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                continue
            key = _key("weak", file_hash(path))
            wanted.add(key)
            s = reuse(key)
            if s is None:
                try:
                    result = reconstruct_file(path)
                except ImageLoadError as exc:
                    skipped.append(f"{path}: {exc}")
                    continue
                if result.grid is None:
                    skipped.append(f"{path}: heuristic found no grid ({result.error})")
                    continue
                g = result.grid
                s = _real_sample(key, "weak", "positive", path, out, (g.cell_w, g.cell_h, g.offset_x, g.offset_y), note="heuristic")
                added["weak"] += 1
            rows.append(s)

    for s in rows:
        if s.key not in existing:
            s.split = ""
    _assign_splits(rows, val_fraction)
    removed = sum(1 for k in existing if k not in wanted)
    _write_manifest(manifest_path, rows)
    counts: dict[str, dict[str, int]] = {}
    for s in rows:
        counts.setdefault(s.source, {}).setdefault(s.split, 0)
        counts[s.source][s.split] += 1
    kept = len(rows) - sum(added.values())
    return PrepareReport(out, added, kept, removed, skipped, counts)


# --------------------------------------------------------------------------- training data


@dataclass(frozen=True)
class CropRecord:
    """What the Dataset needs from a manifest row, with the image decoded once."""

    rgb: np.ndarray  # cached region, premultiplied RGB uint8
    cell_w: float
    cell_h: float
    offset_x: float  # phase in the cached region
    offset_y: float
    source: int  # index into SOURCES
    negative: bool


class GridDataset:
    """Crops of the cached regions with their targets, as NumPy arrays (the DataLoader collates).

    Train: a random ``side`` crop, random mirror and transpose (offsets follow the change of
    origin).  Val: the top-left crop, unchanged, so validation numbers are comparable.
    """

    def __init__(self, root: str | Path, samples: list[Sample], side: int, conf_targets: dict[str, float], train: bool, seed: int = 0):
        from pixelperfecter.core.io import load_image

        self.root = Path(root)
        self.samples = samples
        self.side = side
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.conf_targets = conf_targets
        self.records: list[CropRecord] = []
        for s in samples:
            rgba = load_image(self.root / s.crop).rgba
            self.records.append(
                CropRecord(premultiplied_rgb(rgba), s.cell_w, s.cell_h, s.offset_x_crop, s.offset_y_crop, SOURCES.index(s.source), s.label == "negative")
            )

    def __len__(self) -> int:
        return len(self.records)

    def sources(self) -> list[int]:
        return [r.source for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, np.ndarray]:
        # The sampler may pass (index, draw) so that augmentation is a pure function of the
        # seed and the draw number: identical across runs, workers and ranks.
        draw = 0
        if isinstance(index, tuple):
            index, draw = index
        rec = self.records[index]
        side = self.side
        h, w = rec.rgb.shape[:2]
        cw, ch, ox, oy = rec.cell_w, rec.cell_h, rec.offset_x, rec.offset_y
        if self.train:
            rng = np.random.default_rng([self.seed, index, draw])
            x0 = int(rng.integers(0, max(1, w - side + 1)))
            y0 = int(rng.integers(0, max(1, h - side + 1)))
            flip_x, flip_y, transpose = rng.random(3) < 0.5
        else:
            x0 = y0 = 0
            flip_x = flip_y = transpose = False
        crop = rec.rgb[y0 : y0 + side, x0 : x0 + side]
        ox, oy = local_offset(ox, cw, x0), local_offset(oy, ch, y0)
        cw_px, ch_px = crop.shape[1], crop.shape[0]
        if flip_x:
            crop = crop[:, ::-1]
            ox = flipped_offset(ox, cw, cw_px)
        if flip_y:
            crop = crop[::-1]
            oy = flipped_offset(oy, ch, ch_px)
        if transpose:
            crop = crop.transpose(1, 0, 2)
            cw, ch, ox, oy = ch, cw, oy, ox
        x = model_input(np.ascontiguousarray(crop), side)
        phase_x, phase_y = 2 * np.pi * ox / cw, 2 * np.pi * oy / ch
        source_name = SOURCES[rec.source]
        return {
            "x": x,
            "cell": np.array([normalise(cw), normalise(ch)], np.float32),
            "offset": np.array([normalise(ox), normalise(oy)], np.float32),
            "phase": np.array([np.sin(phase_x), np.cos(phase_x), np.sin(phase_y), np.cos(phase_y)], np.float32),
            "conf_target": np.float32(0.0 if rec.negative else self.conf_targets[source_name]),
            "negative": np.float32(1.0 if rec.negative else 0.0),
            "source": np.int64(rec.source),
        }


def load_splits(root: str | Path) -> tuple[list[Sample], list[Sample]]:
    samples = read_manifest(Path(root) / MANIFEST)
    if not samples:
        raise FileNotFoundError(f"{Path(root) / MANIFEST}: no dataset (run `perfecter ml prepare` first)")
    return [s for s in samples if s.split == "train"], [s for s in samples if s.split == "val"]


class StratifiedSampler:
    """An endless-per-epoch stream of (index, draw) pairs, stratified by label source.

    Each draw picks a source with the configured weights (renormalised over the sources
    present), then an item of that source; the stream is a pure function of (seed, epoch),
    and rank r of N keeps draws r, r+N, ... — the DistributedSampler contract, so every rank
    sees a disjoint, equally long share with the same source mix.
    """

    def __init__(self, sources: list[int], weights: dict[str, float], num_samples: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.by_source: dict[int, np.ndarray] = {}
        for src in sorted(set(sources)):
            self.by_source[src] = np.array([i for i, s in enumerate(sources) if s == src], dtype=np.int64)
        present = [s for s in self.by_source if weights.get(SOURCES[s], 0.0) > 0]
        if not present:  # only sources with weight 0 exist: fall back to uniform over them
            present = list(self.by_source)
        total = sum(weights.get(SOURCES[s], 0.0) for s in present) or float(len(present))
        self.sources = present
        self.probs = np.array([(weights.get(SOURCES[s], 0.0) or (total / len(present))) / total for s in present])
        self.probs = self.probs / self.probs.sum()
        self.num_samples = num_samples
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch, 991])
        total = self.num_samples * self.world_size
        picks = rng.choice(len(self.sources), size=total, p=self.probs)
        draws = []
        for n, p in enumerate(picks):
            pool = self.by_source[self.sources[p]]
            draws.append((int(pool[rng.integers(0, len(pool))]), self.epoch * total + n))
        return iter(draws[self.rank :: self.world_size])


def quiet_warnings() -> None:
    warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
