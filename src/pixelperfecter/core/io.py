"""Loading any image the user throws at us as RGBA uint8, and writing results atomically."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import stat
import struct
import sys
import tempfile
import warnings as _warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .distinct import distinct

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
DEFAULT_MAX_PIXELS = 64_000_000
MIN_SIDE = 4
# A frame's duration when the file (or a folder of frames) gives none: Aseprite's and browsers' default.
DEFAULT_FRAME_MS = 100


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
    _check_regular_file(p)
    with _decoder_messages() as messages:
        rgba, has_alpha = _decode(p, max_pixels, notes)
    notes.extend(messages)
    if min(rgba.shape[:2]) < MIN_SIDE:
        raise ImageLoadError(f"image too small ({rgba.shape[1]}x{rgba.shape[0]}; needs at least {MIN_SIDE}x{MIN_SIDE})")
    if has_alpha and bool((rgba[..., 3] == 255).all()):
        has_alpha = False
    return LoadedImage(rgba=rgba, has_alpha=has_alpha, path=p, warnings=notes)


def _check_regular_file(p: Path) -> None:
    """Raise ImageLoadError unless ``p`` is a non-empty regular file that can be stat'ed."""
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


def _decode(p: Path, max_pixels: int, notes: list[str]) -> tuple[np.ndarray, bool]:
    """Pillow's part of ``load_image``; every failure becomes an ImageLoadError."""
    with _pillow_errors(), Image.open(p) as img:
        w, h = img.size
        if w * h > max_pixels:
            raise ImageLoadError(f"image too large ({w}x{h} = {w * h:,} pixels, limit {max_pixels:,}; see --max-pixels)")
        n_frames = getattr(img, "n_frames", 1)
        if n_frames > 1:
            notes.append(f"animated image with {n_frames} frames: using the first frame (--animate reads them all)")
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
    return rgba, has_alpha


@contextlib.contextmanager
def _pillow_errors() -> Iterator[None]:
    """Every way Pillow fails on a bad file, as one ImageLoadError with a one-line reason."""
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's own guard reports twice the limit ("exceeds limit of 2000000 pixels" for
        # --max-pixels 1000000): it is switched off and the size is checked by the callers
        # instead, from the header, before any pixel is decoded.
        Image.MAX_IMAGE_PIXELS = None
        yield
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


# --------------------------------------------------------------------------- animations


@dataclass
class LoadedAnimation:
    """Every frame of an animated image (or a folder of frames), composited, as RGBA uint8.

    ``durations_ms`` has one entry per frame; ``loop`` is the container's loop count (0 =
    forever) or None when the file names none (a GIF without one plays once).  ``source_format``
    is Pillow's format name ("GIF", "WEBP", "PNG") or "frames" for a folder.
    """

    frames: list[np.ndarray]
    durations_ms: list[int]
    loop: int | None
    has_alpha: bool
    source_format: str
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.frames[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frames[0].shape[0])


def _natural_key(name: str) -> list[object]:
    """``frame2`` before ``frame10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_animation(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedAnimation:
    """Every frame of an animated GIF, WebP or APNG (a still image gives one frame).

    Frames come composited as Pillow gives them (GIF disposal, APNG blend), each converted to
    RGBA.  ``max_pixels`` bounds the pixels of all frames together (the decompression-bomb
    guard: a small GIF can hold thousands of frames).  Raises ImageLoadError.
    """
    p = Path(path)
    if p.is_dir():
        return load_frame_folder(p, max_pixels)
    _check_regular_file(p)
    frames: list[np.ndarray] = []
    durations: list[int] = []
    with _decoder_messages() as messages, _pillow_errors(), Image.open(p) as img:
        w, h = img.size
        n_frames = int(getattr(img, "n_frames", 1))
        if w * h * n_frames > max_pixels:
            raise ImageLoadError(
                f"animation too large ({w}x{h} x {n_frames} frames = {w * h * n_frames:,} pixels, limit {max_pixels:,}; see --max-pixels)"
            )
        source_format = str(img.format or "")
        loop_value = img.info.get("loop")
        for index in range(n_frames):
            img.seek(index)
            frame = img.convert("RGBA")
            if frame.size != (w, h):
                raise ImageLoadError(f"frame {index} is {frame.width}x{frame.height}, the first is {w}x{h}")
            frames.append(np.asarray(frame, dtype=np.uint8).copy())
            duration = img.info.get("duration")
            durations.append(int(round(float(duration))) if isinstance(duration, (int, float)) else DEFAULT_FRAME_MS)
    if min(h, w) < MIN_SIDE:
        raise ImageLoadError(f"image too small ({w}x{h}; needs at least {MIN_SIDE}x{MIN_SIDE})")
    has_alpha = any(bool((f[..., 3] < 255).any()) for f in frames)
    loop = int(loop_value) if isinstance(loop_value, int) else None
    return LoadedAnimation(frames, durations, loop, has_alpha, source_format, path=p, warnings=list(messages))


def frame_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (not hidden, not in subfolders), in natural order."""
    try:
        children = list(folder.iterdir())
    except PermissionError:
        raise ImageLoadError("permission denied (cannot list folder)") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot list folder ({exc.strerror or exc})") from None
    found = [c for c in children if c.suffix.lower() in IMAGE_SUFFIXES and not c.name.startswith(".") and c.is_file()]
    return sorted(found, key=lambda c: _natural_key(c.name))


