"""On-demand scan jobs (C14): a job id per scan sent to a view's leader."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(eq=False)
class Job:
    job_id: str
    view_id: str
    path: str
    session_id: str | None
    created_wall: float
    state: str = "pending"  # pending, complete, failed
    completed_wall: float | None = None
    rows: int = 0
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_dict(self) -> dict:
        return {
            "job_id": self.job_id, "view": self.view_id, "path": self.path, "session_id": self.session_id,
            "state": self.state, "created_at": self.created_wall, "completed_at": self.completed_wall,
            "rows": self.rows, "error": self.error,
        }  # fmt: skip


class Jobs:
    def __init__(self, keep: int = 1000) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep
        self._ids = itertools.count(1)

    def create(self, view_id: str, path: str, session_id: str | None, now: float) -> Job:
        job = Job(f"job-{next(self._ids)}-{secrets.token_hex(3)}", view_id, path, session_id, now)
        self._jobs[job.job_id] = job
        while len(self._jobs) > self._keep:
            self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def finish(self, job: Job, now: float, error: str | None = None) -> None:
        if job.state != "pending":
            return
        job.state = "failed" if error else "complete"
        job.error = error
        job.completed_wall = now
        job.done.set()

    def fail_session(self, session_id: str, now: float, reason: str) -> None:
        for job in self._jobs.values():
            if job.session_id == session_id and job.state == "pending":
                self.finish(job, now, reason)

    def recent(self, n: int = 20) -> list[dict]:
        return [j.to_dict() for j in list(self._jobs.values())[-n:]]
