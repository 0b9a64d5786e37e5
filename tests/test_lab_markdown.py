"""scripts/lab_markdown.py: the notebooks' MyST, written so JupyterLab numbers and
refers to equations as the book does.

The rules are tested on small notebooks; the committed notebooks are checked
to be up to date with them; and the numbers the script writes into references
across notebooks are compared with the numbers Sphinx gave the equations in the
built book (an independent count), when the book has been built.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"


def _load():
    spec = importlib.util.spec_from_file_location("lab_markdown", ROOT / "scripts" / "lab_markdown.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lab_markdown", module)
    spec.loader.exec_module(module)
    return module


lab_markdown = _load()


def _notebook(*markdown: str) -> dict:
    cells = [{"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": text}
             for i, text in enumerate(markdown)]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_rules_on_two_chapters():
    ch2, ch4 = ROOT / "book" / "02_x.ipynb", ROOT / "book" / "04_y.ipynb"
    two = _notebook("# Two\n\n$$\na\n$$ (eq-a)\n\n$$\nb\n$$ (eq-b)\n")
    four = _notebook("# Four\n\n$$\nx = 1\n$$\n\nSee {eq}`eq-b` and {eq}`eq-c`.\n\n  $$\n  c\n  $$ (eq-c)\n")
    numbers = lab_markdown.equation_numbers({ch2: two, ch4: four})
    assert numbers["eq-b"] == (ch2, "(2.2)") and numbers["eq-c"] == (ch4, "(4.1)")
    new = lab_markdown.rewrite(ch4, four, numbers)
    first, body = new["cells"][0], "".join(new["cells"][1]["source"])
    assert first["metadata"] == {"tags": ["remove-cell"]}
    assert first["source"] == '---\nnumbering:\n  enumerator: "4.%s"\n---'
    assert "\\begin{equation*}\nx = 1\n\\end{equation*}" in body          # unlabelled: unnumbered
    assert "{eq}`(2.2) <eq-b>`" in body and "{eq}`eq-c`" in body            # across / within
    assert "  $$\n  c\n  $$ (eq-c)" in body                                  # labelled: kept
    again = lab_markdown.rewrite(ch4, new, numbers)
    assert again == new                                                      # idempotent
    assert four["cells"][0]["source"].startswith("# Four")                   # input untouched


def test_stale_reference_text_is_rewritten_and_unknown_labels_fail():
    ch1, ch3 = ROOT / "book" / "01_a.ipynb", ROOT / "book" / "03_b.ipynb"
    one = _notebook("$$\nz\n$$ (eq-z)\n")
    numbers = lab_markdown.equation_numbers({ch1: one})
    assert lab_markdown.rewrite_markdown("{eq}`(9.9) <eq-z>`", ch3, numbers) == "{eq}`(1.1) <eq-z>`"
    with pytest.raises(SystemExit, match="eq-missing"):
        lab_markdown.rewrite_markdown("{eq}`eq-missing`", ch3, numbers)


def test_appendix_and_solutions_get_no_chapter_number():
    assert lab_markdown.chapter_of(ROOT / "book" / "appendix.ipynb") is None
    assert lab_markdown.chapter_of(ROOT / "solutions" / "04_posterior.ipynb") is None
    assert lab_markdown.chapter_of(ROOT / "book" / "10_guidance.ipynb") == 10


@functools.lru_cache(maxsize=1)
def _committed() -> tuple[dict, dict]:
    loaded = {p: json.loads(p.read_text(encoding="utf8")) for p in lab_markdown.all_notebooks()}
    return loaded, lab_markdown.equation_numbers(loaded)


@pytest.mark.parametrize("path", lab_markdown.all_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_written_for_jupyterlab(path):
    loaded, numbers = _committed()
    new = lab_markdown.dumps(lab_markdown.as_lines(lab_markdown.rewrite(path, loaded[path], numbers)))
    assert new == path.read_text(encoding="utf8"), (
        f"{path.relative_to(ROOT)} is not written for JupyterLab: run "
        f"`.venv/bin/python scripts/lab_markdown.py {path.relative_to(ROOT)}`")


@pytest.mark.book
def test_reference_texts_are_the_numbers_of_the_built_book():
    if not (HTML_DIR / "index.html").is_file():
        pytest.skip("book not built: run `make book` first")
    shown = {}
    for page in HTML_DIR.glob("book/*.html"):
        html = page.read_text(encoding="utf8")
        for label, number in re.findall(
                r'id="equation-([\w-]+)">.*?<span class="eqno">\(([^)]*)\)', html, re.S):
            shown.setdefault(label, f"({number})")
    written = []
    for path in lab_markdown.all_notebooks():
        for text in lab_markdown.markdown_sources(json.loads(path.read_text(encoding="utf8"))):
            written += re.findall(r"\{eq\}`(\([^`<]*\)) <([\w:-]+)>`", text)
    assert written, "no reference across notebooks found"
    wrong = [(text, label, shown.get(label)) for text, label in written if shown.get(label) != text]
    assert not wrong, f"reference texts that differ from the book's numbers: {wrong[:10]}"
