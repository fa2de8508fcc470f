"""`perfecter ml export`: TorchScript (and ONNX when the onnx package is installed).

The exported TorchScript file runs without the training code (``torch.jit.load``), carries
the crop side as a module attribute, and is what the CLI/TUI can load with
``suggest_parameters(path, model="...ts")``.  ``--default`` also copies a slim weights-only
checkpoint (no optimizer state) into the package assets as the shipped default model.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pixelperfecter.core.io import atomic_write


@dataclass
class ExportResult:
    torchscript: Path
    onnx: Path | None = None
    default_model: Path | None = None
    messages: list[str] = field(default_factory=list)


def slim_checkpoint(src: str | Path, dest: str | Path) -> Path:
    """Weights + config + validation numbers only (loads with weights_only=True)."""
    import torch

    from .train import load_checkpoint

    state = load_checkpoint(src)
    slim = {k: state[k] for k in ("format", "kind", "model", "config", "step", "best_val_mae", "val", "torch_version") if k in state}
    return atomic_write(dest, lambda tmp: torch.save(slim, tmp))


def export_model(checkpoint: str | Path, out_dir: str | Path, make_default: bool = False) -> ExportResult:
    import torch

    from .train import model_from_checkpoint

    model, cfg = model_from_checkpoint(checkpoint)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.model == "gridline":
        from .gridline_infer import DEFAULT_GRIDLINE, DEFAULT_GRIDLINE_ONNX

        # Fully convolutional: dynamic batch, height and width (strips of any size run at native
        # resolution); an odd, non-square dummy, so that nothing about the size is baked in.
        result = _export_files(model, out, "gridline", torch.zeros(1, 4, 67, 133), "logits", {0: "batch", 2: "height", 3: "width"})
        defaults = (DEFAULT_GRIDLINE, DEFAULT_GRIDLINE_ONNX)
    else:
        from .inference import DEFAULT_MODEL, DEFAULT_ONNX

        result = _export_files(model, out, "grid_estimator", torch.zeros(1, 4, cfg.crop, cfg.crop), "out", {0: "batch"})
        defaults = (DEFAULT_MODEL, DEFAULT_ONNX)
    if make_default:
        result.default_model = slim_checkpoint(checkpoint, defaults[0])
        if result.onnx is not None:
            data = result.onnx.read_bytes()
            atomic_write(defaults[1], lambda tmp: tmp.write_bytes(data))
    return result


def _export_files(model, out: Path, stem: str, dummy, output_name: str, axes: dict[int, str]) -> ExportResult:
    """``<stem>.ts`` and, when the onnx package is installed, ``<stem>.onnx`` (``axes``: the
    dynamic axes of input and output) in ``out``."""
    import torch

    with warnings.catch_warnings():
        # torch.jit is deprecated upstream but still the format that loads without our code.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    ts_path = atomic_write(out / f"{stem}.ts", lambda tmp: scripted.save(str(tmp)))
    result = ExportResult(torchscript=ts_path)
    if importlib.util.find_spec("onnx") is None:
        result.messages.append("ONNX skipped: the onnx package is not installed (pip install onnx)")
        return result
    onnx_path = out / f"{stem}.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One self-contained file (no .onnx.data beside it): it ships as a package asset.
            # The TorchScript-based exporter (dynamo=False): dynamic axes and the weights inside
            # the file (the dynamo exporter kept batch 1 and wrote a .onnx.data beside it).
            torch.onnx.export(model, (dummy,), str(onnx_path), input_names=["x"], output_names=[output_name],
                              dynamic_axes={"x": axes, output_name: axes}, dynamo=False)
        result.onnx = onnx_path
    except ImportError as exc:  # newer torch exporters need onnxscript beside onnx
        result.messages.append(f"ONNX skipped: {exc} (pip install onnx onnxscript)")
    return result


def load_torchscript(path: str | Path):
    """(module, crop) from an exported TorchScript file, without the training code."""
    import torch

    from .inference import ModelLoadError

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:
        text = str(exc).strip()
        raise ModelLoadError(f"{p}: not a loadable TorchScript model ({text.splitlines()[0][:160] if text else type(exc).__name__})") from None
    crop = getattr(module, "crop", None)
    if not isinstance(crop, int):
        raise ModelLoadError(f"{p}: TorchScript model has no integer 'crop' attribute (not a grid estimator export)")
    module.eval()
    return module, crop
