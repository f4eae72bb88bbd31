"""The one retry policy: sync retries jittered, the signaling socket's reconnects plain."""

from __future__ import annotations

import random

from app.backoff import Backoff


def test_reconnect_waits_double_from_one_second_to_fifteen_and_restart_after_success() -> None:
    backoff = Backoff(base_s=1.0, cap_s=15.0, jitter=False)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_jittered_waits_stay_between_a_quarter_of_the_ceiling_and_the_ceiling() -> None:
    backoff = Backoff(base_s=2.0, cap_s=60.0, rng=random.Random(7))
    for ceiling in (2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0):
        assert ceiling / 4 <= backoff.next_delay() <= ceiling
