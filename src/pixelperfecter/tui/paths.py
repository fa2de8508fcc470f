"""Turning what the user pasted, dropped or typed into files, and folders into batches."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..core.io import IMAGE_SUFFIXES


def parse_dropped_path(text: str) -> Path | None:
    """The path in a paste: terminals paste a dropped file as its path, maybe quoted,
    shell-escaped (``my\\ file.png``) or as a ``file://`` URL.  Only the first line counts."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    raw = lines[0]
    if raw.lower().startswith("file://"):
        parsed = urlparse(raw)
        raw = unquote(parsed.path)
    elif len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    elif "\\" in raw and os.sep == "/":
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw]
        raw = parts[0] if len(parts) == 1 else raw
    raw = raw.strip()
    if not raw:
        return None
    return Path(os.path.expanduser(raw))


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Images directly inside ``folder``, sorted by name."""
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name.lower())


@dataclass
class Batch:
    """The images being reviewed and where we are in them ("3 / 78")."""

    paths: list[Path]
    index: int = 0
    folder: Path | None = None

    @property
    def current(self) -> Path:
        return self.paths[self.index]

    def position(self) -> str:
        return f"{self.index + 1} / {len(self.paths)}"

    def step(self, delta: int) -> bool:
        """Move within the batch (no wrapping); False at either end."""
        target = self.index + delta
        if not 0 <= target < len(self.paths):
            return False
        self.index = target
        return True


def batch_for(path: Path) -> Batch:
    """A folder becomes a batch of its images; a file opens its folder, positioned at it
    (``n``/``p`` then walk its neighbours).  ValueError if the folder has no images."""
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise ValueError(f"{path}: no images in this folder")
        return Batch(images, 0, path)
    folder = path.parent
    images = list_images(folder) if folder.is_dir() else []
    if path not in images:  # hidden, an odd suffix, or a folder we cannot list: still open it
        return Batch([path], 0, None)
    return Batch(images, images.index(path), folder)
