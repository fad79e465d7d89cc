"""FrameTurns: big data-plane frames take turns of the event loop; control requests go first."""

from __future__ import annotations

import asyncio

from fustor.transport.server import FrameTurns


class TurnCounter:
    """Counts turns of the running loop (a callback that re-schedules itself runs once per turn)."""

    def __init__(self) -> None:
        self.turn = 0
        self._stopped = False

    def start(self) -> None:
        asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        if not self._stopped:
            self.turn += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._stopped = True


def run(coro):
    return asyncio.run(coro)


def test_frames_arriving_together_are_decoded_in_distinct_turns():
    async def main():
        turns, counter = FrameTurns(), TurnCounter()
        counter.start()
        got: list[int] = []

        async def frame():
            await turns.take()
            got.append(counter.turn)

        await asyncio.gather(*(frame() for _ in range(6)))
        counter.stop()
        return got

    got = run(main())
    assert len(got) == 6
    assert len(set(got)) == 6, got  # never two in one turn
    assert max(got) - min(got) <= 2 * 6  # and no turn is lost between them beyond the hand-over


def test_a_lone_frame_is_not_delayed():
    async def main():
        turns, counter = FrameTurns(), TurnCounter()
        counter.start()
        await asyncio.sleep(0)
        before = counter.turn
        await turns.take()
        counter.stop()
        return counter.turn - before

    assert run(main()) == 0


def test_hold_keeps_the_next_turns_free_of_frames():
    async def main():
        turns, counter = FrameTurns(), TurnCounter()
        counter.start()
        await asyncio.sleep(0)
        start = counter.turn
        turns.hold(2)
        await turns.take()
        counter.stop()
        return counter.turn - start

    assert run(main()) >= 2


def test_holding_every_turn_cannot_starve_the_frames():
    async def main():
        turns, counter = FrameTurns(), TurnCounter()
        stop = False

        def hold_again():
            if not stop:
                turns.hold(2)
                asyncio.get_running_loop().call_soon(hold_again)

        counter.start()
        hold_again()
        await asyncio.sleep(0)
        start = counter.turn
        for _ in range(3):
            await turns.take()
        stop = True
        counter.stop()
        return counter.turn - start

    waited = run(main())
    assert waited <= 3 * (FrameTurns.MAX_HELD + 3), waited


def test_a_cancelled_waiter_does_not_hold_up_the_others():
    async def main():
        turns = FrameTurns()
        turns.hold(3)  # both frames below must wait
        first = asyncio.ensure_future(turns.take())
        second = asyncio.ensure_future(turns.take())
        await asyncio.sleep(0)
        assert not first.done() and not second.done()
        first.cancel()
        await asyncio.wait_for(second, 1)
        return first.cancelled()

    assert run(main())
