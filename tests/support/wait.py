"""Wait on a condition with a generous deadline instead of sleeping a fixed time.

The deadline only bounds a hang: a loaded CI machine may take many times longer than an idle
one, and the test still passes as soon as the condition holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, what: str = "", poll: float = 0.02
) -> T:
    """Return the predicate's first truthy value; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(poll)
