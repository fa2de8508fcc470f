"""The run manifest (``OUT/manifest.jsonl``): which inputs are done, for ``--resume``.

One JSON line per finished image, appended by the driver *after* the image's output set was
renamed into place and its metrics row written:

``{"input": path, "size": bytes, "mtime_ns": ns, "sha256": hex, "params": hex, "stem": stem,
"status": "ok"|"error", "outputs": {kind: path}, "error": text|null, "finished": iso,
"files": [path, ...]}``

An image counts as done when the manifest has an ``ok`` record for the same input content
(sha256, trusted without rereading while size and mtime are unchanged) and the same
parameters key (every option that shapes the output files), and all of its outputs exist.
An animation's ``frames`` output is a folder: ``files`` lists every frame file it holds, and
each must still exist (a record with a folder and no ``files``, from an older version, is
redone).  A ``--frames`` input is a folder too: its stamp covers its frame files (names, sizes,
contents; ``folder_stamp``) and is always recomputed, since a folder's own size and mtime say
nothing about its frames' content.
Anything else - a failure, a changed file or option, a missing output, an image the run
died on - is redone.  The manifest also names every output ever written, so a later run never
takes an earlier run's outputs for inputs (``--out`` equal to the input folder).

Torn last lines (a crash mid-append) are ignored on reading and cut off before appending.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST_NAME = "manifest.jsonl"
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def params_key(shaping: dict[str, object]) -> str:
    """A stable hash of the options that shape the output files."""
    text = json.dumps(shaping, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class InputStamp:
    """What the manifest knows of an input file's content."""

    size: int
    mtime_ns: int
    sha256: str


def stamp(path: str | os.PathLike[str]) -> InputStamp:
    if os.path.isdir(path):
        return folder_stamp(path)
    st = os.stat(path)
    return InputStamp(st.st_size, st.st_mtime_ns, file_sha256(path))


def folder_stamp(path: str | os.PathLike[str]) -> InputStamp:
    """A ``--frames`` folder's stamp: its frame files (those ``load_frame_folder`` reads) in
    natural order, each by name, size and SHA-256; size is their total, mtime the newest.
    Raises OSError when the folder or a frame cannot be read."""
    from .core.io import ImageLoadError, frame_files

    try:
        files = frame_files(Path(path))
    except ImageLoadError as exc:
        raise OSError(str(exc)) from None
    digest = hashlib.sha256()
    total = newest = 0
    for f in files:
        st = os.stat(f)
        total += st.st_size
        newest = max(newest, st.st_mtime_ns)
        digest.update(os.fsencode(f.name) + b"\0" + str(st.st_size).encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return InputStamp(total, newest, digest.hexdigest())


@dataclass
class Record:
    input: str
    size: int
    mtime_ns: int
    sha256: str
    params: str
    stem: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    finished: str = ""
    # Files inside folder outputs (an animation's frames), each of which must exist.
    files: list[str] = field(default_factory=list)

    def as_line(self) -> str:
        # ensure_ascii: names that are not valid UTF-8 survive as \udcxx escapes and read back.
        return json.dumps(asdict(self), ensure_ascii=True) + "\n"


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(path))


class Manifest:
    """The records of ``OUT/manifest.jsonl`` (the last one per input wins)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, Record] = {}
        self.output_paths: set[str] = set()
        self.warnings: list[str] = []

    @classmethod
    def load(cls, path: Path) -> Manifest:
        manifest = cls(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return manifest
        except OSError as exc:
            manifest.warnings.append(f"{path}: cannot read the run manifest ({exc.strerror or exc}); nothing is skipped")
            return manifest
        bad = 0
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                record = Record(**obj)
            except (ValueError, TypeError):
                bad += 1
                continue
            manifest.add(record)
        if bad:
            manifest.warnings.append(f"{path}: {bad} unreadable line(s) ignored")
        return manifest

    def add(self, record: Record) -> None:
        self.records[_key(record.input)] = record
        self.output_paths.update(_key(p) for p in record.outputs.values())
        self.output_paths.update(_key(p) for p in record.files)

    def is_output(self, path: str | os.PathLike[str]) -> bool:
        return _key(path) in self.output_paths

    def done(self, path: str | os.PathLike[str], params: str, stem: str) -> Record | None:
        """The ``ok`` record that makes ``path`` done with these parameters, else None."""
        record = self.records.get(_key(path))
        if record is None or record.status != "ok" or record.params != params or record.stem != stem:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if os.path.isdir(path):
            # A folder of frames: its own stat says nothing of its frames, so they are rehashed.
            try:
                if stamp(path).sha256 != record.sha256:
                    return None
            except OSError:
                return None
        elif (st.st_size, st.st_mtime_ns) != (record.size, record.mtime_ns):
            # Touched or copied: the content decides.
            if st.st_size != record.size:
                return None
            try:
                if file_sha256(path) != record.sha256:
                    return None
            except OSError:
                return None
        # An animation's set holds a folder of frames beside its files: every frame must be there.
        folders = [p for p in record.outputs.values() if os.path.isdir(p)]
        if not all(os.path.isfile(p) or os.path.isdir(p) for p in record.outputs.values()):
            return None
        if folders and not record.files:
            return None  # an older record that does not say what the folder held
        if not all(os.path.isfile(p) for p in record.files):
            return None
        return record

    def append(self, records: Iterable[Record]) -> None:
        """Append records as whole lines (one write, under an exclusive lock of the file).

        Not fsynced: a line lost to a power cut only means that image is redone on --resume.
        """
        records = list(records)
        data = "".join(r.as_line() for r in records).encode("ascii")
        if not data:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A torn line from a crash: cut back to the last whole line.
                head = os.pread(fd, size, 0)
                size = head.rfind(b"\n") + 1
                os.ftruncate(fd, size)
            try:
                if os.write(fd, data) != len(data):
                    raise OSError(28, "short write (disk full?)")
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        for record in records:
            self.add(record)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
