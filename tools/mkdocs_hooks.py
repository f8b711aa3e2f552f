"""mkdocs hooks: the benchmark plots in benchmarks/results/ appear in the site
as benchmark-results/NAME.png (mkdocs reads only docs/; the plots stay where
the benchmarks write them)."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def on_files(files, config):
    for png in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"benchmark-results/{png.name}", abs_src_path=str(png)))
    return files


ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj):(?=<code>)")


def on_page_content(html, page, config, files):
    """Docstrings use Sphinx roles (:class:`anynet.Network`); the site shows
    the name alone, as code."""
    return ROLE.sub("", html)
