"""Every code block of README.md and docs/ runs, and what it prints is checked;
``mkdocs build --strict`` builds the site.

How a page is written so that this harness can run it (docs/about-these-docs.md
says the same for writers):

* A page's blocks run in page order, in one fresh Python process per page
  (sharing one namespace, as one script would), in a temporary directory that
  holds a link ``benchmarks`` to the repository's ``benchmarks/``.
* ``python`` blocks are executed. A ``text`` block right after one is its
  expected output (stdout and stderr together); a ``python`` block with no
  output block must print nothing.
* ``console`` blocks: a line ``$ command`` (a trailing ``\\`` continues it)
  runs in bash in the same directory, one bash session per block (an
  ``export`` holds to the block's end); the lines after it, up to the next
  ``$``, are its expected output (stdout and stderr together). A command that
  exits non-zero must show an error in its expected output.
* Output is compared exactly, line by line (trailing spaces and blank lines
  at the end ignored), except that ``...`` in an expected line matches any
  text within that line (for times, which no run repeats, a temporary
  directory, the last digits of a float printed in full).
* HTML comments right before a block (only blank lines between) change what
  happens to it:
  ``<!-- needs: EXTRA -->`` (an extra of pyproject.toml, or ``gpu`` for a
  CUDA GPU through CuPy, ``torch-cuda`` for one through PyTorch): the block
  runs where that is installed, else its test skips naming the extra; the
  page before the block, or the block, must name the extra as ``[EXTRA]``
  or ``pip install NAME`` (``GPU`` for the GPU ones) so a reader knows;
  ``<!-- file: NAME -->``: the block is not run but written to NAME in the
  page's directory, for later blocks to use (an MPI script, a CSV file);
  ``<!-- not run: REASON -->``: the block is not run (the full install from
  nothing, this very test command, a run of many minutes); every such block
  is listed, with its reason, as a skipped test.
* Any other block (another language, an output block after nothing that
  runs) is an error.

The examples train on the bundled sample with mini-batches of 50 or more, so
that their numbers do not depend on the machine's BLAS kernel (at mini-batch
10 one ulp grows into other accuracies within a few epochs). To see a page on
another kernel: ``OPENBLAS_CORETYPE=Haswell python -m pytest tests/test_docs.py``
(or Sandybridge, Prescott, SkylakeX).
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PAGE_TIMEOUT = 300
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)[^\n]*$")
DIRECTIVE = re.compile(r"<!--\s*(needs|file|not run)\s*:\s*(.*?)\s*-->", re.S)
SPECIAL_NEEDS = {"gpu": "GPU", "torch-cuda": "GPU"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    prose: str  # the text between the previous block and this one
    before: str  # all the page's text before this block, code blocks left out
    needs: list[str] = field(default_factory=list)
    file: str | None = None
    not_run: str | None = None
    expected: str | None = None  # a python block's output block
    commands: list[tuple[str, str]] = field(default_factory=list)  # console: (command, expected)

    @property
    def where(self) -> str:
        name = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{name}:{self.line}"


def fenced_blocks(page: Path):
    """(line, lang, code, prose since the previous block, all prose before it)
    for each fenced block of a page."""
    lines = page.read_text(encoding="utf-8").splitlines()
    prose, before, i = [], [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, start = len(opened["indent"]), opened["fence"], i
        body, i = [], i + 1
        while i < len(lines) and not re.match(rf"^ *{re.escape(fence)}\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{page}:{start + 1}: a code block is never closed")
        yield start + 1, opened["lang"].lower(), "\n".join(body) + "\n", "\n".join(prose), "\n".join(before)
        before += prose
        prose, i = [], i + 1


def parse_page(page: Path) -> list[Block]:
    """The page's blocks, output blocks attached to the block they follow."""
    blocks: list[Block] = []
    for line, lang, code, prose, before in fenced_blocks(page):
        block = Block(page, line, lang, code, prose, before)
        tail = prose.rstrip()
        while tail.endswith("-->"):  # the directives right before the block
            start = tail.rfind("<!--")
            found = DIRECTIVE.fullmatch(tail[start:])
            if not found:
                break
            kind, value = found[1], " ".join(found[2].split())
            if kind == "needs":
                block.needs += [n.strip() for n in value.split(",") if n.strip()]
            elif kind == "file":
                block.file = value
            else:
                block.not_run = value
            tail = tail[:start].rstrip()
        previous = blocks[-1] if blocks else None
        if (lang == "text" and previous is not None and previous.lang in ("python", "bash")
                and prose.strip() == "" and previous.expected is None and previous.file is None):
            previous.expected = code
            continue
        blocks.append(block)
    for block in blocks:
        check_block(block)
    return blocks


