"""The demo's sample tree and the writer that keeps it changing.

Layout of a data archive: ``upload/submit/{c1}/{c2}/{uuid}/sub_N/data_NNNN.dat``,
where ``c1``/``c2`` are the first two pairs of hex digits of the upload's
uuid. The initial uploads are hours to days old (complete); the writer starts
new uploads, writes their files chunk by chunk under a ``.part`` name and
renames them when done, now and then deletes a file, renames a directory or
removes an old upload.

Sizes look real without using the disk: when the filesystem makes holes,
files are grown with ``truncate`` (sparse) after a small real write.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CHUNK = 64 * 1024


def supports_sparse(folder: Path) -> bool:
    probe = folder / ".sparse-probe"
    try:
        with open(probe, "wb") as f:
            f.truncate(8 * MiB)
        blocks = os.stat(probe).st_blocks * 512
        return blocks < MiB
    except OSError:
        return False
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


@dataclass
class Upload:
    path: Path
    subs: list[Path] = field(default_factory=list)
    to_write: list[Path] = field(default_factory=list)  # final names still to write
    part: Path | None = None  # the file being written (its .part name)
    handle: Any = None  # kept open while the file is written: an open file stays suspect
    chunks_left: int = 0


class SampleTree:
    def __init__(self, root: Path, *, seed: int | None = None) -> None:
        self.root = Path(root)
        self.base = self.root / "upload" / "submit"
        self.rng = random.Random(seed)
        self.sparse = False
        self.complete: list[Upload] = []
        self.active: list[Upload] = []
        self.counts = {"uploads": 0, "files": 0, "appends": 0, "renames": 0, "deletes": 0}

    # --- the initial tree -------------------------------------------------------

    def _upload_dir(self) -> Path:
        u = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return self.base / u.hex[:2] / u.hex[2:4] / str(u)

    def _size(self) -> int:
        # Mostly tens to hundreds of MiB, a few GiB-sized files.
        mib = self.rng.lognormvariate(4.0, 1.3) if self.sparse else self.rng.uniform(0.01, 0.2)
        return max(1024, int(mib * MiB))

    def _write_file(self, path: Path, size: int) -> None:
        with open(path, "wb") as f:
            f.write(os.urandom(min(size, 4096)))
            if size > 4096:
                if self.sparse:
                    f.truncate(size)
                else:
                    f.write(bytes(size - 4096))

    def build(self, uploads: int = 40) -> int:
        """Write the initial tree (aged hours to days); the number of files."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.base.mkdir(parents=True, exist_ok=True)
        self.sparse = supports_sparse(self.root)
        now = time.time()
        n_files = 0
        for _ in range(uploads):
            up = Upload(self._upload_dir())
            born = now - self.rng.uniform(3600, 3 * 86400)
            for s in range(1, self.rng.randint(1, 3) + 1):
                sub = up.path / f"sub_{s}"
                sub.mkdir(parents=True)
                up.subs.append(sub)
                for i in range(1, self.rng.randint(2, 6) + 1):
                    f = sub / f"data_{i:04d}.dat"
                    self._write_file(f, self._size())
                    t = born + self.rng.uniform(0, 600)
                    os.utime(f, (t, t))
                    n_files += 1
                os.utime(sub, (born + 600, born + 600))
            os.utime(up.path, (born + 600, born + 600))
            self.complete.append(up)
        old = now - 3 * 86400
        for d in sorted(self.base.rglob("*"), key=lambda p: -len(p.parts)):
            if d.is_dir() and len(d.relative_to(self.base).parts) <= 2:
                os.utime(d, (old, old))
        return n_files

    # --- the writer -------------------------------------------------------------

    def step(self) -> str:
        """One change; a word for what it was."""
        r = self.rng.random()
        if not self.active or (len(self.active) < 3 and r < 0.08):
            return self._start_upload()
        if r < 0.04 and self.complete:
            return self._delete_file()
        if r < 0.06 and len(self.complete) > 30:
            return self._remove_upload()
        if r < 0.08 and self.complete:
            return self._rename_dir()
        return self._advance(self.rng.choice(self.active))

    def _start_upload(self) -> str:
        up = Upload(self._upload_dir())
        for s in range(1, self.rng.randint(1, 2) + 1):
            up.subs.append(up.path / f"sub_{s}")
            for i in range(1, self.rng.randint(2, 4) + 1):
                up.to_write.append(up.path / f"sub_{s}" / f"data_{i:04d}.dat")
        up.path.mkdir(parents=True)
        self.active.append(up)
        self.counts["uploads"] += 1
        return "upload"

    def _advance(self, up: Upload) -> str:
        if up.part is None:
            if not up.to_write:
                self.active.remove(up)
                self.complete.append(up)
                return "done"
            final = up.to_write[0]
            final.parent.mkdir(parents=True, exist_ok=True)
            up.part = final.with_name(final.name + ".part")
            up.handle = open(up.part, "wb")
            up.chunks_left = self.rng.randint(3, 10)
            self._append(up)
            self.counts["files"] += 1
            return "create"
        if up.chunks_left > 0:
            up.chunks_left -= 1
            self._append(up)
            self.counts["appends"] += 1
            return "append"
        final = up.to_write.pop(0)
        up.handle.close()
        up.handle = None
        os.rename(up.part, final)
        up.part = None
        self.counts["renames"] += 1
        return "rename"

    def _append(self, up: Upload) -> None:
        f = up.handle
        if self.sparse:  # grow by a hole, then write the chunk after it
            f.seek(self.rng.randint(1, 64) * MiB, os.SEEK_CUR)
        f.write(os.urandom(CHUNK))
        f.flush()

    def close(self) -> None:
        """Close the files still being written."""
        for up in self.active:
            if up.handle is not None:
                up.handle.close()
                up.handle = None

    def _delete_file(self) -> str:
        up = self.rng.choice(self.complete)
        files = [p for p in up.path.rglob("*.dat") if p.is_file()]
        if len(files) <= 1:
            return self._remove_upload(up)
        self.rng.choice(files).unlink()
        self.counts["deletes"] += 1
        return "delete"

    def _remove_upload(self, up: Upload | None = None) -> str:
        up = up or self.complete[0]
        self.complete.remove(up)
        shutil.rmtree(up.path, ignore_errors=True)
        self.counts["deletes"] += 1
        return "remove"

    def _rename_dir(self) -> str:
        up = self.rng.choice(self.complete)
        subs = [p for p in up.path.iterdir() if p.is_dir()] if up.path.is_dir() else []
        if not subs:
            return self._remove_upload(up)
        src = self.rng.choice(subs)
        nums = [int(p.name[4:]) for p in subs if p.name.startswith("sub_") and p.name[4:].isdigit()]
        os.rename(src, up.path / f"sub_{max(nums, default=0) + 1}")
        self.counts["renames"] += 1
        return "rename"
