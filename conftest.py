"""The benchsuite plugin loads through its pytest11 entry point; this file sets hypothesis profiles and, under
pytest-xdist, each worker's share of the cores (two workers of two torch threads each on two cores run the tests about
three times slower than two of one thread; the pytester sessions a worker starts inherit its share)."""
from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # read by torch when it is first imported, here and in subprocesses
    share = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, share)))
