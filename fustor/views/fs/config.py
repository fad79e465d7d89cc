"""Per-view settings (``views-config/*.yaml``); CONSISTENCY.md "Defaults"."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FSViewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hot_file_threshold: float = Field(300.0, gt=0, description="seconds a written file stays suspect")
    tombstone_ttl: float = Field(3600.0, gt=0, description="wall seconds a tombstone guards a path")
    suspect_sweep_interval: float = Field(0.5, gt=0)
    audit_interval: float = Field(600.0, gt=0)
    full_audit_every: int = Field(6, ge=1)
    sentinel_interval: float = Field(60.0, gt=0)
    sentinel_batch: int = Field(1000, ge=1)
    audit_drain_wait: float = Field(10.0, ge=0)
    skew_window: int = Field(10_000, ge=1)
    live_mode: bool = Field(False, description="drop the view's state when its last session closes")

    @model_validator(mode="after")
    def _sentinel_before_hot(self) -> "FSViewConfig":
        if self.sentinel_interval >= self.hot_file_threshold:
            raise ValueError(
                "sentinel_interval must be shorter than hot_file_threshold, or suspects "
                "expire before the sentinel can vouch for them"
            )
        return self