def check_block(block: Block) -> None:
    if block.not_run is not None:
        assert block.not_run, f"{block.where}: 'not run' needs a reason"
        return
    if block.file is not None:
        assert re.fullmatch(r"[\w.-]+", block.file), f"{block.where}: file name {block.file!r}"
        return
    if block.lang == "console":
        block.commands = console_commands(block)
    elif block.lang not in ("python", "bash"):
        raise AssertionError(
            f"{block.where}: a {block.lang or 'plain'!r} block that nothing runs; make it python, "
            "console or bash (with its output), or mark it <!-- not run: REASON -->")
    for need in block.needs:
        extras = extras_naming(need)
        assert extras or need in SPECIAL_NEEDS, f"{block.where}: needs {need!r}, which no extra of pyproject.toml holds"
        names = [SPECIAL_NEEDS[need]] if need in SPECIAL_NEEDS else [rf"\[[\w,-]*\b{re.escape(e)}\b[\w,-]*\]" for e in extras]
        names.append(rf"pip install [^\n`]*\b{re.escape(need)}\b")
        assert any(re.search(n, block.before + block.prose + block.code) for n in names), (
            f"{block.where}: needs {need!r}; say so on the page before the block (e.g. pip install \".[{extras[0] if extras else need}]\")")


def console_commands(block: Block) -> list[tuple[str, str]]:
    commands: list[tuple[str, list[str]]] = []
    lines = block.code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + "\n" + lines[i]
            commands.append((command, []))
        else:
            assert commands, f"{block.where}: a console block starts with '$ command'"
            commands[-1][1].append(line)
        i += 1
    assert commands, f"{block.where}: an empty console block"
    return [(command, "\n".join(out) + "\n") for command, out in commands]


def pyproject_extras() -> dict[str, list[str]]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {name: [re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in reqs] for name, reqs in extras.items()}


def extras_naming(need: str) -> list[str]:
    """The extras a need is: an extra by name, or the extras holding a distribution."""
    extras = pyproject_extras()
    if need in extras:
        return [need]
    if need in SPECIAL_NEEDS:
        return [e for e in ("cuda12", "cuda13", "backends") if e in extras]
    return [name for name, dists in extras.items() if need in dists]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.cache
