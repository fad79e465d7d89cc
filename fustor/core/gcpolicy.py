"""Keeping Python's cyclic collector from pausing a big view.

A view holds millions of long-lived nodes. They are freed by reference
counting (the tree breaks its own parent/child cycles on removal), so the
cyclic collector has nothing to find among them, yet a full collection
walks all of them: at a million nodes, pauses of hundreds of milliseconds.
:class:`FreezePolicy` moves everything allocated so far into the permanent
generation (``gc.freeze()``, O(1)) each time another ``every`` rows were
ingested (10,000: about every ten batches; every 100,000 still left
60-80 ms pauses at a million entries), so a full collection only walks what is young. Objects frozen this
way are never collected as cycles; that is why only code that frees its own
cycles (the view) should drive it.
"""

from __future__ import annotations

import gc


class FreezePolicy:
    def __init__(self, every: int = 10_000, threshold0: int = 10_000) -> None:
        self.every = every
        self._since = 0
        self.freezes = 0
        self.threshold0 = threshold0

    def install(self) -> None:
        """Collect young objects less often (gen0 threshold); older gens as usual."""
        _, t1, t2 = gc.get_threshold()
        gc.set_threshold(self.threshold0, t1, t2)

    def added(self, n: int) -> None:
        self._since += n
        if self._since >= self.every:
            self._since = 0
            gc.freeze()
            self.freezes += 1


#: The process-wide policy fusion (and the benchmarks that stand for it) use.
DEFAULT = FreezePolicy()
