"""The agent's corrected clock (CONSISTENCY.md "Time").

Before the first snapshot the agent samples directory mtimes and sets
``drift = p99(directory mtimes) - agent_now``; it refines the drift later
from its own fresh writes (close-after-write events carry the storage's
mtime of a write that just happened). Every component of the agent uses
``now() = time.time() + drift``; event ``index`` is that in milliseconds.
"""

from __future__ import annotations

import os
import stat as _stat
import time
from collections import deque

#: A p99 further than this from the agent's clock says nothing about the
#: storage clock (a quiet tree's newest directory may be days old).
MAX_PRESCAN_DRIFT = 3600.0


class CorrectedClock:
    def __init__(self, drift: float = 0.0) -> None:
        self.drift = drift
        self._samples: deque[float] = deque(maxlen=255)

    def now(self) -> float:
        return time.time() + self.drift

    def index_ms(self) -> int:
        return int(self.now() * 1000)

    def prescan(self, root: bytes, max_dirs: int = 10_000) -> float:
        """Set the drift from directory mtimes (breadth first, at most ``max_dirs``)."""
        mtimes = []
        queue = deque([root])
        while queue and len(mtimes) < max_dirs:
            d = queue.popleft()
            try:
                with os.scandir(d) as it:
                    for e in it:
                        try:
                            st = e.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if _stat.S_ISDIR(st.st_mode):
                            mtimes.append(st.st_mtime)
                            queue.append(e.path)
            except OSError:
                continue
        if not mtimes:
            return self.drift
        mtimes.sort()
        p99 = mtimes[min(len(mtimes) - 1, int(len(mtimes) * 0.99))]
        drift = p99 - time.time()
        self.drift = drift if abs(drift) <= MAX_PRESCAN_DRIFT and drift > 0 else 0.0
        return self.drift

    def observe_write(self, mtime: float) -> None:
        """A fresh write's storage mtime, seen right after it happened."""
        sample = mtime - time.time()
        if abs(sample) > MAX_PRESCAN_DRIFT:
            return
        self._samples.append(sample)
        if len(self._samples) >= 5:
            ordered = sorted(self._samples)
            self.drift = ordered[len(ordered) // 2]
