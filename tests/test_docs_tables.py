"""The docs' benchmark tables are printed from the committed JSON under
benchmarks/results/ by a block that tests/test_docs.py runs and compares, so a
changed JSON changes the docs check: the MPI-ranks table of
docs/distributed.md and the stack-cost table of docs/sweeps.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import ROOT, parse_page

TABLES = [("docs/distributed.md", "scaling-ranks-intel-r-xeon-r-processor-2cpu-1thread.json", "exact, blocks of 1"),
          ("docs/sweeps.md", "scaling-sweep-intel-r-xeon-r-processor-2cpu-1thread.json", "NumPy float64")]


def table_block(page, name):
    found = [b for b in parse_page(ROOT / page) if b.lang == "python" and f"benchmarks/results/{name}" in b.code]
    assert len(found) == 1 and found[0].expected, f"{page}: no block prints its table from {name}"
    return found[0]


def printed(block, bench, where: Path) -> str:
    results = where / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / Path(block.code.split("benchmarks/results/")[1].split('"')[0]).name).write_text(json.dumps(bench))
    done = subprocess.run([sys.executable, "-c", block.code], cwd=where, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def doubled(value):
    """Every measured float times 2 (counts, sizes and flags as they are)."""
    if isinstance(value, dict):
        return {key: doubled(v) for key, v in value.items()}
    if isinstance(value, list):
        return [doubled(v) for v in value]
    return value * 2 if isinstance(value, float) else value


@pytest.mark.parametrize("page, name, heading", TABLES, ids=[t[0] for t in TABLES])
def test_a_benchmark_table_follows_its_json(page, name, heading, tmp_path):
    block = table_block(page, name)
    bench = json.loads((ROOT / "benchmarks" / "results" / name).read_text())
    assert printed(block, bench, tmp_path / "committed") == block.expected  # what the page shows
    changed = printed(block, bench | {"results": doubled(bench["results"])}, tmp_path / "changed")
    shown, now = block.expected.splitlines(), changed.splitlines()
    assert len(now) == len(shown) and heading in cells(now[1]) and cells(now[1]) == cells(shown[1])  # the same columns
    assert now[2:] != shown[2:]  # other numbers


def test_the_ranks_table_prints_a_dash_for_a_configuration_not_run(tmp_path):
    """A rerun without blocks of 1 row (bench_scaling.py ranks --no-single-rows) keeps the columns."""
    page, name, _ = TABLES[0]
    block = table_block(page, name)
    bench = json.loads((ROOT / "benchmarks" / "results" / name).read_text())
    kept = [r for r in bench["results"] if r["block"] != 1]
    out = printed(block, bench | {"results": kept}, tmp_path).splitlines()
    assert cells(out[1]) == cells(block.expected.splitlines()[1])
    rows = out[2:]
    assert len(rows) == 9 and all(" - " in row and "- / " in row for row in rows)  # the cell and its MPI share
