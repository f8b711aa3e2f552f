"""Sweeps that cannot fit are refused with the figure before anything is
built (issue 20, item 7): ``--seeds 0-10000000000`` is counted, not listed,
and ``--seeds 0-999999`` is refused before its first network, from the
command line and from ``anynet.sweep``.  The runs happen in a child process
under RLIMIT_AS (4 GiB), so that code which does try to build them fails
there, fast, instead of filling this machine's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import anynet
from anynet.cli.common import int_at_least
from anynet.cli.sweep import value_list

resource = pytest.importorskip("resource")

_CHILD = r"""
import contextlib, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
import numpy as np
import anynet
from anynet.cli import main
results = []
for seeds in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["sweep", "--data", "sample", "--validation-split", "0.2", "--seeds", seeds, "--quiet"])
    results.append([status, err.getvalue()])
try:
    anynet.sweep([784, 30, 10], (np.zeros((10, 784)), np.zeros(10, dtype=int)), 1, 10, 0.5, seeds=range(10**10))
    results.append("trained")
except MemoryError as exc:
    results.append([type(exc).__name__, str(exc)])
print(json.dumps(results))
"""


def test_a_range_of_seeds_is_counted_not_listed():
    parse = value_list(int_at_least(0), ranges=True)
    start = time.perf_counter()
    seeds = parse("0-10000000000")
    assert len(seeds) == 10_000_000_001 and seeds[0] == 0 and seeds[-1] == 10_000_000_000 and seeds[5] == 5
    assert time.perf_counter() - start < 0.5
    assert parse("3,0-2") == [3, 0, 1, 2] and list(parse("7-9")) == [7, 8, 9]
    with pytest.raises(Exception, match=r"repeats 5, 6, 7, 8, 9, 10$"):
        parse("0-10,5-20")
    with pytest.raises(Exception, match=r"repeats 100, 101, .*, 109, \.\.\.$"):
        parse("0-1000000000,100-200")


def test_sweeps_too_large_for_memory_are_refused_before_building_anything():
    env = {**os.environ, "PYTHONPATH": str(Path(anynet.__file__).parent.parent), "OPENBLAS_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, "0-10000000000", "0-999999"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    huge, million, python = json.loads(done.stdout)
    for (status, err), n in ((huge, "10,000,000,001"), (million, "1,000,000")):
        assert status == 1 and err.startswith(f"anynet: error: a sweep of {n} networks of sizes [784, 30, 10] "
                                              "(23,860 parameters each, float64) needs about "), err
        assert "of memory available: sweep fewer seeds, etas or lmbdas, or train fewer at once (stack)" in err
        assert "Traceback" not in err
    assert python[0] == "TooLargeError" and python[1].startswith("a sweep of 10,000,000,000 networks")
    assert time.perf_counter() - start < 60  # refused, not built
