"""Keypress → image benchmark for ``perfecter tui``, through the real renderer and a real pty.

Runs ``perfecter tui IMAGE -g sixel --no-ml`` in a pseudo-terminal sized like xterm (cells of
8x17 pixels, reported through TIOCGWINSZ), types keys into it and times, for each key, the
moment the last byte of the resulting screen update arrives (the Sixel panes included) — what
a terminal would receive — and how many bytes and Sixel images that update carried.  The
terminal's own decoding time is not included (it depends on the terminal).

    PYTHONPATH=src .venv/bin/python tests/tui/latency_bench.py [--size 1024] [--cols 200 --rows 60] [--repeat 3]

It prints one line per kind of key (re-run, cached flip, zoom, pan, view toggle) with the
median / p95 latency, the median bytes per update and how many panes were re-sent.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

CELL = (8, 17)  # xterm with DejaVu Sans Mono 10 pt
QUIET = 0.6  # seconds without output that end an update

KEYS = {
    "=": b"=", "-": b"-", "1": b"1", "shift+right": b"\x1b[1;2C", ",": b",", ".": b".",
    "z": b"z", "Z": b"Z", "right": b"\x1b[C", "left": b"\x1b[D", "g": b"g", "h": b"h", "q": b"q",
}


def make_image(path: Path, size: int) -> None:
    import numpy as np

    from pixelperfecter.core import synth
    from pixelperfecter.core.io import save_png

    rng = np.random.default_rng(7)
    deg = synth.Degradation(cell_w=10.6, cell_h=10.6, offset_x=3.2, offset_y=7.1, blur_sigma=1.0, noise_sigma=3.0,
                            halo_amount=0.4, texture_amp=2.0, jpeg_quality=85)
    case = synth.degrade(lambda cx, cy: synth.random_sprite(rng, cx, cy), deg, size, size, rng)
    save_png(path, case.image, keep_alpha=False)


class Terminal:
    """A child process on a pty and a thread that timestamps everything it writes."""

    def __init__(self, argv: list[str], cols: int, rows: int, cwd: Path, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, cols * CELL[0], rows * CELL[1]))
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.alive = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while self.alive:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 1 << 20)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            with self.lock:
                self.chunks.append((now, data))

    def mark(self) -> int:
        with self.lock:
            return len(self.chunks)

    def since(self, index: int) -> list[tuple[float, bytes]]:
        with self.lock:
            return self.chunks[index:]

    def wait_quiet(self, index: int, quiet: float = QUIET, timeout: float = 30.0) -> list[tuple[float, bytes]]:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            time.sleep(0.02)
            chunks = self.since(index)
            last = chunks[-1][0] if chunks else start
            if chunks and time.perf_counter() - last > quiet:
                return chunks
            if not chunks and time.perf_counter() - start > 3 * quiet:
                return []
        return self.since(index)

    def send(self, data: bytes) -> float:
        t0 = time.perf_counter()
        os.write(self.fd, data)
        return t0

    def close(self) -> None:
        try:
            os.write(self.fd, b"q")
            time.sleep(0.5)
        except OSError:
            pass
        self.alive = False
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


def summarize(name: str, samples: list[tuple[float, int, int]]) -> str:
    ms = sorted(s[0] * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    nbytes = statistics.median(s[1] for s in samples)
    panes = statistics.median(s[2] for s in samples)
    return (f"{name:<12} n={len(ms):<3} median {statistics.median(ms):6.0f} ms  p95 {p95:6.0f} ms  "
            f"bytes/update {nbytes / 1024:7.1f} KiB  sixel panes re-sent {panes:g}")


def run(size: int, cols: int, rows: int, repeat: int, perfecter: str, source: Path | None = None) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if source is not None:
            image = work / source.name
            image.write_bytes(source.read_bytes())
            from PIL import Image

            size = max(Image.open(image).size)
        else:
            image = work / f"bench_{size}.png"
            make_image(image, size)
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
        env.pop("TMUX", None)
        term = Terminal([perfecter, "tui", str(image), "-g", "sixel", "--no-ml"], cols, rows, work, env)
        try:
            started = time.perf_counter()
            first = term.wait_quiet(0, quiet=1.5, timeout=60)
            first_image = next((t for t, data in first if b"\x1bP" in data), None)
            label = f"{image.name}" if source is not None else f"{size}x{size} synthetic"
            lines = [f"[{label}, {cols}x{rows} cells of {CELL[0]}x{CELL[1]} px, sixel] first image "
                     f"{(first_image - started) if first_image else float('nan'):.2f} s after launch"]
            groups: dict[str, list[tuple[float, int, int]]] = {}

            def press(kind: str, key: str) -> None:
                index = term.mark()
                t0 = term.send(KEYS[key])
                chunks = term.wait_quiet(index)
                if not chunks:
                    return
                data = b"".join(c[1] for c in chunks)
                groups.setdefault(kind, []).append((chunks[-1][0] - t0, len(data), data.count(b"\x1bP")))

            for _ in range(repeat):
                for key in ("=", "=", "-", "1", "1", "shift+right"):
                    press("re-run", key)  # the first "=" of a repeat may be cached from the last one
                for key in (",", ".", ",", "."):
                    press("cached flip", key)
                for key in ("g", "g", "h", "h"):
                    press("view toggle", key)
                press("zoom", "z")
                for key in ("right", "left"):
                    press("pan", key)
                press("zoom", "Z")
            for kind, samples in groups.items():
                lines.append(summarize(kind, samples))
            return lines
        finally:
            term.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cols", type=int, default=200)
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--image", type=Path, default=None, help="a real image instead of the synthetic one")
    parser.add_argument("--perfecter", default=str(Path(sys.executable).with_name("perfecter")))
    args = parser.parse_args(argv)
    for line in run(args.size, args.cols, args.rows, args.repeat, args.perfecter, args.image):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
