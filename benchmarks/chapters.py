"""How long a learner waits for the chapters: each notebook run top to bottom in a fresh kernel.

Run from the repository root::

    python -m benchmarks.chapters                     # chapters 5-7, in order (item 5 of the study)
    python -m benchmarks.chapters book/08_score.ipynb # any notebooks
    python -m benchmarks.chapters --write             # also into the chapter-times table of RESULTS.md

Notebooks run in the order given, as a learner runs them, so a chapter that loads
the model chapter 6 trained (``trained_model``) finds it in the cache.  Nothing is
written back to the notebooks.  The time of each notebook is the wall clock from
starting its kernel to the end of its last cell; the slowest cells come from the
kernel's own timestamps.  The 1-minute load average is printed beside each.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from benchmarks.recipes import HERE, RESULTS_MD, _replace_block, load_average

ROOT = HERE.parent
CHAPTERS = ("book/05_model.ipynb", "book/06_training_sampling.ipynb", "book/07_optimal_solutions.ipynb")
TARGET_SECONDS = 45.0
"""Item 5: chapters 5-7 together."""


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """How long the kernel took for a cell (from its timestamps), 0 if not recorded."""
    timing = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return 0.0
    start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


def time_notebook(path: Path, slowest: int = 3) -> dict:
    """Run ``path`` in a fresh kernel (in its folder, as the book does) and time it."""
    notebook = nbformat.read(path, as_version=4)
    load = load_average()
    client = NotebookClient(notebook, timeout=1200, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    cells = sorted(((cell_seconds(c), k, c.source.splitlines()[0] if c.source else "")
                    for k, c in enumerate(notebook.cells) if c.cell_type == "code"), reverse=True)
    name = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    return {"notebook": Path(name).as_posix(), "seconds": seconds, "load_average": load,
            "slowest_cells": [{"cell": k, "seconds": s, "first_line": line}
                              for s, k, line in cells[:slowest]]}


def markdown(rows: list[dict]) -> str:
    total = sum(r["seconds"] for r in rows)
    lines = ["| notebook | seconds | load average | slowest cells (s) |", "|---|---:|---:|---|"]
    for r in rows:
        cells = "; ".join(f"cell {c['cell']}: {c['seconds']:.1f}" for c in r["slowest_cells"])
        lines.append(f"| `{r['notebook']}` | {r['seconds']:.1f} | {r['load_average']} | {cells} |")
    lines.append(f"| **together** | **{total:.1f}** | | target ≤ {TARGET_SECONDS:.0f} s for chapters 5–7 |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", default=list(CHAPTERS), help="default: chapters 5-7")
    parser.add_argument("--write", action="store_true", help="write the chapter-times table of RESULTS.md")
    args = parser.parse_args(argv)
    os.environ["PYTHONHASHSEED"] = "0"             # as scripts/execute_notebooks.py runs them
    os.environ.pop("MPLBACKEND", None)
    rows = []
    for name in args.notebooks:
        path = (ROOT / name) if not Path(name).is_absolute() else Path(name)
        rows.append(time_notebook(path))
        r = rows[-1]
        cells = ", ".join(f"cell {c['cell']} {c['seconds']:.1f} s" for c in r["slowest_cells"])
        print(f"{r['notebook']}: {r['seconds']:.1f} s (load {r['load_average']}); slowest: {cells}", flush=True)
    total = sum(r["seconds"] for r in rows)
    print(f"together: {total:.1f} s")
    if args.write:
        RESULTS_MD.write_text(_replace_block(RESULTS_MD.read_text(), "chapter-times", markdown(rows)))
        (HERE / "chapters.json").write_text(json.dumps({"rows": rows, "seconds": total}, indent=2) + "\n")
        print(f"wrote {RESULTS_MD} and {HERE / 'chapters.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
