"""`perfecter ml train`: one readable training loop (nanoGPT / timm train.py style).

One loop for every model family: a ``TrainTask`` supplies its data, net, loss and validation
(``EstimatorTask`` here; ``gridline.GridlineTask`` for ``model: gridline``), the loop does the
rest (schedule, mixed precision, clipping, resume, DDP, TensorBoard, checkpoints).
The loss below is the estimator's.

Runs as is on one CPU or GPU, and under ``torchrun --nproc_per_node N`` with DDP (gloo on
CPU, NCCL on CUDA): every rank draws a disjoint share of the stratified sample stream, only
rank 0 writes logs and checkpoints.

Loss (per batch):
  * cell: MSE of log(cell/256), i.e. a scale-free error: 1 px on a 5 px cell costs as much
    as 8 px on a 40 px cell.  (The first version used the relative MSE ((pred-true)/true)^2;
    under uncertainty its optimum shrinks predictions, and the trained model came out
    8.5 % too small on average.  The log error is symmetric and has no such bias.);
  * phase: MSE between predicted and true (sin, cos) of 2*pi*offset/cell, no wrap-around
    (see model.py); both only on positive rows;
  * negatives (rejected ML suggestions): a hinge pushing the predicted cell at least
    ``negative_margin`` (relative) away from the rejected one;
  * confidence: BCE against 1.0 human / 0.3 synthetic / 0.1 weak / 0.0 negative;
  * auxiliary: cross-entropy of the period softmax against a soft one-hot of the true cell
    (``w_period``), which trains the soft period choice much faster than the MSE alone.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from pixelperfecter.core.io import atomic_write

from .config import TrainConfig, config_from_dict, dump_yaml
from .dataset import GridDataset, StratifiedSampler, load_splits
from .model import build_model, decode, period_targets, phase_to_offset
from .preprocess import PARAM_SCALE

CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; one-line message naming the file and the reason."""


@dataclass
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device_name: str) -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_name.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, local_rank=local_rank, world_size=world)