def missing(need: str) -> str | None:
    """Why ``need`` is not met here, or None."""
    if need == "torch-cuda" and _version("torch").endswith("+cpu"):
        return "needs a CUDA GPU (torch-cuda); this torch is a CPU build"
    if need in SPECIAL_NEEDS:
        probe = ("import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0" if need == "gpu"
                 else "import torch; assert torch.cuda.is_available()")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120)
        return None if done.returncode == 0 else f"needs a CUDA GPU ({need}), none usable here"
    dists = pyproject_extras().get(need, [need])
    absent = [] if "mpi4py" not in dists or shutil.which("mpiexec", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")])) else ["mpiexec"]
    for dist in dists:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            absent.append(dist)
    if absent:
        extra = need if need in pyproject_extras() else "/".join(extras_naming(need))
        return f"needs the {extra!r} extra (pip install \".[{extra}]\"): {', '.join(absent)} not installed"
    return None


DRIVER = r"""
import contextlib, io, json, subprocess, sys, traceback
steps = json.load(open(sys.argv[1], encoding="utf-8"))
results, namespace = [], {"__name__": "__main__"}


def run(step):
    if step["kind"] == "file":
        with open(step["name"], "w", encoding="utf-8") as f:
            f.write(step["code"])
        return {"output": ""}
    if step["kind"] == "shell":
        done = subprocess.run(["bash", "-c", step["code"]], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        return {"output": done.stdout, "status": done.returncode}
    if step["kind"] == "console":  # one bash session: each command's output, then RS status RS
        script = "".join(f"{command}\nprintf '\\036%d\\036' $?\n" for command in step["commands"])
        done = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        parts = done.stdout.split("\036")
        outputs = [{"output": parts[i], "status": int(parts[i + 1])} for i in range(0, len(parts) - 1, 2)]
        if len(outputs) < len(step["commands"]):
            outputs.append({"output": parts[-1], "status": done.returncode})
        return {"output": "", "commands": outputs}
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            exec(compile(step["code"], step["where"], "exec"), namespace)
        return {"output": buffer.getvalue()}
    except BaseException:
        return {"output": buffer.getvalue(), "error": traceback.format_exc()}


for step in steps:
    results.append(run(step))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f)
    if "error" in results[-1]:
        break
"""


def steps_of(blocks: list[Block]) -> tuple[list[dict], list[tuple[int, int]]]:
    """The steps one page runs, and for each block the range of its steps."""
    steps, spans = [], []
    for block in blocks:
        start = len(steps)
        if block.not_run is None and not any(missing(n) for n in block.needs):
            if block.file is not None:
                steps.append({"kind": "file", "name": block.file, "code": block.code})
            elif block.lang == "python":
                steps.append({"kind": "python", "code": block.code, "where": block.where})
            elif block.lang == "bash":
                steps.append({"kind": "shell", "code": block.code})
            else:
                steps.append({"kind": "console", "commands": [command for command, _ in block.commands]})
        spans.append((start, len(steps)))
    return steps, spans


@functools.cache
def run_page(page: Path, workdir: Path) -> list[dict]:
    """Run a page's blocks; one result per step run (fewer if one failed)."""
    steps, _ = steps_of(parse_page(page))
    workdir.mkdir(parents=True)
    (workdir / "benchmarks").symlink_to(ROOT / "benchmarks")
    (workdir / "steps.json").write_text(json.dumps(steps), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               HOME=str(workdir), XDG_CACHE_HOME=str(workdir / ".cache"), ANYNET_DATA=str(workdir / "data"),
               COLUMNS="100", PYTHONHASHSEED="0", NO_MKDOCS_2_WARNING="1",
               ANYNET_MIRRORS="http://127.0.0.1:9/", ANYNET_DOWNLOAD_TIMEOUT="10")  # no page downloads
    env.pop("ANYNET_TEST_BACKENDS", None)
    try:
        done = subprocess.run([sys.executable, "-c", DRIVER, "steps.json", "results.json"], cwd=workdir, env=env,
                              timeout=PAGE_TIMEOUT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        ended = f"the page's process ended (status {done.returncode}):\n{done.stderr}"
    except subprocess.TimeoutExpired:
        ended = f"the page's blocks ran past {PAGE_TIMEOUT} s and were stopped"
    results_file = workdir / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists() else []
    if len(results) < len(steps) and not any("error" in r for r in results):
        results.append({"output": "", "error": ended})
    return results


def matches(expected: str, actual: str) -> bool:
    want, got = expected.rstrip().splitlines(), actual.rstrip().splitlines()
    if len(want) != len(got):
        return False
    for w, g in zip(want, got):
        w, g = w.rstrip(), g.rstrip()
        pattern = ".*".join(re.escape(part) for part in w.split("..."))
        if not re.fullmatch(pattern, g):
            return False
    return True


def explain(block: Block, what: str, expected: str, actual: str) -> str:
    diff = "\n".join(difflib.unified_diff(expected.rstrip().splitlines(), actual.rstrip().splitlines(),
                                          "the page shows", "it prints", lineterm=""))
    return f"{block.where}: {what} prints other than the page shows:\n{diff}"


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in parse_page(page)]


BLOCKS = all_blocks()


@pytest.fixture(scope="session")
def docs_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("docs")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_block(block, docs_workdir):
    if block.not_run is not None:
        pytest.skip(f"not run ({block.where}): {block.not_run}")
    reasons = [missing(n) for n in block.needs if missing(n)]
    if reasons:
        pytest.skip(f"{block.where}: " + "; ".join(reasons))
    if block.file is not None:
        return
    blocks = parse_page(block.page)
    index = next(i for i, b in enumerate(blocks) if b.line == block.line)
    results = run_page(block.page, docs_workdir / block.where.rsplit(":", 1)[0].replace(os.sep, "_"))
    start, stop = steps_of(blocks)[1][index]
    for step in range(start, stop):
        if step >= len(results):
            failed = next((r for r in results if "error" in r), None)
            pytest.fail(f"{block.where}: not reached; an earlier block failed:\n{failed['error'] if failed else 'the page did not finish'}")
        result = results[step]
        if "error" in result:
            pytest.fail(f"{block.where}: raised\n{result['output']}{result['error']}")
        if block.lang == "console":
            ran = result["commands"]
            for i, (command, expected) in enumerate(block.commands):
                assert i < len(ran), f"{block.where}: the shell ended before $ {command}"
                assert matches(expected, ran[i]["output"]), explain(block, f"$ {command}", expected, ran[i]["output"])
                assert ran[i]["status"] == 0 or re.search("error", expected, re.I), (
                    f"{block.where}: $ {command} exited {ran[i]['status']}, and the page shows no error")
        else:
            expected = block.expected or ""
            assert matches(expected, result["output"]), explain(block, "the block", expected, result["output"])
            assert result.get("status", 0) == 0, f"{block.where}: exited {result['status']}"


def test_every_page_has_blocks_that_run():
    """The harness found the pages and their blocks (a parser that found
    nothing would pass every test above)."""
    run = [b for b in BLOCKS if b.not_run is None and b.file is None]
    assert len(run) >= 20
    assert {b.page.name for b in run} >= {"README.md", "getting-started.md"}


def test_readme_is_short_and_its_test_command_is_ci():
    """The README stays a front page (under 200 lines), and its test command is
    exactly the one .ci/run runs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")]
    assert len(ci) == 1
    shown = [b.code.strip() for b in parse_page(ROOT / "README.md") if b.not_run is not None and "pytest" in b.code]
    assert shown == [ci[0]]


def test_mkdocs_build_strict(tmp_path):
    """The site builds with no warning (broken links, missing pages, bad
    references in the API pages)."""
    absent = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
              if importlib.util.find_spec(name.split(".")[0]) is None
              or (name == "mkdocstrings_handlers.python" and importlib.util.find_spec(name) is None)]
    if absent:
        pytest.skip(f"the docs extra is not installed (pip install \".[docs]\"): no {', '.join(absent)}")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "anynet" / "index.html").is_file()


def test_every_docs_page_is_in_the_nav():
    if importlib.util.find_spec("yaml") is None:
        pytest.skip("PyYAML is not installed (pip install \".[docs]\")")
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(item):
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for value in item.values():
                yield from pages(value)
        else:
            for value in item:
                yield from pages(value)

    listed = set(pages(nav))
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk == listed


SELF_TEST = """# A page

```python
print(6 * 7)
```

```text
42
```

```python
print("took 0.25 s")
```

```text
took ... s
```

<!-- not run: a reason -->
```bash
exit 1
```

```console
$ echo $((6 * 7))
42
$ false || echo "error: status $?"
error: status 1
```
"""


def check_page(page: Path, workdir: Path) -> list[str]:
    """What test_block would say about each block of a page: "ok", "skip" or
    the failure."""
    said = []
    for block in parse_page(page):
        try:
            test_block(block, workdir)
            said.append("ok")
        except pytest.skip.Exception:
            said.append("skip")
        except (AssertionError, pytest.fail.Exception) as failure:
            said.append(str(failure).splitlines()[0])
    return said


def test_the_harness_passes_a_right_page_and_fails_wrong_numbers(tmp_path):
    """The harness itself: a page whose blocks print what it shows passes;
    changing one printed number, or a command's, fails that block alone."""
    right = tmp_path / "right.md"
    right.write_text(SELF_TEST)
    assert check_page(right, tmp_path / "run1") == ["ok", "ok", "skip", "ok"]
    wrong = tmp_path / "wrong.md"
    wrong.write_text(SELF_TEST.replace("42\n```\n\n```python", "41\n```\n\n```python").replace("$ echo $((6 * 7))\n42", "$ echo $((6 * 7))\n43"))
    said = check_page(wrong, tmp_path / "run2")
    assert said[1:3] == ["ok", "skip"]
    assert "prints other than the page shows" in said[0] and "prints other than the page shows" in said[3]


@pytest.mark.parametrize("page, problem", [
    ("```json\n{}\n```\n", "a 'json' block that nothing runs"),
    ("<!-- not run:  -->\n```bash\nls\n```\n", "'not run' needs a reason"),
    ("<!-- needs: sklearn -->\n```python\nimport sklearn\n```\n", "needs 'sklearn'; say so"),
    ("```console\nls\n```\n", "a console block starts with '$ command'"),
    ("```python\nprint(1)\n", "a code block is never closed"),
])
def test_the_harness_refuses_a_block_it_cannot_check(tmp_path, page, problem):
    path = tmp_path / "page.md"
    path.write_text(page)
    with pytest.raises(AssertionError, match=re.escape(problem)):
        parse_page(path)



def test_every_anynet_name_the_pages_mention_exists():
    """A page that names ``anynet.something.Else`` names something that
    exists, so a rename cannot leave the docs pointing at nothing (names in
    modules whose extra is not installed are not checked)."""
    names = set()
    for page in PAGES:
        names |= set(re.findall(r"\banynet(?:\.[A-Za-z_]\w*)+", page.read_text(encoding="utf-8")))
    missing_names = []
    for name in sorted(n for n in names if not n.endswith((".md", ".py"))):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ModuleNotFoundError as error:
                if (error.name or "").startswith("anynet"):
                    continue  # not a module: an attribute of a shorter prefix
                obj = None  # an extra that is not installed
            except ImportError:  # an extra that is not installed (BackendUnavailable)
                obj = None
            break
        if obj is not None and not _has_path(obj, parts[i:]):
            missing_names.append(name)
    assert len(names) >= 20 and missing_names == []


def _has_path(obj, attributes) -> bool:
    for attribute in attributes:
        if not hasattr(obj, attribute):
            return False
        obj = getattr(obj, attribute)
    return True


def test_getting_started_lists_every_extra():
    """The extras table of getting-started.md names every extra of
    pyproject.toml, so a new extra cannot go unmentioned."""
    table = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w-]+)`(?:, `([\w-]+)`)? \|", table, re.M))
    names = {name for pair in listed for name in pair if name}
    assert names == set(pyproject_extras())

