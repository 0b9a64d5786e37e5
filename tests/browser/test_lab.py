"""Every notebook of the course, opened in JupyterLab, reads as it does in the book.

One JupyterLab server (with the course's jupyterlab-myst) serves the module;
one Chromium page loads Lab once and opens each notebook of exercises/,
solutions/ and book/ in turn (its markdown only: no cell is run), then checks
its rendered markdown:

* every markdown cell was rendered by jupyterlab-myst, and no rendered text
  shows MyST source: a directive fence (``:::{``, a fenced ``{directive}``), a
  role (``{eq}``, ``{glue``, ``{doc}``, ``{ref}``), a reference MyST could not
  resolve (the "Cross Reference Not Found" sign, or ``??`` for its number);
* the display equations are numbered as in the book: the labelled ones of
  chapter N as (N.1), (N.2), ... in order, the unlabelled ones not at all
  (the labels are read from the notebook by scripts/lab_markdown.py);
* opening the notebooks changed no file on disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import time
from pathlib import Path

import pytest

from .conftest import ROOT, PageWatch, unavailable
from .test_live_sliders import JupyterLab

pytestmark = pytest.mark.browser

FOLDERS = ("exercises", "solutions", "book")
NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for f in FOLDERS for p in (ROOT / f).glob("*.ipynb"))
LAB_READY_TIMEOUT_S = 90
RENDER_TIMEOUT_S = 90
# Raw MyST a reader must never see in a rendered cell.
RAW_MYST = re.compile(r":::\{|```\{|\{(?:eq|glue|doc|ref|numref|math)[}:]")

# Lab marks some notebooks as changed once they are open (it fills in metadata), and
# closing a changed notebook asks "Save your work" in a dialog that would wait forever:
# nothing is saved here, so each is marked unchanged before it is closed.
OPEN_JS = """async (path) => {
  const app = window.jupyterapp;
  for (const widget of app.shell.widgets('main')) {
    if (widget.context && widget.context.model) widget.context.model.dirty = false;
  }
  await app.commands.execute('application:close-all');
  await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
}"""

# The rendered markdown of the current notebook, once every markdown cell is
# rendered; null while it is not.
RENDERED_JS = """(path) => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.content) return null;
  const cells = panel.content.widgets.filter((c) => c.model.type === 'markdown');
  if (!cells.length) return null;
  const result = [];
  for (const cell of cells) {
    const source = cell.model.sharedModel.getSource();
    const myst = cell.node.querySelector('.myst');
    if (!myst) return null;
    const equations = Array.from(myst.querySelectorAll('.katex-display')).map((eq) => {
      const row = eq.closest('div.flex');
      const tag = row && row.lastElementChild !== eq.parentElement ? row.lastElementChild : null;
      return tag ? tag.innerText.trim() : '';
    });
    result.push({
      source,
      text: myst.innerText,
      unresolved: myst.querySelectorAll('[title="Cross Reference Not Found"]').length,
      equations,
    });
  }
  return result;
}"""


def _lab_markdown():
    """scripts/lab_markdown.py, which knows the labels and chapter numbers."""
    spec = importlib.util.spec_from_file_location("lab_markdown", ROOT / "scripts" / "lab_markdown.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_numbers(rel: str) -> list[str]:
    """The numbers the book gives the display equations of ``rel``, '' for unnumbered ones."""
    lab_markdown = _lab_markdown()
    path = ROOT / rel
    chapter = lab_markdown.chapter_of(path)
    numbers, k = [], 0
    notebook = json.loads(path.read_text(encoding="utf8"))
    for text in lab_markdown.markdown_sources(notebook):
        blocks = [(m.start(), m.group("name")) for m in lab_markdown.DISPLAY_MATH.finditer(text)]
        blocks += [(m.start(), None) for m in re.finditer(r"^[ \t]*\\begin\{equation\*\}", text, re.M)]
        for _, label in sorted(blocks):
            if label:
                k += 1
                numbers.append(f"({chapter}.{k})" if chapter is not None else f"({k})")
            else:
                numbers.append("")
    return numbers


@pytest.fixture(scope="module")
def lab_page(browser_context):
    """A Lab page, loaded once; yields open(rel) -> rendered markdown cells."""
    if not NOTEBOOKS:
        unavailable("no notebooks found")
    try:
        import jupyterlab  # noqa: F401
        import jupyterlab_myst  # noqa: F401
    except ImportError as err:
        unavailable(f"{err.name} is not installed (see requirements.txt)")
    digests = {rel: hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() for rel in NOTEBOOKS}
    with JupyterLab(ROOT) as server:
        watch = PageWatch.open(browser_context)
        page = watch.page
        page.goto(f"{server.url}lab?token={server.token}", wait_until="load")
        page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)",
                               timeout=LAB_READY_TIMEOUT_S * 1000)
        page.evaluate("() => window.jupyterapp.restored")

        def open_notebook(rel: str) -> list[dict]:
            page.evaluate(OPEN_JS, rel)
            handle = page.wait_for_function(RENDERED_JS, arg=rel, timeout=RENDER_TIMEOUT_S * 1000, polling=200)
            time.sleep(0.3)      # the notebook-wide pass (numbers, references) runs after the cells
            cells = page.evaluate(RENDERED_JS, rel) or handle.json_value()
            for session in server.api("GET", "api/sessions") or []:
                server.api("DELETE", f"api/sessions/{session['id']}")
            return cells

        yield open_notebook
        watch.close()
    changed = [rel for rel in NOTEBOOKS if hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() != digests[rel]]
    assert not changed, f"opening the notebooks in JupyterLab modified {changed}"


@pytest.mark.parametrize("rel", NOTEBOOKS)
def test_notebook_reads_as_in_the_book(lab_page, rel):
    cells = lab_page(rel)
    problems = []
    for cell in cells:
        first_line = cell["source"].strip().splitlines()[0] if cell["source"].strip() else ""
        raw = sorted(set(RAW_MYST.findall(cell["text"])))
        if raw:
            problems.append(f"raw MyST {raw} in the cell starting {first_line!r}")
        if cell["unresolved"] or re.search(r"\?\?", cell["text"]):
            problems.append(f"an unresolved reference in the cell starting {first_line!r}")
    shown = [number for cell in cells for number in cell["equations"]]
    expected = expected_numbers(rel)
    if shown != expected:
        problems.append(f"equation numbers {shown}, expected {expected} as in the book")
    assert not problems, f"{rel} in JupyterLab:\n" + "\n".join(problems)
