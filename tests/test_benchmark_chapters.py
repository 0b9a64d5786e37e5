"""The chapter-timing benchmark (benchmarks/chapters.py) on a two-cell notebook."""
from __future__ import annotations

import nbformat

from benchmarks.chapters import markdown, time_notebook


def test_a_notebook_is_timed_and_its_slowest_cell_named(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# two cells"),
                      nbformat.v4.new_code_cell("x = 1"),
                      nbformat.v4.new_code_cell("import time\ntime.sleep(0.3)")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    row = time_notebook(path, slowest=2)
    assert row["seconds"] >= 0.3                      # the kernel start and both cells
    first, second = row["slowest_cells"]
    assert first["cell"] == 2 and first["first_line"] == "import time"
    assert 0.3 <= first["seconds"] <= row["seconds"]
    assert second["cell"] == 1 and second["seconds"] < first["seconds"]
    assert nbformat.read(path, as_version=4).cells[2].outputs == []   # nothing written back
    table = markdown([row, {**row, "notebook": "again.ipynb"}])
    assert f"**{2 * row['seconds']:.1f}**" in table and "cell 2:" in table