def load_frame_folder(folder: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS,
                      frame_ms: int | None = None) -> LoadedAnimation:
    """A folder of still frames as one animation, in natural name order, all the same size.

    Each frame lasts ``frame_ms`` (default ``DEFAULT_FRAME_MS``) and the animation loops
    forever.  ``max_pixels`` bounds all frames together.  Raises ImageLoadError naming the
    frame at fault.
    """
    p = Path(folder)
    files = frame_files(p)
    if not files:
        raise ImageLoadError("no image frames in folder")
    frames: list[np.ndarray] = []
    notes: list[str] = []
    alpha = False
    total = 0
    for f in files:
        try:
            loaded = load_image(f, max_pixels=max_pixels)
        except ImageLoadError as exc:
            raise ImageLoadError(f"frame {f.name}: {exc}") from None
        if frames and loaded.rgba.shape != frames[0].shape:
            raise ImageLoadError(
                f"frame {f.name} is {loaded.width}x{loaded.height}, the first frame ({files[0].name}) is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}; all frames must be the same size"
            )
        total += loaded.width * loaded.height
        if total > max_pixels:
            raise ImageLoadError(f"animation too large (over {max_pixels:,} pixels by frame {f.name}; see --max-pixels)")
        frames.append(loaded.rgba)
        alpha = alpha or loaded.has_alpha
        notes.extend(f"frame {f.name}: {w}" for w in loaded.warnings)
    duration = DEFAULT_FRAME_MS if frame_ms is None else int(frame_ms)
    return LoadedAnimation(frames, [duration] * len(frames), 0, alpha, "frames", path=p, warnings=notes)


