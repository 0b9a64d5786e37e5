"""Write the notebooks' MyST so that JupyterLab (with jupyterlab-myst) numbers and
refers to equations as the book does.

The book (Sphinx) and jupyterlab-myst read the same markdown cells but differ in
three ways; each rule below closes one gap, in markup both of them accept:

1. **Chapter numbers.** The book numbers the equations of chapter 4 as (4.1),
   (4.2), ...; jupyterlab-myst counts (1), (2), ... per notebook unless the
   notebook's first markdown cell holds MyST front matter. Each chapter
   ``book/NN_*.ipynb`` gets, as its first cell, a markdown cell tagged
   ``remove-cell`` (so the book skips it) holding::

       ---
       numbering:
         enumerator: "4.%s"
       ---

2. **Only labelled equations are numbered.** The book numbers a display
   equation only if it has a label, ``$$ ... $$ (eq-label)``; jupyterlab-myst
   numbers every ``$$ ... $$``. A display equation without a label is written as
   ``\\begin{equation*} ... \\end{equation*}`` (an amsmath block), which both
   leave unnumbered.

3. **References to another notebook.** jupyterlab-myst resolves ``{eq}`label```
   only within one notebook and shows a label it cannot find with a warning
   sign. A reference to an equation of another notebook is written with its
   number as explicit text, ``{eq}`(2.3) <eq-forward-step>```: jupyterlab-myst
   shows the text, the book ignores it and prints the number it computes. The
   number written here is computed from the notebooks (chapter number times
   the position of the label among the chapter's labelled equations), so
   running the script again after equations move keeps the text right.

Usage: python scripts/lab_markdown.py [--check] [NOTEBOOK ...]
(default: every notebook of book/, solutions/ and exercises/). With --check,
nothing is written; the exit status is 1 if a notebook needs rewriting.
The rules only touch markdown cells; outputs are kept as they are.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("book", "solutions", "exercises")
FRONT_MATTER_ID = "lab-numbering"
FRONT_MATTER = '---\nnumbering:\n  enumerator: "{chapter}.%s"\n---'
# $$ ... $$ (label) or $$ ... $$ on lines of their own (indentation allowed).
DISPLAY_MATH = re.compile(
    r"^(?P<indent>[ \t]*)\$\$[ \t]*\n(?P<body>.*?)\n[ \t]*\$\$(?P<label>[ \t]*\((?P<name>[\w:-]+)\))?[ \t]*$",
    re.M | re.S,
)
EQ_ROLE = re.compile(r"\{eq\}`(?:[^`<]*<)?(?P<label>[\w:-]+)>?`")


def chapter_of(path: Path) -> int | None:
    """The chapter number of ``book/NN_*.ipynb``; None for any other notebook."""
    match = re.fullmatch(r"(\d\d)_.*\.ipynb", path.name)
    return int(match.group(1)) if match and path.parent.name == "book" else None


def markdown_sources(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]


def equation_labels(notebook: dict) -> list[str]:
    """The labels of the notebook's display equations, in order (the book numbers them so)."""
    return [m.group("name") for text in markdown_sources(notebook)
            for m in DISPLAY_MATH.finditer(text) if m.group("name")]


def equation_numbers(notebooks: dict[Path, dict]) -> dict[str, tuple[Path, str]]:
    """label -> (notebook, "(N.k)") for every labelled equation of a numbered chapter."""
    numbers: dict[str, tuple[Path, str]] = {}
    for path, notebook in notebooks.items():
        chapter = chapter_of(path)
        for k, label in enumerate(equation_labels(notebook), start=1):
            shown = f"({chapter}.{k})" if chapter is not None else f"({k})"
            numbers[label] = (path, shown)
    return numbers


def unnumbered(match: re.Match) -> str:
    """Rule 2: an unlabelled $$ block as an equation* block."""
    if match.group("label"):
        return match.group(0)
    indent = match.group("indent")
    return f"{indent}\\begin{{equation*}}\n{match.group('body')}\n{indent}\\end{{equation*}}"


def rewrite_markdown(text: str, path: Path, numbers: dict[str, tuple[Path, str]]) -> str:
    """Rules 2 and 3 applied to the text of one markdown cell of ``path``."""
    text = DISPLAY_MATH.sub(unnumbered, text)

    def reference(match: re.Match) -> str:
        label = match.group("label")
        if label not in numbers:
            raise SystemExit(f"{path}: {{eq}}`{label}` refers to no labelled equation")
        home, shown = numbers[label]
        if home == path:
            return f"{{eq}}`{label}`"
        return f"{{eq}}`{shown} <{label}>`"

    return EQ_ROLE.sub(reference, text)


def front_matter_cell(chapter: int) -> dict:
    """Rule 1: the hidden first cell that gives jupyterlab-myst the chapter number."""
    return {
        "cell_type": "markdown",
        "id": FRONT_MATTER_ID,
        "metadata": {"tags": ["remove-cell"]},
        "source": FRONT_MATTER.format(chapter=chapter),
    }


def rewrite(path: Path, notebook: dict, numbers: dict[str, tuple[Path, str]]) -> dict:
    """The notebook with the three rules applied (a new dict; the input is left alone)."""
    notebook = json.loads(json.dumps(notebook))
    cells = [c for c in notebook["cells"] if c.get("id") != FRONT_MATTER_ID]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            new = rewrite_markdown("".join(cell["source"]), path, numbers)
            if new != "".join(cell["source"]):
                cell["source"] = new
    chapter = chapter_of(path)
    if chapter is not None and equation_labels(notebook):
        cells.insert(0, front_matter_cell(chapter))
    notebook["cells"] = cells
    return notebook


def as_lines(notebook: dict) -> dict:
    """Sources as lists of lines, as Jupyter writes them (so diffs stay small)."""
    for cell in notebook["cells"]:
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    return notebook


def dumps(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def all_notebooks() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a notebook would change")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    loaded = {p: json.loads(p.read_text(encoding="utf8")) for p in all_notebooks()}
    numbers = equation_numbers(loaded)
    targets = [p.resolve() for p in args.notebooks] or list(loaded)
    stale = []
    for path in targets:
        notebook = loaded.get(path) or json.loads(path.read_text(encoding="utf8"))
        text = path.read_text(encoding="utf8")
        new = dumps(as_lines(rewrite(path, notebook, numbers)))
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf8")
    verb = "need rewriting" if args.check else "rewritten"
    for rel in stale:
        print(f"{rel}: {verb}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
