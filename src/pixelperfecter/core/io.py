"""Loading any image the user throws at us as RGBA uint8, and writing results atomically."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import struct
import sys
import tempfile
import warnings as _warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
DEFAULT_MAX_PIXELS = 64_000_000
MIN_SIDE = 4


class ImageLoadError(Exception):
    """An input that cannot be used; the message is one line naming the reason."""


@dataclass
class LoadedImage:
    rgba: np.ndarray
    has_alpha: bool
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float modes scaled down to 8 bits per channel (Pillow's convert clips them)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read ``path`` as RGBA uint8, or raise ImageLoadError with a one-line reason."""
    p = Path(path)
    notes: list[str] = []
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageLoadError("dangling symbolic link (its target is missing)" if p.is_symlink() else "file not found") from None
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError("is a directory, not an image")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO would block the read forever; devices and sockets are not images either.
        raise ImageLoadError("not a regular file")
    if st.st_size == 0:
        raise ImageLoadError("empty file (0 bytes)")
    with _decoder_messages() as messages:
        rgba, has_alpha = _decode(p, max_pixels, notes)
    notes.extend(messages)
    if min(rgba.shape[:2]) < MIN_SIDE:
        raise ImageLoadError(f"image too small ({rgba.shape[1]}x{rgba.shape[0]}; needs at least {MIN_SIDE}x{MIN_SIDE})")
    if has_alpha and bool((rgba[..., 3] == 255).all()):
        has_alpha = False
    return LoadedImage(rgba=rgba, has_alpha=has_alpha, path=p, warnings=notes)


def _decode(p: Path, max_pixels: int, notes: list[str]) -> tuple[np.ndarray, bool]:
    """Pillow's part of ``load_image``; every failure becomes an ImageLoadError."""
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's own guard reports twice the limit ("exceeds limit of 2000000 pixels" for
        # --max-pixels 1000000): it is switched off and the size is checked here instead,
        # from the header, before any pixel is decoded.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(p) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageLoadError(f"image too large ({w}x{h} = {w * h:,} pixels, limit {max_pixels:,}; see --max-pixels)")
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                notes.append(f"animated image with {n_frames} frames: using the first frame")
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) or img
            img = _to_8bit(img)
            has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            if img.mode == "CMYK":
                img = img.convert("RGB")
            if img.width * img.height > max_pixels:  # a frame or EXIF rotation larger than the header said
                raise ImageLoadError(f"image too large ({img.width}x{img.height}, limit {max_pixels:,} pixels; see --max-pixels)")
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"image too large (decompression bomb guard: {exc})".split(". ")[0]) from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image (unrecognised format)") from None
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except MemoryError:
        raise ImageLoadError("out of memory while decoding") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
        # Mutated headers make Pillow's plugins fail in many ways; all mean "corrupt".
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageLoadError(f"corrupt or truncated image ({' '.join(first.split())})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    return rgba, has_alpha


@contextlib.contextmanager
def _decoder_messages() -> Iterator[list[str]]:
    """Collect what decoders say instead of letting it reach the terminal.

    Pillow warns through ``warnings`` (caught here); libtiff and other C libraries write to
    file descriptor 2 directly, which is pointed at a temp file while decoding.  What was said
    comes back as at most one summary line, so the user sees ``warning: PATH: ...`` once.
    """
    messages: list[str] = []
    with _warnings.catch_warnings(record=True) as caught, _fd2_captured() as c_text:
        _warnings.simplefilter("always")
        yield messages
    said = [" ".join(str(w.message).split()) for w in caught]
    said += [" ".join(line.split()) for line in c_text().splitlines() if line.strip()]
    said = [m for m in dict.fromkeys(said) if m]
    if said:
        more = f" (+{len(said) - 1} more)" if len(said) > 1 else ""
        messages.append(f"decoder: {said[0][:200]}{more}")


@contextlib.contextmanager
def _fd2_captured() -> Iterator[Callable[[], str]]:
    captured: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing can leak
        yield lambda: ""
        return
    sink = tempfile.TemporaryFile()
    try:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: "".join(captured)
        finally:
            os.dup2(saved, 2)
            sink.seek(0)
            captured.append(sink.read(65536).decode("utf-8", "replace"))
    finally:
        os.close(saved)
        sink.close()


def to_pil(rgba: np.ndarray, keep_alpha: bool = True) -> Image.Image:
    if keep_alpha:
        return Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")


@functools.lru_cache(maxsize=1)
def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask).

    ``mkstemp`` creates its files 0o600; without this, results written atomically would be
    unreadable to other users and unlike every other file the user creates.  Read once: the
    umask can only be read by setting it, which must not race with other threads later.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_new_file_mode()  # read the umask now, while the importing program is still single-threaded


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temp file beside ``path``, then rename it into place.

    Readers never see a half-written file, and a failed write leaves nothing behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def save_png(path: str | os.PathLike[str], rgba: np.ndarray, keep_alpha: bool = True) -> Path:
    """Write a PNG atomically (see ``atomic_write``)."""
    return atomic_write(path, lambda tmp: to_pil(rgba, keep_alpha).save(tmp, format="PNG"))


