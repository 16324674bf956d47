"""A tqdm progress bar that a compiled run advances through host callbacks.

A compiled loop cannot hold a Python object, so it calls :func:`tick` (via
``jax.debug.callback``) with the number of steps done since the last call, and ``tick`` advances
whichever bar is open.  Runs call it about twenty times, so the bar costs a few host round
trips, not a few per step.
"""

from __future__ import annotations

import threading

from tqdm.auto import tqdm

_lock = threading.Lock()
_active: list[tqdm] = []


def tick(num_steps) -> None:
    """Advances the innermost open bar by ``num_steps`` (called from compiled code)."""
    with _lock:
        if _active:
            _active[-1].update(int(num_steps))


class ProgressBar:
    """``with ProgressBar(total, enabled):`` opens a bar in steps, with steps/s, for a run."""

    def __init__(self, total: int, *, enabled: bool = True, description: str = "training", unit: str = "step"):
        self.total, self.enabled, self.description, self.unit = total, enabled, description, unit
        self.bar: tqdm | None = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self.bar = tqdm(total=self.total, desc=self.description, unit=self.unit, leave=False, dynamic_ncols=True)
            with _lock:
                _active.append(self.bar)
        return self

    def update(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.update(amount)

    def __exit__(self, exc_type, *exc_info) -> None:
        if self.bar is not None:
            with _lock:
                _active.remove(self.bar)
            if exc_type is None and self.bar.n < self.total:
                self.bar.update(self.total - self.bar.n)  # the last few steps (fewer than one tick), or stopped early
            self.bar.close()