def resolve_device(name: str, dist: Dist) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("device=cuda requested but CUDA is not available (use --set device=cpu)")
        if name == "cuda" and dist.enabled:
            name = f"cuda:{dist.local_rank}"
        torch.cuda.set_device(torch.device(name))
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def compute_loss(out: torch.Tensor, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    pred = decode(out.float())
    cell_t, phase_t = batch["cell"], batch["phase"]
    negative = batch["negative"]
    positive = 1.0 - negative
    n_pos = positive.sum().clamp(min=1.0)
    floor = 1.0 / PARAM_SCALE
    log_err = torch.log(pred["cell"].clamp(min=floor)) - torch.log(cell_t.clamp(min=floor))
    cell_loss = ((log_err**2).mean(dim=1) * positive).sum() / n_pos
    rel = (pred["cell"] - cell_t) / cell_t.clamp(min=2.0 / PARAM_SCALE)
    phase_loss = (((pred["phase"] - phase_t) ** 2).mean(dim=1) * positive).sum() / n_pos
    dist_rel = rel.abs().mean(dim=1)
    neg_loss = ((F.relu(cfg.negative_margin - dist_rel) ** 2) * negative).sum() / negative.sum().clamp(min=1.0)
    conf_loss = F.binary_cross_entropy_with_logits(pred["conf_logit"], batch["conf_target"])
    logits = pred["period_logits"]
    target = period_targets(cell_t * PARAM_SCALE, logits.shape[-1])
    period_ce = -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean(dim=1)
    period_loss = (period_ce * positive).sum() / n_pos
    loss = cfg.w_cell * cell_loss + cfg.w_phase * phase_loss + cfg.w_negative * neg_loss + cfg.w_conf * conf_loss + cfg.w_period * period_loss
    parts = {name: float(v.detach()) for name, v in (("cell", cell_loss), ("phase", phase_loss), ("negative", neg_loss), ("conf", conf_loss), ("period", period_loss))}
    return loss, parts


@dataclass
class ValStats:
    loss: float
    mae_cell_px: float
    mae_offset_px: float
    within_1px: float  # share with |d cell| <= 1 and circular |d offset| <= 1 on both axes
    n: int


def circular_px(a: torch.Tensor, b: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    d = (a - b).abs() % cell
    return torch.minimum(d, cell - d)


@torch.no_grad()
def evaluate_batches(model: torch.nn.Module, loader, cfg: TrainConfig, device: torch.device) -> ValStats:
    model.eval()
    losses, cell_err, off_err, within, n = [], [], [], [], 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch["x"]).float()
        loss, _ = compute_loss(out, batch, cfg)
        pred = decode(out)
        keep = batch["negative"] < 0.5
        if keep.any():
            cell_p = pred["cell"][keep] * PARAM_SCALE
            cell_t = batch["cell"][keep] * PARAM_SCALE
            off_p = phase_to_offset(pred["phase"][keep], cell_t)
            off_t = batch["offset"][keep] * PARAM_SCALE
            dc = (cell_p - cell_t).abs()
            do = circular_px(off_p, off_t, cell_t)
            cell_err.append(dc.mean(dim=1))
            off_err.append(do.mean(dim=1))
            within.append(((dc <= 1.0) & (do <= 1.0)).all(dim=1).float())
        losses.append(float(loss) * len(batch["x"]))
        n += len(batch["x"])
    model.train()
    if not cell_err:
        return ValStats(sum(losses) / max(n, 1), float("nan"), float("nan"), float("nan"), n)
    return ValStats(
        loss=sum(losses) / max(n, 1),
        mae_cell_px=float(torch.cat(cell_err).mean()),
        mae_offset_px=float(torch.cat(off_err).mean()),
        within_1px=float(torch.cat(within).mean()),
        n=n,
    )


def _draw_grid(img: np.ndarray, cell: float, offset_x: float, cell_h: float, offset_y: float, colour: tuple[int, int, int], every: int) -> None:
    h, w = img.shape[:2]
    if cell <= 1 or cell_h <= 1:
        return
    for k in range(-1, int(w / cell) + 2):
        x = int(round(offset_x + k * cell))
        if 0 <= x < w:
            img[::every, x] = colour
    for k in range(-1, int(h / cell_h) + 2):
        y = int(round(offset_y + k * cell_h))
        if 0 <= y < h:
            img[y, ::every] = colour


@torch.no_grad()
def prediction_grid(model: torch.nn.Module, batch: dict[str, torch.Tensor], count: int = 8) -> np.ndarray:
    """(3, H, W) uint8 mosaic: val crops, true grid in green (solid), predicted in red (dotted)."""
    model.eval()
    x = batch["x"][:count]
    pred = decode(model(x).float())
    model.train()
    cell_p = (pred["cell"] * PARAM_SCALE).cpu()
    off_p = phase_to_offset(pred["phase"], pred["cell"].clamp(min=1e-3) * PARAM_SCALE).cpu()
    cell_t = batch["cell"][:count].cpu() * PARAM_SCALE
    off_t = batch["offset"][:count].cpu() * PARAM_SCALE
    tiles = []
    for i in range(len(x)):
        img = (x[i, :3].cpu().numpy().transpose(1, 2, 0) * 255).astype(np.uint8).copy()
        _draw_grid(img, float(cell_t[i, 0]), float(off_t[i, 0]), float(cell_t[i, 1]), float(off_t[i, 1]), (0, 255, 0), 1)
        _draw_grid(img, float(cell_p[i, 0]), float(off_p[i, 0]), float(cell_p[i, 1]), float(off_p[i, 1]), (255, 0, 0), 2)
        tiles.append(np.pad(img, ((2, 2), (2, 2), (0, 0))))
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r : r + cols], axis=1) for r in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=0).transpose(2, 0, 1)


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, model: torch.nn.Module, cfg: TrainConfig, step: int, best_val_mae: float, optimizer=None, scaler=None,
                    val: dict[str, float] | None = None) -> None:
    """Only tensors and plain Python values, so it loads with ``weights_only=True``."""
    raw = model.module if hasattr(model, "module") else model
    state = {
        "format": CHECKPOINT_FORMAT,
        "kind": "pixelperfecter-grid-estimator",
        "model": {k: v.detach().cpu() for k, v in raw.state_dict().items()},
        "config": cfg.to_dict(),
        "step": int(step),
        "best_val_mae": float(best_val_mae),
        "val": None if val is None else {k: float(v) for k, v in val.items()},
        "torch_version": str(torch.__version__),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
        state["rng_cpu"] = torch.get_rng_state()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (no arbitrary unpickling) and check that it is ours."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        text = str(exc).strip()
        if "Weights only load failed" in text:
            # Never fall back to full unpickling: the file holds objects other than tensors.
            reason = "it holds Python objects, refused by the safe loader"
        else:
            reason = text.splitlines()[0][:160] if text else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("kind") != "pixelperfecter-grid-estimator" or "model" not in state or "config" not in state:
        raise CheckpointError(f"{p}: not a pixelperfecter grid-estimator checkpoint")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p}: checkpoint format {state.get('format')} is not supported (expected {CHECKPOINT_FORMAT})")
    return state


