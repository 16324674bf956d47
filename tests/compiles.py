"""Counting compiles, not traces: the names of the programs XLA compiles inside a block."""

from __future__ import annotations

import contextlib

import jax

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def compiles():
    """``with compiles() as names:`` collects the name of every program XLA compiles inside."""
    names: list[str] = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            names.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


class Traces:
    """Counts the traces of the function that calls it: ``traces()`` inside, ``traces.count`` after.

    Slotted, so the package's cache key (``hyperparams.static_key``) holds it by identity: the
    count going up is not a change of the function, as a list appended to would be.
    """

    __slots__ = ("count",)

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
