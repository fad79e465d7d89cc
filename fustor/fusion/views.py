"""A view at run time: its engine, who leads it, whether it is ready."""

from __future__ import annotations

from typing import Any

from fustor.core import gcpolicy
from fustor.views.fs import FSView, FSViewConfig

from .session import Leadership, RateMeter


class ViewRuntime:
    def __init__(self, view_id: str, config: FSViewConfig, clock: Any) -> None:
        self.view_id = view_id
        self.view = FSView(view_id, config, clock)
        self.view.gc_policy = gcpolicy.DEFAULT
        self.leadership = Leadership()
        self.pipes: list[Any] = []  # FusionPipes feeding this view
        self.ready = False
        self.ready_at: float | None = None
        self.events = RateMeter()

    @property
    def config(self) -> FSViewConfig:
        return self.view.config

    def pending(self) -> int:
        return sum(p.pending for p in self.pipes)

    def not_ready_reason(self) -> str | None:
        if self.ready:
            return None
        leader = self.leadership.leader
        if leader is None:
            return "no agent session leads this view yet: waiting for its first snapshot"
        if not self.view.snapshot_ended:
            return f"the first snapshot is running ({self.view.rows_applied} rows so far)"
        return f"draining queued events ({self.pending()} batches)"

    def check_ready(self) -> bool:
        if not self.ready and self.view.snapshot_ended and self.pending() == 0:
            self.ready = True
            self.ready_at = self.view.clock.wall()
        return self.ready

    def reset(self) -> None:
        self.view.reset()
        self.ready = False
        self.ready_at = None