def model_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, TrainConfig]:
    """An eval-mode model built from a checkpoint's config; a mismatch is a CheckpointError."""
    state = load_checkpoint(path)
    try:
        cfg = config_from_dict(state["config"], origin=f"{path}: config")
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    model = build_model(cfg)
    try:
        model.load_state_dict(state["model"], strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Error(s)")]
        detail = lines[0][:160] if lines else "state dict mismatch"
        raise CheckpointError(f"{path}: weights do not match the model its config describes ({detail})") from None
    model.eval()
    return model, cfg


# --------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    best_val_mae: float  # the task's validation score at the best checkpoint (lower is better)
    last_val: object | None  # the task's last validation stats (ValStats, GlValStats)
    seconds: float


def _collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


class TrainTask(Protocol):
    """What the one training loop needs of a model family (``EstimatorTask``, and
    ``gridline.GridlineTask`` for ``model: gridline``): its data, net, loss and validation."""

    setup_seconds: float  # time spent preparing the data, logged once

    def build(self) -> torch.nn.Module: ...

    def batches(self, step: int) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches for ever, from ``step`` on (a resumed run continues the stream)."""
        ...

    def loss(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validate(self, model: torch.nn.Module, step: int, writer, device: torch.device) -> tuple[object | None, float, dict[str, float] | None]:
        """(stats, score: lower is better, summary kept in the checkpoint); logs to ``writer``."""
        ...


class EstimatorTask:
    """The grid estimator: the prepared dataset through a stratified sampler (each rank its share)."""

    def __init__(self, cfg: TrainConfig, dist: Dist) -> None:
        start = time.perf_counter()
        self.cfg = cfg
        train_rows, val_rows = load_splits(cfg.data_dir)
        if not train_rows:
            raise FileNotFoundError(f"{Path(cfg.data_dir) / 'manifest.jsonl'}: no training rows")
        train_set = GridDataset(cfg.data_dir, train_rows, cfg.crop, cfg.conf_targets(), train=cfg.augment, seed=cfg.seed)
        val_set = GridDataset(cfg.data_dir, val_rows[: cfg.val_max_samples], cfg.crop, cfg.conf_targets(), train=False)
        per_rank = cfg.batch_size * cfg.eval_every
        self.sampler = StratifiedSampler(train_set.sources(), cfg.source_weights(), per_rank, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size)
        self.loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, sampler=self.sampler, num_workers=cfg.num_workers, collate_fn=_collate, drop_last=True)
        self.val_loader = torch.utils.data.DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False, num_workers=0, collate_fn=_collate) if len(val_set) else None
        self.setup_seconds = time.perf_counter() - start

    def build(self) -> torch.nn.Module:
        return build_model(self.cfg)

    def batches(self, step: int) -> Iterator[dict[str, torch.Tensor]]:
        epoch = step // self.cfg.eval_every
        while True:
            self.sampler.set_epoch(epoch)
            yield from self.loader
            epoch += 1

    def loss(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return compute_loss(out, batch, self.cfg)

    def validate(self, model: torch.nn.Module, step: int, writer, device: torch.device) -> tuple[object | None, float, dict[str, float] | None]:
        if self.val_loader is None:
            return None, float("inf"), None
        val = evaluate_batches(model, self.val_loader, self.cfg, device)
        if writer is not None:
            writer.add_scalar("val/loss", val.loss, step)
            writer.add_scalar("val/mae_cell_px", val.mae_cell_px, step)
            writer.add_scalar("val/mae_offset_px", val.mae_offset_px, step)
            writer.add_scalar("val/within_1px", val.within_1px, step)
            if step % self.cfg.image_every == 0 or step == self.cfg.max_steps:
                first = {k: v.to(device) for k, v in next(iter(self.val_loader)).items()}
                writer.add_image("val/predictions", prediction_grid(model, first), step, dataformats="CHW")
        # "best": cell MAE plus offset MAE in px.
        score = float("inf") if math.isnan(val.mae_cell_px) else val.mae_cell_px + val.mae_offset_px
        return val, score, {"mae_cell_px": val.mae_cell_px, "mae_offset_px": val.mae_offset_px, "within_1px": val.within_1px}


def make_task(cfg: TrainConfig, dist: Dist) -> TrainTask:
    if cfg.model == "gridline":
        from .gridline import GridlineTask

        return GridlineTask(cfg, dist)
    return EstimatorTask(cfg, dist)


def train(cfg: TrainConfig) -> TrainResult:
    dist = setup_distributed(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    device = resolve_device(cfg.device, dist)
    seed_everything(cfg.seed + dist.rank)
    if device.type == "cpu":
        # Same seed, same thread count -> bit-identical weights (tested).
        torch.use_deterministic_algorithms(True, warn_only=True)
    use_amp = bool(cfg.amp and device.type == "cuda")
    run_dir = cfg.run_dir
    start = time.perf_counter()
    task = make_task(cfg, dist)

    model = task.build().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step, best = 0, float("inf")
    last_path = run_dir / "last.pt"
    if cfg.resume:
        if not last_path.exists():
            raise CheckpointError(f"{last_path}: nothing to resume")
        state = load_checkpoint(last_path)
        model.load_state_dict(state["model"])
        if "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and use_amp:
            scaler.load_state_dict(state["scaler"])
        if "rng_cpu" in state:
            torch.set_rng_state(state["rng_cpu"])
        step, best = int(state["step"]), float(state["best_val_mae"])
    if dist.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    writer = None
    if dist.is_main:
        from pixelperfecter.core.io import write_text_atomic

        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", dump_yaml(cfg))
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=step if cfg.resume else None)
        if not cfg.resume:
            writer.add_scalar("data/seconds", task.setup_seconds, 0)

    from tqdm import tqdm

    bar = tqdm(total=cfg.max_steps, initial=step, desc=cfg.name, unit="step", disable=not (cfg.progress and dist.is_main), dynamic_ncols=True)
    last_val: object | None = None
    model.train()
    running = 0.0
    if step < cfg.max_steps:
        for batch in task.batches(step):
            if step >= cfg.max_steps:
                break
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                out = model(batch["x"])
            loss, parts = task.loss(out, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            loss_value = float(loss.detach())
            running = loss_value if running == 0 else 0.9 * running + 0.1 * loss_value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.2e}")
            if writer is not None and (step % cfg.log_every == 0 or step == 1):
                writer.add_scalar("train/loss", loss_value, step)
                writer.add_scalar("train/lr", lr, step)
                for name, value in parts.items():
                    writer.add_scalar(f"train/loss_{name}", value, step)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                last_val, best = _validate_and_save(task, model, cfg, device, dist, writer, step, best, optimizer, scaler, use_amp)
    if step == 0 or (last_val is None and dist.is_main):
        last_val, best = _validate_and_save(task, model, cfg, device, dist, writer, step, best, optimizer, scaler, use_amp)
    bar.close()
    if writer is not None:
        writer.add_scalar("time/seconds", time.perf_counter() - start, step)
        writer.flush()
        writer.close()
    if dist.enabled:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    return TrainResult(run_dir, step, best, last_val, time.perf_counter() - start)


def _validate_and_save(task: TrainTask, model, cfg, device, dist: Dist, writer, step: int, best: float, optimizer, scaler, use_amp: bool):
    if not dist.is_main:
        return None, best
    raw = model.module if hasattr(model, "module") else model
    val, score, summary = task.validate(raw, step, writer, device)
    if writer is not None:
        writer.flush()
    if score < best or not (cfg.run_dir / "best.pt").exists():
        best = min(best, score)
        save_checkpoint(cfg.run_dir / "best.pt", raw, cfg, step, best, val=summary)
    save_checkpoint(cfg.run_dir / "last.pt", raw, cfg, step, best, optimizer=optimizer, scaler=scaler if use_amp else None, val=summary)
    return val, best
