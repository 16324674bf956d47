"""Shared test settings: float32 everywhere, CPU, quiet matplotlib, and a process of short runs.

The suite is hundreds of short programs, so, like ``python -m experiments``, it compiles them with
the package's short-run options (``compilation.use_in_process``): compiling is most of its time.
It keeps JAX's own looped Threefry lowering (``UNROLLED_THREEFRY = False``): the same bits as the
straight-line one, and at the short runs' level its programs compile quicker.
Tests of a library process's own options and lowering set that state up themselves, or run in a
fresh process.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# the experiments keep compiled programs on disk (~/.cache/jaxopt_course/xla); the suite writes nothing
# there, and its compile counts never depend on what an earlier run left
os.environ["JAXOPT_COURSE_CACHE"] = "off"

from jaxopt_course import compilation  # noqa: E402  (after the platform is chosen)

compilation.UNROLLED_THREEFRY = False
compilation.use_in_process()
