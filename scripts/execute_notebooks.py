"""Re-execute notebooks in place, top to bottom, in a fresh kernel each.

The book is built from notebooks stored with their outputs (the build does not
run them), and `pytest --nbval` checks that re-running them reproduces those
outputs: exactly, or within the band of a cell tagged ``nbval-approx`` for figures
of trained networks (scripts/nbval_approx.py). Run this after changing a notebook
or the ddpm_lessons package:

    make execute                                   # book/ and solutions/
    .venv/bin/python scripts/execute_notebooks.py book/04_posterior.ipynb

Each notebook runs with its own folder as the working directory, on the
`python3` kernel of the interpreter running this script (the project's .venv),
with PYTHONHASHSEED=0. Widget state is saved only in notebooks whose page shows
a widget: a live view in a cell tagged ``remove-output`` is not on the page, and
with no stored state the page loads no widget scripts (RequireJS and the widget
manager, about 3.6 MB). Execution counts come out as 1..N in cell order; the
script checks it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

KERNEL_NAME = "python3"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL_NAME}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}


def find_notebooks(paths: list[str]) -> list[Path]:
    notebooks: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            notebooks.extend(
                p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
            )
        elif path.suffix == ".ipynb" and path.is_file():
            notebooks.append(path)
        else:
            raise SystemExit(f"not a notebook or folder: {name}")
    return notebooks


def check_execution_counts(nb: nbformat.NotebookNode, path: Path) -> None:
    counts = [cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code"]
    expected = list(range(1, len(counts) + 1))
    if counts != expected:
        raise SystemExit(f"{path}: execution counts should be {expected}, got {counts}")


def page_shows_widget(nb: nbformat.NotebookNode) -> bool:
    """True when an output the built page keeps is a Jupyter widget."""
    for cell in nb.cells:
        if cell.cell_type != "code" or HIDDEN_OUTPUT_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", [])):
            return True
    return False


def execute(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,  # no per-cell timestamps in the stored notebook
        store_widget_state=True,
    )
    client.execute()
    # A print the kernel flushed in two parts (it happens under load) becomes one output again,
    # so the stored notebook does not depend on the timing of the run.
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    if not page_shows_widget(nb):
        nb.metadata.pop("widgets", None)
    check_execution_counts(nb, path)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="notebooks, or folders searched for *.ipynb")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell (default: 1200)")
    args = parser.parse_args(argv)

    # The kernel inherits this environment. Figures must use the inline
    # backend, so a non-interactive MPLBACKEND (e.g. Agg) is dropped.
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ.pop("MPLBACKEND", None)

    notebooks = find_notebooks(args.paths)
    if not notebooks:
        raise SystemExit("no notebooks found")
    for path in notebooks:
        start = time.perf_counter()
        print(f"executing {path} ...", end=" ", flush=True)
        execute(path, args.timeout)
        print(f"{time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
