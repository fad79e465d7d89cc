"""fustor.core.clock: the storage-time watermark (LogicalClock)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fustor.core.clock import FRESH_WRITE_WINDOW_S, LogicalClock, SystemClock


class FakeNow:
    """An injected ``now`` that only moves when told."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def with_skews(clock: LogicalClock, now: FakeNow, *skews: float) -> None:
    """Observe one write per skew: an mtime that lags ``now`` by that many seconds."""
    for s in skews:
        assert clock.observe(now.t - s) is True


def test_no_samples_means_no_skew_and_watermark_follows_now():
    now = FakeNow(500.0)
    clock = LogicalClock(now)
    assert clock.skew == 0
    assert clock.sample_count == 0
    assert clock.watermark() == 500.0
    now.t = 512.25
    assert clock.watermark() == 512.25


def test_skew_is_the_mode_of_samples():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, 3, 7, 3, 7, 3, 11)
    assert clock.skew == 3
    assert clock.sample_count == 6
    assert clock.watermark() == now.t - 3


def test_skews_are_rounded_to_whole_seconds():
    now = FakeNow()
    clock = LogicalClock(now)
    # 4.8, 5.2 and 5.4 all land in the 5 s bin and outvote two samples at 2.
    with_skews(clock, now, 2, 2, 4.8, 5.2, 5.4)
    assert clock.skew == 5


def test_negative_skew_when_storage_clock_is_ahead():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, -4, -4, 1)
    assert clock.skew == -4
    assert clock.watermark() == now.t + 4


def test_watermark_tracks_now_with_constant_skew():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, 2)
    for step in (0.5, 10.0, 3600.0):
        now.t += step
        assert clock.watermark() == now.t - 2


@pytest.mark.parametrize(
    "skews,expected",
    [
        ((5, 2), 2),
        ((2, 5), 2),
        ((9, 9, 4, 4), 4),
        ((-1, 1), -1),
        ((3, 0), 0),
        ((0, -3), -3),
        ((8, 6, 7), 6),
    ],
)
def test_ties_go_to_the_smaller_skew(skews, expected):
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, *skews)
    assert clock.skew == expected


@given(st.lists(st.integers(min_value=-100, max_value=100), min_size=1, max_size=60))
def test_skew_matches_reference_mode(skews):
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, *skews)
    counts = {s: skews.count(s) for s in skews}
    top = max(counts.values())
    assert clock.skew == min(s for s, c in counts.items() if c == top)


def test_skew_is_recomputed_after_new_samples():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, 1)
    assert clock.skew == 1  # caches the mode
    with_skews(clock, now, 6, 6)
    assert clock.skew == 6


def test_window_evicts_oldest_samples():
    now = FakeNow()
    clock = LogicalClock(now, window=4)
    with_skews(clock, now, 5, 5, 5, 5)
    assert clock.skew == 5
    with_skews(clock, now, 9, 9)
    # window: 5 5 9 9 -> tie, the smaller wins
    assert clock.skew == 5
    assert clock.sample_count == 4
    with_skews(clock, now, 9)
    # window: 5 9 9 9: the old 5s have rolled out
    assert clock.skew == 9
    with_skews(clock, now, 9)
    assert clock.skew == 9
    assert clock.sample_count == 4


@given(
    st.integers(min_value=1, max_value=12),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=50),
)
def test_window_mode_equals_mode_of_last_samples(window, skews):
    now = FakeNow()
    clock = LogicalClock(now, window=window)
    with_skews(clock, now, *skews)
    last = skews[-window:]
    assert clock.sample_count == len(last)
    if not last:
        assert clock.skew == 0
        return
    counts = {s: last.count(s) for s in last}
    top = max(counts.values())
    assert clock.skew == min(s for s, c in counts.items() if c == top)


def test_window_of_one_follows_the_last_sample():
    now = FakeNow()
    clock = LogicalClock(now, window=1)
    with_skews(clock, now, 3)
    assert clock.skew == 3
    with_skews(clock, now, 8)
    assert clock.skew == 8
    assert clock.sample_count == 1


@pytest.mark.parametrize("window", [0, -1])
def test_window_must_be_positive(window):
    with pytest.raises(ValueError):
        LogicalClock(FakeNow(), window=window)


def test_single_outlier_does_not_move_watermark():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, *[2] * 20)
    before = clock.watermark()
    with_skews(clock, now, 3600)  # one host with a clock an hour off
    assert clock.skew == 2
    assert clock.watermark() == before


def test_observe_refuses_future_mtime_relative_to_agent_clock():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, 4)
    agent_now = now.t - 4
    future = agent_now + FRESH_WRITE_WINDOW_S + 1  # touch -d tomorrow-ish
    assert clock.observe(future, agent_now=agent_now) is False
    assert clock.sample_count == 1
    assert clock.skew == 4


def test_observe_refuses_old_mtime_relative_to_agent_clock():
    now = FakeNow()
    clock = LogicalClock(now)
    agent_now = now.t
    restored = agent_now - 86_400 * 365  # cp -p / tar -x of a year-old file
    assert clock.observe(restored, agent_now=agent_now) is False
    assert clock.sample_count == 0
    assert clock.skew == 0
    assert clock.watermark() == now.t


def test_observe_accepts_mtime_inside_fresh_window():
    now = FakeNow()
    clock = LogicalClock(now)
    agent_now = now.t - 30
    assert clock.observe(agent_now + FRESH_WRITE_WINDOW_S, agent_now=agent_now) is True
    assert clock.observe(agent_now - FRESH_WRITE_WINDOW_S, agent_now=agent_now) is True
    assert clock.sample_count == 2
    assert clock.observe(agent_now, agent_now=agent_now) is True
    assert clock.observe(agent_now, agent_now=agent_now) is True
    assert clock.sample_count == 4
    # The skew is measured against fusion's now, not the agent's.
    assert clock.skew == 30


def test_reset_forgets_samples():
    now = FakeNow()
    clock = LogicalClock(now, window=3)
    with_skews(clock, now, 7, 7, 7)
    assert clock.skew == 7
    clock.reset()
    assert clock.sample_count == 0
    assert clock.skew == 0
    assert clock.watermark() == now.t
    # Old counts must not leak into the mode after a reset.
    with_skews(clock, now, 7, 2, 2)
    assert clock.skew == 2
    with_skews(clock, now, 7)
    # window: 2 2 7
    assert clock.skew == 2


def test_reset_before_reading_skew():
    now = FakeNow()
    clock = LogicalClock(now)
    with_skews(clock, now, 5)
    clock.reset()  # samples changed but skew never read
    assert clock.skew == 0


def test_system_clock_reads_real_time():
    c = SystemClock()
    assert abs(c.wall() - time.time()) < 5
    a = c.monotonic()
    assert c.monotonic() >= a
