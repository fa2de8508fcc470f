"""Training configuration: dataclass defaults < YAML file < ``--set key=value`` overrides.

Flat keys (nanoGPT style) so that every knob can be named on the command line and an
unknown key is an error instead of a silently ignored typo.  Torch-free.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

# Label sources, in the order the stratified sampler and the reports use.
SOURCES = ("human", "synthetic", "weak")


class ConfigError(ValueError):
    """A bad configuration; the message is one line."""


@dataclass
class TrainConfig:
    # run
    name: str = "grid_estimator"
    data_dir: str = "data/ml"
    out_dir: str = "runs"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 1337
    resume: bool = False
    progress: bool = True
    # data
    crop: int = 160
    batch_size: int = 32
    num_workers: int = 0
    augment: bool = True
    weight_human: float = 0.3  # share of each batch drawn from each label source
    weight_synthetic: float = 0.6
    weight_weak: float = 0.1
    # model
    model: str = "grid_estimator"  # grid_estimator (global regression) | gridline (per-pixel boundaries)
    width: int = 24  # channels of the first stage; stages use width * (1, 2, 3, 4)
    blocks_per_stage: int = 1
    spectral_periods: int = 48  # periods (3..96 px, log-spaced) probed by the Fourier features
    hidden: int = 128
    dropout: float = 0.0
    # loss
    w_cell: float = 1.0
    w_phase: float = 0.5
    w_conf: float = 0.1
    w_negative: float = 0.5
    w_period: float = 0.2  # auxiliary cross-entropy on the period softmax (see model.py)
    negative_margin: float = 0.05  # relative cell-size distance a rejected grid is pushed beyond
    conf_human: float = 1.0
    conf_synthetic: float = 0.3
    conf_weak: float = 0.1
    # gridline model only (model: gridline): its own synthetic crops, no prepared data_dir
    gl_cases: int = 2400  # synthetic cases held in memory (seeds gl_seed_base.., < 900,000)
    gl_seed_base: int = 0
    gl_margin: int = 32  # cases are crop + margin px square; training takes random crops of them
    gl_tiers: str = "clean:0.5,fractional:1,ai:1,drift:2,small:2,big:1,sheet:1.5"  # tier:weight
    gl_pos_weight: float = 4.0  # BCE weight of boundary pixels (they are 2-20 % of columns)
    gl_label_side: float = 0.25  # target at +-1 px of a boundary
    # column: every pixel of a boundary column is a positive (the whole line);
    # visible: only where the two cells differ in colour in that row, equal cells ignored
    gl_target: str = "column"
    # optimisation
    max_steps: int = 3000
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    amp: bool = True  # mixed precision; only ever used when the device is CUDA
    # logging / checkpoints
    eval_every: int = 250
    log_every: int = 25
    image_every: int = 500
    val_max_samples: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def source_weights(self) -> dict[str, float]:
        return {"human": self.weight_human, "synthetic": self.weight_synthetic, "weak": self.weight_weak}

    def conf_targets(self) -> dict[str, float]:
        return {"human": self.conf_human, "synthetic": self.conf_synthetic, "weak": self.conf_weak}


def _field_types() -> dict[str, type]:
    defaults = TrainConfig()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(TrainConfig)}


def _coerce(key: str, value: Any, origin: str) -> Any:
    wanted = _field_types()[key]
    if wanted is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{origin}: {key} must be true or false, got {value!r}")
    if wanted is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if wanted is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if wanted is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if wanted is str:
        return str(value)
    if wanted in (int, float) and isinstance(value, str):
        # YAML 1.1 reads "1e-4" as a string; accept any number Python can parse.
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and (wanted is float or number.is_integer()):
            return wanted(number)
    raise ConfigError(f"{origin}: {key} must be {wanted.__name__}, got {value!r}")


def _apply(values: dict[str, Any], mapping: dict[str, Any], origin: str) -> None:
    known = _field_types()
    for key, value in mapping.items():
        if key not in known:
            raise ConfigError(f"{origin}: unknown config key {key!r} (known: {', '.join(sorted(known))})")
        values[key] = _coerce(key, value, origin)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=1e-3", "device=cpu"]`` -> typed values (YAML scalars: ints, floats, bools, strings)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the YAML file, then ``key=value`` overrides; unknown keys raise ConfigError."""
    values: dict[str, Any] = TrainConfig().to_dict()
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of config keys")
        _apply(values, data, str(p))
    _apply(values, parse_overrides(overrides), "--set")
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def config_from_dict(data: dict[str, Any], origin: str = "checkpoint") -> TrainConfig:
    """Rebuild a config saved in a checkpoint; keys added since are defaulted, unknown ones rejected."""
    values: dict[str, Any] = TrainConfig().to_dict()
    _apply(values, dict(data), origin)
    return TrainConfig(**values)


def validate(cfg: TrainConfig) -> None:
    if cfg.crop < 32:
        raise ConfigError(f"crop must be at least 32, got {cfg.crop}")
    if cfg.batch_size < 1 or cfg.max_steps < 0 or cfg.eval_every < 1:
        raise ConfigError("batch_size and eval_every must be >= 1 and max_steps >= 0")
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {cfg.device!r}")
    if cfg.model not in ("grid_estimator", "gridline"):
        raise ConfigError(f"model must be grid_estimator or gridline, got {cfg.model!r}")
    if cfg.model == "gridline":
        from .gridline_infer import parse_tier_weights

        parse_tier_weights(cfg.gl_tiers)
        if cfg.gl_target not in ("column", "visible"):
            raise ConfigError(f"gl_target must be column or visible, got {cfg.gl_target!r}")
        return
    if min(cfg.source_weights().values()) < 0 or sum(cfg.source_weights().values()) <= 0:
        raise ConfigError("weight_human/weight_synthetic/weight_weak must be >= 0 and not all 0")


def dump_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