# A PNG palette (mode P) holds at most this many entries.
MAX_INDEXED_COLORS = 256


def _index_keys(rgba: np.ndarray, keep_alpha: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's RGBA as written to an indexed PNG, and one uint32 key per cell."""
    flat = np.ascontiguousarray(rgba).reshape(-1, 4).copy()
    if not keep_alpha:
        flat[:, 3] = 255
    flat[flat[:, 3] == 0, :3] = 0
    key: np.ndarray = flat.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.uint32)
    return flat, key


def count_index_entries(rgba: np.ndarray, keep_alpha: bool = True) -> int:
    """The palette entries an indexed PNG of ``rgba`` needs (all transparent cells share one)."""
    return int(len(np.unique(_index_keys(rgba, keep_alpha)[1])))


def indexed_image(rgba: np.ndarray, keep_alpha: bool = True) -> Image.Image | None:
    """``rgba`` as a mode-P image (palette in order of first appearance), or None over 256 colours.

    With ``keep_alpha`` each entry carries its alpha (a tRNS chunk) so transparency survives;
    fully transparent cells share one entry whatever RGB they hide.
    """
    flat, key = _index_keys(rgba, keep_alpha)
    keys, first, index = np.unique(key, return_index=True, return_inverse=True)
    if len(keys) > MAX_INDEXED_COLORS:
        return None
    # Entries in order of first appearance (reading order), so the palette is stable and readable.
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    entries = flat[first[order]]
    img = Image.fromarray(rank[index.reshape(-1)].astype(np.uint8).reshape(rgba.shape[:2]), "P")
    img.putpalette(entries[:, :3].reshape(-1).tobytes(), rawmode="RGB")
    if keep_alpha and bool((entries[:, 3] < 255).any()):
        img.info["transparency"] = entries[:, 3].tobytes()
    return img


def save_png_indexed(path: str | os.PathLike[str], rgba: np.ndarray, keep_alpha: bool = True) -> Path | None:
    """Write an indexed (mode P) PNG atomically; None (nothing written) over 256 colours."""
    img = indexed_image(rgba, keep_alpha)
    if img is None:
        return None
    transparency = img.info.get("transparency")
    extra = {"transparency": transparency} if transparency is not None else {}
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG", **extra))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    return atomic_write(path, write)


def _is_walked_dir(path: Path, recursive: bool) -> bool:
    """A folder the recursive walk descends into (its images are listed on their own)."""
    return recursive and path.is_dir() and any(True for _ in path.iterdir())


def iter_images(paths: list[Path], recursive: bool = False) -> list[Path]:
    """Expand files, folders and globs into a sorted, de-duplicated list of candidate files.

    Explicitly named files are kept whatever their suffix (so a bad file gets a clear error);
    folders contribute only files with an image suffix.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        p = Path(raw)
        text = str(raw)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            for child in sorted(p.glob(pattern)):
                # Not only regular files: a dangling link or a folder named like an image is an
                # input gone missing, and load_image gives it a clear error instead of silence.
                if child.suffix.lower() in IMAGE_SUFFIXES and not child.name.startswith(".") and not _is_walked_dir(child, recursive):
                    add(child)
        elif any(ch in text for ch in "*?[") and not p.exists():
            anchor = Path(text.split("*")[0].split("?")[0].split("[")[0])
            base = anchor if anchor.is_dir() else anchor.parent
            rel = os.path.relpath(text, base) if base != Path("") else text
            # Like the shell: a wildcard does not match hidden files unless the pattern says so.
            want_hidden = Path(text).name.startswith(".")
            for child in sorted(base.glob(rel)):
                if child.is_file() and (want_hidden or not child.name.startswith(".")):
                    add(child)
        else:
            add(p)
    return out