def is_animated(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an image file with more than one frame (False for anything unreadable)."""
    try:
        with _pillow_errors(), Image.open(path) as img:
            return int(getattr(img, "n_frames", 1)) > 1
    except (ImageLoadError, OSError):
        return False


def _gif_frames(frames: Sequence[np.ndarray]) -> list[Image.Image]:
    """Frames as palette images sharing one exact palette (index 0 transparent when needed).

    Reconstructed sprites have few colours; over 255 (with a transparent index) Pillow's
    quantiser picks the palette instead, and the GIF is no longer exact.
    """
    stack = np.stack(list(frames))
    clear = stack[..., 3] < 128
    rgb = stack[..., :3].reshape(-1, 3)
    keys = (rgb[:, 0].astype(np.int32) << 16) | (rgb[:, 1].astype(np.int32) << 8) | rgb[:, 2]
    keys = np.where(clear.reshape(-1), -1, keys)
    colours, inverse = np.unique(keys, return_inverse=True)
    has_clear = bool(colours.size and colours[0] == -1)
    if colours.size - has_clear > 255:  # index 0 is kept for transparency even when unused
        whole = Image.fromarray(np.ascontiguousarray(stack.reshape(-1, stack.shape[2], 4)[..., :3]), "RGB")
        quant = whole.quantize(255, dither=Image.Dither.NONE)
        index = np.asarray(quant, dtype=np.uint8).reshape(stack.shape[:3]).astype(np.int64) + 1
        index[clear] = 0
        palette = [0, 0, 0, *(quant.getpalette() or [])[: 255 * 3]]
    else:
        index = inverse.reshape(stack.shape[:3])
        if not has_clear:
            index = index + 1  # keep index 0 for transparency even when unused
        palette = [0, 0, 0]
        for key in colours[1:] if has_clear else colours:
            palette += [int(key) >> 16 & 255, int(key) >> 8 & 255, int(key) & 255]
    palette += [0] * (768 - len(palette))
    out = []
    for plane in index:
        img = Image.fromarray(plane.astype(np.uint8), "P")
        img.putpalette(palette)
        out.append(img)
    return out


def gif_limits(frames: Sequence[np.ndarray]) -> list[str]:
    """What a GIF of these frames loses, one phrase each (empty when the GIF is exact).

    GIF has one palette of 256 entries (one kept for transparency) and on/off alpha, so
    more colours are quantised and partial alpha is cut at 128 (see ``_gif_frames``).
    """
    if not frames:
        return []
    stack = np.stack(list(frames))
    alpha = stack[..., 3]
    clear = alpha < 128
    rgb = stack[..., :3][~clear].reshape(-1, 3).astype(np.int32)
    n_colours = int(distinct((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).size)
    lost = []
    if n_colours > 255:  # index 0 of the 256 is kept for transparency (see _gif_frames)
        lost.append(f"{n_colours} colours quantised to 255 (a GIF palette holds 255 and transparency)")
    partial = int(((alpha > 0) & (alpha < 255)).sum())
    if partial:
        lost.append(f"partial alpha of {partial:,} pixels made on/off (GIF transparency is binary)")
    return lost


def save_animation(path: str | os.PathLike[str], frames: Sequence[np.ndarray], durations_ms: Sequence[int],
                   loop: int | None, fmt: str) -> Path:
    """Write an animated GIF or WebP (``fmt`` "gif" or "webp") atomically.

    WebP is lossless with full alpha; GIF has one shared palette, binary transparency and
    durations in 10 ms steps (``gif_limits`` says what a GIF loses).  Every frame is written,
    a held frame (identical to the one before it) included, so the files have the frames and
    durations of the PNG folder and the sheet: Pillow's writers and libwebp's animation
    encoder merge such a frame into the one before it, so the containers are assembled here
    around the frames Pillow encodes.
    """
    if not frames:
        raise ValueError("an animation needs at least one frame")
    durations = [max(0, int(d)) for d in durations_ms]
    if len(durations) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(durations)} durations")

    def write(tmp: Path) -> None:
        if fmt == "gif":
            _write_gif(tmp, _gif_frames(frames), durations, loop)
        elif fmt == "webp":
            # WebP has no "play once but unspecified": a GIF without a loop count plays once.
            _write_webp(tmp, frames, durations, 1 if loop is None else int(loop))
        else:
            raise ValueError(f"unknown animation format {fmt!r}; expected gif or webp")

    return atomic_write(path, write)


def _write_gif(tmp: Path, images: Sequence[Image.Image], durations: Sequence[int], loop: int | None) -> None:
    """A GIF89a of full-canvas frames sharing the global palette of ``_gif_frames`` (index 0
    transparent, disposal 2), each frame's LZW data from Pillow's ``GifImagePlugin.getdata``."""
    from PIL import GifImagePlugin

    width, height = images[0].size
    palette = bytes((images[0].getpalette() or [])[:768]).ljust(768, b"\0")
    with open(tmp, "wb") as fp:
        # Logical screen: global table of 256 entries (0x80 | 7), background index 0.
        fp.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + palette)
        if loop is not None:
            fp.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", min(int(loop), 0xFFFF)) + b"\0")
        for image, ms in zip(images, durations):
            for chunk in GifImagePlugin.getdata(image, (0, 0), duration=ms, disposal=2, transparency=0):
                fp.write(chunk)
        fp.write(b";")


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (fourcc, payload) chunks of a RIFF/WEBP file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        fourcc, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunks.append((fourcc, data[pos + 8:pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def _write_webp(tmp: Path, frames: Sequence[np.ndarray], durations: Sequence[int], loop: int) -> None:
    """An animated WebP of full-canvas lossless frames (each a still WebP from Pillow, its
    image chunks wrapped in ANMF), written without blending so each frame replaces the last."""
    import io as _io

    height, width = frames[0].shape[:2]
    has_alpha = any(bool((f[..., 3] < 255).any()) for f in frames)
    body = b""
    for frame, ms in zip(frames, durations):
        buf = _io.BytesIO()
        to_pil(frame, keep_alpha=True).save(buf, format="WEBP", lossless=True, quality=100, method=4, exact=True)
        image = b"".join(_chunk(c, p) for c, p in _riff_chunks(buf.getvalue()) if c in (b"ALPH", b"VP8 ", b"VP8L"))
        # Offset 0,0; size; duration (24 bits); flags: bit 1 = do not blend, bit 0 = no disposal.
        header = _u24(0) + _u24(0) + _u24(width - 1) + _u24(height - 1) + _u24(min(ms, 0xFFFFFF)) + bytes([0b10])
        body += _chunk(b"ANMF", header + image)
    flags = 0x02 | (0x10 if has_alpha else 0)  # animation, alpha
    vp8x = _chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _u24(width - 1) + _u24(height - 1))
    anim = _chunk(b"ANIM", bytes([0, 0, 0, 0]) + struct.pack("<H", min(loop, 0xFFFF)))  # transparent background
    webp = b"WEBP" + vp8x + anim + body
    with open(tmp, "wb") as fp:
        fp.write(b"RIFF" + struct.pack("<I", len(webp)) + webp)


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


def count_index_entries(rgba: np.ndarray, keep_alpha: bool = True, palette: Sequence[Sequence[int]] | None = None) -> int:
    """The palette entries an indexed PNG of ``rgba`` needs (all transparent cells share one);
    with ``palette`` (``indexed_image``), its entries plus those of the cells it lacks."""
    keys = distinct(_index_keys(rgba, keep_alpha)[1])
    if palette is None or len(palette) == 0:
        return int(len(keys))
    return len(palette) + int((~np.isin(keys, _palette_keys(palette)[1])).sum())


def _palette_keys(palette: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``palette`` as opaque RGBA entries and their ``_index_keys`` keys."""
    pal = np.asarray(palette, np.uint8).reshape(-1, 3)
    pal_rgba = np.concatenate([pal, np.full((len(pal), 1), 255, np.uint8)], axis=1)
    key: np.ndarray = pal_rgba.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.uint32)
    return pal_rgba, key


