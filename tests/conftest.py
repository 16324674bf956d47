"""Shared test settings: float32 everywhere, CPU, quiet matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` run first (the order is otherwise kept): under ``-n 2`` a long test
    picked up last would run alone at the end while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
