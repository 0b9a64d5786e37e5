"""Generate the exercise notebooks from the solution notebooks.

The solution notebooks in ``solutions/`` are the one source.  For each of
them this script writes ``exercises/<same name>.ipynb`` in which

* every region of a code cell between a line ``### BEGIN SOLUTION`` and a line
  ``### END SOLUTION`` becomes ``raise NotImplementedError("<hint>")`` at the
  indentation of the ``BEGIN`` line.  The hint is the text of a
  ``### HINT: ...`` line inside the region (it may continue on following
  ``### HINT:`` lines), or a generic one.  A region must sit inside a function
  body (indented), so that the exercise notebook still runs top to bottom;
* every markdown cell tagged ``answer`` or starting with ``**Answer.**``
  becomes the prompt ``**Answer.** *Write your answer here.*``;
* cells tagged ``solution-only`` are dropped; cells tagged ``exercise-only`` (hidden
  on the solution page by ``remove-cell``) are kept, without ``remove-cell``;
* the first heading ``# Solutions N: …`` becomes ``# Exercises N: …``, the
  ``hide-input`` tags that fold the solution code are removed, and the labels of
  ``{exercise}`` blocks get the suffix ``-task`` (labels are unique in the book);
* outputs and execution counts are cleared, cell metadata is reduced to tags
  and editing flags, and the notebook metadata is a fixed kernel description,
  so re-executing the solutions does not change the exercises.

The output is deterministic (same bytes on every run), so running the script
twice changes nothing.

Usage::

    python scripts/make_exercises.py            # write exercises/
    python scripts/make_exercises.py --check    # exit 1 if exercises/ is out of date
    python scripts/make_exercises.py --solutions DIR --exercises DIR
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HINT = "### HINT:"
ANSWER_MARKER = "**Answer.**"
ANSWER_PROMPT = "**Answer.** *Write your answer here.*"
SOLUTION_TITLE = re.compile(r"^# Solutions (\d+):")
LABEL = re.compile(r"^(:label: )(\S+)$", flags=re.M)
DROPPED_TAGS = ("hide-input", "remove-cell")
GENERIC_HINT = "Replace this line with your code."
KEEP_CELL_METADATA = ("tags", "editable", "deletable", "jupyter", "slideshow")
# Fixed notebook metadata, so that re-executing the solutions (which rewrites the kernel
# and language details, and may store widget state) never changes the exercises.
EXERCISE_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}


class SolutionFormatError(ValueError):
    """A solution notebook breaks the conventions above."""


def _python_string(text: str) -> str:
    """``text`` as a double-quoted Python string literal."""
    return json.dumps(text, ensure_ascii=False)


def stub_code(source: str, where: str = "cell") -> str:
    """Replace every solution region of a code cell's ``source`` by a stub."""
    lines = source.split("\n")
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if region is not None:
                raise SolutionFormatError(f"{where}, line {number}: nested {BEGIN}")
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise SolutionFormatError(
                    f"{where}, line {number}: a solution region must be inside a function body "
                    "(indented), or the exercise notebook would stop there")
            region = []
        elif stripped.startswith(END):
            if region is None:
                raise SolutionFormatError(f"{where}, line {number}: {END} without {BEGIN}")
            hints = [r.strip()[len(HINT):].strip() for r in region if r.strip().startswith(HINT)]
            hint = " ".join(h for h in hints if h) or GENERIC_HINT
            out.append(f"{indent}raise NotImplementedError({_python_string(hint)})")
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise SolutionFormatError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _is_answer(cell: dict) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return "answer" in tags or _source(cell).lstrip().startswith(ANSWER_MARKER)


def make_exercise(notebook: dict, name: str = "notebook") -> dict:
    """The exercise version of a solution notebook (a new dict; the input is not changed)."""
    exercise = copy.deepcopy(notebook)
    exercise["metadata"] = copy.deepcopy(EXERCISE_METADATA)
    cells = []
    for index, cell in enumerate(exercise.get("cells", [])):
        metadata = cell.get("metadata", {})
        if "solution-only" in metadata.get("tags", []):
            continue
        cell["metadata"] = {k: v for k, v in metadata.items() if k in KEEP_CELL_METADATA}
        if "tags" in cell["metadata"]:
            tags = [t for t in cell["metadata"]["tags"] if t not in DROPPED_TAGS]
            if tags:
                cell["metadata"]["tags"] = tags
            else:
                del cell["metadata"]["tags"]
        if cell["cell_type"] == "code":
            cell["source"] = stub_code(_source(cell), f"{name}, cell {index}")
            cell["outputs"] = []
            cell["execution_count"] = None
        elif cell["cell_type"] == "markdown":
            if _is_answer(cell):
                cell["source"] = ANSWER_PROMPT
            else:
                text = SOLUTION_TITLE.sub(r"# Exercises \1:", _source(cell)) if not cells else _source(cell)
                cell["source"] = LABEL.sub(r"\1\2-task", text)
        cells.append(cell)
    exercise["cells"] = cells
    return exercise


def dumps(notebook: dict) -> str:
    """Serialise with nbformat (validated; sources split into lines, sorted keys), final newline."""
    text = nbformat.writes(nbformat.from_dict(notebook), version=4)
    return text if text.endswith("\n") else text + "\n"


def expected_exercises(solutions: Path) -> dict[str, str]:
    """File name -> exercise notebook text, for every solution notebook."""
    result = {}
    for path in sorted(solutions.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        result[path.name] = dumps(make_exercise(notebook, path.name))
    if not result:
        raise SolutionFormatError(f"no solution notebooks in {solutions}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if exercises/ differs from what would be written")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)
    try:
        expected = expected_exercises(args.solutions)
    except SolutionFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    present = {p.name for p in args.exercises.glob("*.ipynb")} if args.exercises.is_dir() else set()
    extra = sorted(present - set(expected))
    if args.check:
        stale = [name for name, text in expected.items()
                 if not (args.exercises / name).is_file()
                 or (args.exercises / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"out of date: {args.exercises / name}")
        for name in extra:
            print(f"no solution notebook for: {args.exercises / name}")
        if stale or extra:
            print("Run `python scripts/make_exercises.py` to regenerate the exercises.")
            return 1
        print(f"exercises are up to date ({len(expected)} notebooks)")
        return 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in expected.items():
        target = args.exercises / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written += 1
    for name in extra:
        print(f"warning: {args.exercises / name} has no solution notebook", file=sys.stderr)
    print(f"wrote {written} of {len(expected)} exercise notebooks to {args.exercises}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