def indexed_image(rgba: np.ndarray, keep_alpha: bool = True, palette: Sequence[Sequence[int]] | None = None) -> Image.Image | None:
    """``rgba`` as a mode-P image, or None over 256 colours.

    With ``palette`` (RGB colours, e.g. a palette file's) the PNG palette is that palette in its
    order, unused entries included, so that index i is the same colour in every file written
    with it; the cells it lacks (transparency, partial alpha, an off-palette colour) get entries
    after it.  Without one, or when that would need over 256 entries, the entries are the
    image's own colours in order of first appearance (reading order).
    With ``keep_alpha`` each entry carries its alpha (a tRNS chunk) so transparency survives;
    fully transparent cells share one entry whatever RGB they hide.
    """
    flat, key = _index_keys(rgba, keep_alpha)
    keys, first, index = np.unique(key, return_index=True, return_inverse=True)
    index = index.reshape(-1)
    ordered = _palette_order(flat, keys, first, palette)
    if ordered is not None:
        slot, entries = ordered
    else:
        if len(keys) > MAX_INDEXED_COLORS:
            return None
        # Entries in order of first appearance (reading order), so the palette is stable and readable.
        order = np.argsort(first, kind="stable")
        slot = np.empty(len(order), np.int64)
        slot[order] = np.arange(len(order))
        entries = flat[first[order]]
    img = Image.fromarray(slot[index].astype(np.uint8).reshape(rgba.shape[:2]), "P")
    img.putpalette(entries[:, :3].reshape(-1).tobytes(), rawmode="RGB")
    if keep_alpha and bool((entries[:, 3] < 255).any()):
        img.info["transparency"] = entries[:, 3].tobytes()
    return img


def _palette_order(flat: np.ndarray, keys: np.ndarray, first: np.ndarray,
                   palette: Sequence[Sequence[int]] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """For ``indexed_image``: each distinct key's entry and the entries (RGBA), ``palette``
    first in its order; None without a palette or when the entries would not fit."""
    if palette is None or len(palette) == 0:
        return None
    pal_rgba, pal_key = _palette_keys(palette)
    uniq, at = np.unique(pal_key, return_index=True)  # a repeated entry: its first position
    pos = np.clip(np.searchsorted(uniq, keys), 0, len(uniq) - 1)
    found = uniq[pos] == keys
    extra = np.flatnonzero(~found)
    extra = extra[np.argsort(first[extra], kind="stable")]  # in order of first appearance
    if len(pal_rgba) + len(extra) > MAX_INDEXED_COLORS:
        return None
    slot = np.where(found, at[pos], 0).astype(np.int64)
    slot[extra] = len(pal_rgba) + np.arange(len(extra))
    entries = np.concatenate([pal_rgba, flat[first[extra]]]) if len(extra) else pal_rgba
    return slot, entries


def save_png_indexed(path: str | os.PathLike[str], rgba: np.ndarray, keep_alpha: bool = True,
                     palette: Sequence[Sequence[int]] | None = None) -> Path | None:
    """Write an indexed (mode P) PNG atomically (``indexed_image``); None (nothing written) over 256 colours."""
    img = indexed_image(rgba, keep_alpha, palette)
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
