"""CSV files: a label column and feature columns, read in chunks.

The file is UTF-8 text (a byte-order mark is allowed), one row per line,
cells separated by commas (or by semicolons or tabs, if the first line has no
comma), quoted with ``"`` where needed; blank lines are skipped.

- **Header**: detected.  The first row is a header if it names a column
  ``label``, ``class``, ``target`` or ``y`` (any case), or if some cell of it
  is text (not a number, not empty) where the second row has a number.  (A header whose only
  text is over a text column, such as ``name,1,2`` above ``cat,3,4``, is
  taken for data.)
- **Label column**: ``label_column`` (a header name, or an index, negative
  from the end); by default the column named label/class/target/y, else the
  first.  Labels may be anything: integers, integral numbers (``3.0``),
  strings; they are encoded as ``0..k-1`` in sorted order and the original
  values kept in ``Dataset.classes``.
- **Task**: ``task="auto"`` (the command line's default) makes the file a regression
  dataset when the label column is *real-valued*: every value a finite
  number and at least one of them not a whole number (``19.99``; ``20`` and
  ``20.0`` are whole).  Its targets are then the values themselves, an
  ``(n, 1)`` float array, and ``Dataset.task`` is "regression".  A column of
  whole numbers or text is classified; ``task="regression"`` forces
  regression (prices in whole dollars), ``task="classification"`` (the
  default of :func:`load_csv`) forces classes.
- **Features**: every other column, as floats; they must be finite numbers.

Rows are parsed in chunks by NumPy's C reader, so memory stays near the size
of the resulting array; a problem is reported with the file, line and column.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DataError
from .core import Dataset, encode_labels
from .opening import check_fits, open_regular

LABEL_NAMES = ("label", "class", "target", "y")
TASKS = ("auto", "classification", "regression")
ROWS_PER_CHUNK = 8192
MAX_LINE = 1 << 24  # characters: a row of millions of features


@dataclass(frozen=True)
class Table:
    """A parsed CSV file: features ``X`` (n, d), and if it has a label
    column, int64 ``labels`` (n,) coding ``classes``, or for regression
    float ``targets`` (n, 1)."""

    X: np.ndarray
    labels: np.ndarray | None
    classes: list | None
    columns: list[str] | None  # the header, if there is one
    label_name: str | None  # the label column's name, or "column N"
    targets: np.ndarray | None = None  # regression: the label column's values
    target_name: str | None = None  # regression: the header name of the label column, or "column N"


def load_csv(path, *, label_column=None, dtype, task="classification") -> Dataset:
    """A Dataset of the rows of the CSV file ``path`` (training split only:
    ``validation`` and ``test`` are None; see ``validation_split``);
    ``task`` "auto", "classification" or "regression" (see the module)."""
    table = read_csv(path, label_column=label_column, labelled=True, dtype=dtype, task=task)
    n, d = table.X.shape
    low, high = (table.X.min(), table.X.max()) if table.X.size else (0, 0)
    features = f"{path} (CSV: {n:,} rows, {d:,} features with values {low:g}..{high:g}, "
    if table.targets is not None:
        source = (f"{features}regression targets from {table.label_name}: real values "
                  f"{table.targets.min():g}..{table.targets.max():g})")
        return Dataset(name=str(path), source=source, train=(table.X, table.targets), validation=None, test=None,
                       n_classes=1, classes=[table.target_name], task="regression")
    source = f"{features}labels from {table.label_name}: {len(table.classes)} classes)"
    return Dataset(
        name=str(path),
        source=source,
        train=(table.X, table.labels),
        validation=None,
        test=None,
        n_classes=len(table.classes),
        classes=table.classes,
    )


def read_csv(path, *, label_column=None, labelled: bool, dtype, task="classification") -> Table:
    """Parse the CSV file ``path``: with ``labelled``, one column is the label
    (``label_column``, else the default rule); without, every column is a
    feature.  DataError names the file, line and column of any problem."""
    path = Path(path)
    if not labelled and label_column is not None:
        raise ArgumentError("label_column is given, but these rows have no label")
    with open_regular(path, "a CSV file") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        rows = _numbered_lines(text, path)
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path} is empty: a CSV file needs rows of numbers")
        delimiter = next((d for d in ",;\t" if d in first[1]), ",")
        second = next(rows, None)
        first_cells = _cells(first[1], delimiter)
        columns = None
        if (second is not None and _is_header(first_cells, _cells(second[1], delimiter))) or (
            second is None and not all(map(_is_number, first_cells))
        ):
            columns = [cell.strip() for cell in first_cells]
            data = itertools.chain([second] if second else [], rows)
        else:
            data = itertools.chain([first] + ([second] if second else []), rows)
        n_columns = len(first_cells)
        label = _label_index(label_column, columns, n_columns, path) if labelled else None
        X, codes, lines, texts = _parse(data, path, n_columns, label, columns, delimiter, dtype)
    if not len(X):
        raise DataError(f"{path} has a header but no data rows")
    if label is None:
        return Table(X, None, None, columns, None)
    name = _column_name(label, columns)
    task, values = _task(task, texts, path, name)
    if task == "regression":
        targets = _targets(values[codes], lines, path, name, dtype)
        return Table(X, None, None, columns, name, targets, columns[label] if columns else f"column {label + 1}")
    labels, classes = _encode(codes, texts, lines, path, name)
    return Table(X, labels, classes, columns, name)


def _numbers(texts: list[str]) -> np.ndarray | None:
    """The distinct label texts as floats, or None if one of them is not a number."""
    try:
        return np.array([float(t) for t in texts], dtype=np.float64)
    except ValueError:
        return None


def _task(task, texts: list[str], path: Path, name: str) -> tuple[str, np.ndarray | None]:
    """The task the label texts ask for (see the module's **Task**) and, unless
    the task is given as classification, the texts as floats (None if one is
    not a number): parsed once, for the task and for the targets."""
    if task not in TASKS:
        raise ArgumentError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    values = _numbers(texts) if task != "classification" else None
    if task == "regression" and values is None:
        bad = next(t for t in texts if _numbers([t]) is None)
        raise DataError(f"{path}: {name} holds {bad[:40]!r}, not a number; regression needs numeric targets")
    if task == "auto":
        finite = values is not None and bool(np.isfinite(values).all())
        return "regression" if finite and bool(np.any(values != np.round(values))) else "classification", values
    return task, values


def _targets(values, lines, path: Path, name: str, dtype) -> np.ndarray:
    """The label column's ``values`` (one per row) as finite float targets, shape (n, 1)."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{path}, line {lines[row]}, {name}: {values[row]} is not a finite number")
    return values.astype(dtype).reshape(-1, 1)


def _numbered_lines(text, path: Path):
    """(line number, line) of each non-blank line, with a bounded line length."""
    number = 0
    while True:
        number += 1
        try:
            line = text.readline(MAX_LINE)
        except UnicodeDecodeError as error:
            raise DataError(
                f"{path}, line {number}: not UTF-8 text ({error.reason}); is the file compressed?"
            ) from None
        if not line:
            return
        if len(line) == MAX_LINE and not line.endswith("\n"):
            raise DataError(f"{path}, line {number}: longer than {MAX_LINE:,} characters")
        if line.strip():
            yield number, line


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_header(first: list[str], second: list[str]) -> bool:
    if any(cell.strip().lower() in LABEL_NAMES for cell in first):
        return True
    return any(a.strip() and not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _label_index(label_column, columns, n_columns: int, path: Path) -> int:
    if n_columns < 2:
        raise DataError(
            f"{path} has one column; a CSV dataset needs a label column and at least one feature column "
            "(labels alone cannot be trained on)"
        )
    if label_column is None:
        names = [c.lower() for c in columns or []]
        return next((names.index(name) for name in LABEL_NAMES if name in names), 0)
    if isinstance(label_column, bool) or not isinstance(label_column, (int, str)):
        raise ArgumentTypeError(f"label_column must be a column name or index, not {type(label_column).__name__}")
    if isinstance(label_column, int):
        if not -n_columns <= label_column < n_columns:
            raise ArgumentError(f"label_column={label_column}, but {path} has {n_columns} columns")
        return label_column % n_columns
    if columns is None:
        raise ArgumentError(f"label_column={label_column!r}, but {path} has no header; give the column's index")
    if label_column not in columns:
        shown = ", ".join(repr(c) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise ArgumentError(f"label_column={label_column!r} is not a column of {path} (columns: {shown})")
    return columns.index(label_column)


def _column_name(index: int, columns) -> str:
    return f"column {index + 1} ({columns[index]!r})" if columns else f"column {index + 1}"


def _parse(data, path: Path, n_columns: int, label, columns, delimiter: str, dtype):
    """Parse the numbered lines ``data`` in chunks; return the features, the
    label codes (first-seen order), every row's line number, and the label texts."""
    texts: dict[str, int] = {}

    def code(cell: str) -> float:
        return float(texts.setdefault(cell.strip(), len(texts)))

    features, codes, lines, total = [], [], [], 0
    while chunk := list(itertools.islice(data, ROWS_PER_CHUNK)):
        numbers, values = zip(*chunk, strict=True)
        try:
            array = np.loadtxt(
                values, delimiter=delimiter, quotechar='"', comments=None, ndmin=2,
                converters=None if label is None else {label: code},
            )
        except ValueError as error:
            _locate(chunk, path, n_columns, label, columns, delimiter)
            raise DataError(f"{path}, lines {numbers[0]}-{numbers[-1]}: {error}") from None
        if array.shape[1] != n_columns:
            _locate(chunk, path, n_columns, label, columns, delimiter)
        if label is not None:
            codes.append(array[:, label].astype(np.int64))
            array = np.delete(array, label, axis=1)
        bad = ~np.isfinite(array)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            if label is not None and column >= label:
                column += 1  # a column of the file, not of the features
            raise DataError(
                f"{path}, line {numbers[row]}, {_column_name(column, columns)}: {array[bad][0]} is not a finite number"
            )
        features.append(array.astype(dtype, copy=False))
        lines.append(np.asarray(numbers))
        total += features[-1].nbytes
        check_fits(2 * total, path, f"reading it (the first {sum(map(len, lines)):,} rows)")
    X = np.concatenate(features) if features else np.empty((0, n_columns - (label is not None)), dtype)
    return X, (np.concatenate(codes) if codes else None), (np.concatenate(lines) if lines else None), list(texts)


def _locate(chunk, path: Path, n_columns: int, label, columns, delimiter: str) -> None:
    """Find the cell NumPy could not read, in Python (only on the error path), and raise DataError for it."""
    for number, line in chunk:
        cells = _cells(line, delimiter)
        if len(cells) != n_columns:
            raise DataError(f"{path}, line {number}: {len(cells)} columns, but the first row has {n_columns}")
        for index, cell in enumerate(cells):
            if index != label and not _is_number(cell):
                raise DataError(f"{path}, line {number}, {_column_name(index, columns)}: {cell[:40]!r} is not a number")


def _encode(codes: np.ndarray, texts: list[str], lines: np.ndarray, path: Path, name: str):
    """Label codes in first-seen order -> codes in sorted order of the values, and the values."""
    if "" in texts:
        row = int(np.argmax(codes == texts.index("")))
        raise DataError(f"{path}, line {lines[row]}, {name}: the label is empty")
    try:
        values = np.array([float(t) for t in texts])  # numbers sort as numbers: 2 before 10
    except ValueError:
        values = np.array(texts)
    return encode_labels(values[codes], f"{path}: the labels in {name}", locate=lambda i: f"line {lines[i]}")
