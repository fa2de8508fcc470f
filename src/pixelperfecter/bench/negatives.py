"""True negatives: real photographs (scikit-image's sample data) must be refused or flagged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PhotoResult:
    name: str
    refused: bool
    flagged: bool  # a grid was returned, with a flag (confidence, diff) that says not to trust it
    confidence: float | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.refused or self.flagged

    def as_row(self) -> dict[str, object]:
        return {
            "photo": self.name, "refused": int(self.refused), "flagged": int(self.flagged),
            "confidence": "" if self.confidence is None else round(self.confidence, 3), "reason": self.reason,
        }


def photo_paths() -> list[Path]:
    """scikit-image's sample photographs (not its chessboards, which are grids), or [] without it."""
    try:
        import skimage
    except ImportError:
        return []
    data = Path(skimage.__file__).parent / "data"
    return sorted(p for p in data.iterdir() if p.suffix in (".png", ".jpg") and "chessboard" not in p.name)


def evaluate_photo(path: str) -> PhotoResult:
    from ..core.io import load_image
    from ..core.pipeline import reconstruct
    from ..core.types import Thresholds

    loaded = load_image(path)
    result = reconstruct(loaded.rgba, has_alpha=loaded.has_alpha)
    name = Path(path).name
    if result.metrics is None:
        return PhotoResult(name, True, False, None, result.error or "no grid")
    flags = result.metrics.flags(Thresholds())
    return PhotoResult(name, False, bool({"confidence", "diff_pct"} & set(flags)), result.metrics.confidence, ", ".join(flags))
