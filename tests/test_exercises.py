"""The exercise notebooks: generated from the solutions, in sync, and runnable as handed out.

* ``scripts/make_exercises.py`` turns solution regions into stubs and answers into prompts,
  deterministically; ``--check`` detects an exercises folder that is out of date.
* The solution notebooks hold every check's ✅ in their stored outputs.
* Every exercise notebook, untouched, runs top to bottom without an error, and each of its
  checks reports "not done yet".
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
SCRIPT = ROOT / "scripts" / "make_exercises.py"
NAMES = [
    "01_normal_distribution", "02_forward_process", "03_shortcut", "04_posterior", "05_model",
    "06_training_sampling", "07_optimal_solutions", "08_score", "09_fewer_steps", "10_patterns_and_guidance",
]
CHECK_CALL = re.compile(r"\b(check_\w+)\((?:\"[\d.]+\", )?([A-Za-z_]\w*)")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_exercises", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_exercises = _load_script()


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _code(nb: dict) -> list[str]:
    return [_source(c) for c in nb["cells"] if c["cell_type"] == "code"]


def _stream_text(nb: dict) -> str:
    return "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []) if o["output_type"] == "stream")


# =============================================================================
# The generator
# =============================================================================
def test_stub_keeps_indentation_and_uses_the_hint():
    source = (
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    ### BEGIN SOLUTION\n"
        "    ### HINT: square it,\n"
        "    ### HINT: then add one.\n"
        "    y = x * x\n"
        "    return y + 1\n"
        "    ### END SOLUTION\n"
        "\n"
        "class A:\n"
        "    def g(self):\n"
        "        ### BEGIN SOLUTION\n"
        "        return \"secret\"\n"
        "        ### END SOLUTION\n"
        "print('kept')"
    )
    stub = make_exercises.stub_code(source)
    assert stub == (
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    raise NotImplementedError(\"square it, then add one.\")\n"
        "\n"
        "class A:\n"
        "    def g(self):\n"
        f"        raise NotImplementedError(\"{make_exercises.GENERIC_HINT}\")\n"
        "print('kept')"
    )
    namespace: dict = {}
    exec(stub, namespace)  # the stubbed code is valid Python
    with pytest.raises(NotImplementedError, match="square it, then add one."):
        namespace["f"](2)


def test_hint_with_quotes_is_escaped():
    source = "def f():\n    ### BEGIN SOLUTION\n    ### HINT: use \"np.sort\" and a \\ backslash\n    pass\n    ### END SOLUTION"
    namespace: dict = {}
    exec(make_exercises.stub_code(source), namespace)
    with pytest.raises(NotImplementedError) as info:
        namespace["f"]()
    assert str(info.value) == 'use "np.sort" and a \\ backslash'


@pytest.mark.parametrize("source,message", [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a function body"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", "without ### END SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION", "without ### BEGIN SOLUTION"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "nested"),
])
def test_malformed_regions_are_rejected(source, message):
    with pytest.raises(make_exercises.SolutionFormatError, match=message):
        make_exercises.stub_code(source, "nb, cell 3")


def _toy_solution() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title", id="a"),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  id="b", execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", text="1\n")],
                                  metadata={"execution": {"iopub.status.idle": "2026"}, "tags": ["keep"]}),
        nbformat.v4.new_markdown_cell("**Answer.** Because of eq. (1.3).", id="c"),
        nbformat.v4.new_markdown_cell("The answer is 42.", id="d", metadata={"tags": ["answer"]}),
        nbformat.v4.new_markdown_cell("Only in the solutions.", id="e", metadata={"tags": ["solution-only"]}),
        nbformat.v4.new_markdown_cell("Only in the exercises.", id="f",
                                      metadata={"tags": ["exercise-only", "remove-cell"]}),
        nbformat.v4.new_markdown_cell(":::{exercise} Question 1.1\n:label: q1-1\n:nonumber:\n\nWhy?\n:::", id="g"),
        nbformat.v4.new_code_cell("def g():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION", id="h",
                                  metadata={"tags": ["hide-input"]}),
    ]
    return json.loads(nbformat.writes(nb))


def test_make_exercise_transforms_cells():
    solution = _toy_solution()
    before = json.dumps(solution, sort_keys=True)
    exercise = make_exercises.make_exercise(solution)
    assert json.dumps(solution, sort_keys=True) == before  # the input is not modified
    cells = exercise["cells"]
    assert [c["id"] for c in cells] == ["a", "b", "c", "d", "f", "g", "h"]
    assert cells[4]["metadata"] == {"tags": ["exercise-only"]}      # shown on the exercise page
    assert ":label: q1-1-task\n" in _source(cells[5])                # labels stay unique in the book
    assert cells[6]["metadata"] == {}                                  # solution code is folded only on solution pages
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert cells[1]["metadata"] == {"tags": ["keep"]}
    assert "return 1" not in _source(cells[1]) and "NotImplementedError" in _source(cells[1])
    assert _source(cells[2]) == _source(cells[3]) == make_exercises.ANSWER_PROMPT
    assert _source(cells[0]) == "# Title"


def test_solution_title_becomes_exercise_title():
    solution = _toy_solution()
    solution["cells"][0]["source"] = "# Solutions 3: the shortcut"
    exercise = make_exercises.make_exercise(solution)
    assert _source(exercise["cells"][0]) == "# Exercises 3: the shortcut"


def test_generation_is_deterministic_and_idempotent(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    (solutions / "01_toy.ipynb").write_text(json.dumps(_toy_solution()), encoding="utf-8")
    args = ["--solutions", str(solutions), "--exercises", str(exercises)]
    assert make_exercises.main(args) == 0
    first = (exercises / "01_toy.ipynb").read_bytes()
    assert make_exercises.main(args) == 0
    assert (exercises / "01_toy.ipynb").read_bytes() == first
    assert make_exercises.main(["--check", *args]) == 0
    nbformat.validate(nbformat.reads(first.decode("utf-8"), as_version=4))


def test_exercises_are_in_sync_with_solutions(capsys):
    assert make_exercises.main(["--check"]) == 0
    assert f"exercises are up to date ({len(NAMES)} notebooks)" in capsys.readouterr().out


def test_check_command_line_exit_code():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_out_of_sync_copy_is_detected(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, solutions)
    shutil.copytree(EXERCISES, exercises)
    args = ["--solutions", str(solutions), "--exercises", str(exercises)]
    assert make_exercises.main(["--check", *args]) == 0

    # Edit the text of a solution notebook: its exercise is now out of date.
    path = solutions / "02_forward_process.ipynb"
    nb = _read(path)
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown" and "Exercise 2.1" in _source(c))
    cell["source"] = _source(cell).replace("One step of the forward process", "A single forward step")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert make_exercises.main(["--check", *args]) == 1
    out = capsys.readouterr().out
    assert "out of date:" in out and "02_forward_process.ipynb" in out and "01_normal" not in out

    # Regenerating repairs it; a hand edit of an exercise is detected too.
    assert make_exercises.main(args) == 0
    assert make_exercises.main(["--check", *args]) == 0
    (exercises / "03_shortcut.ipynb").write_text("{}", encoding="utf-8")
    assert make_exercises.main(["--check", *args]) == 1
    assert make_exercises.main(args) == 0

    # A missing exercise and an exercise without a solution are detected.
    (exercises / "04_posterior.ipynb").unlink()
    assert make_exercises.main(["--check", *args]) == 1
    assert make_exercises.main(args) == 0
    shutil.copy(exercises / "05_model.ipynb", exercises / "99_orphan.ipynb")
    capsys.readouterr()
    assert make_exercises.main(["--check", *args]) == 1
    assert "no solution notebook for" in capsys.readouterr().out


# =============================================================================
# The notebooks as committed
# =============================================================================
def test_every_notebook_exists_in_both_folders():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_solution_notebook_structure(name):
    nb = _read(SOLUTIONS / f"{name}.ipynb")
    markdown = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    code = _code(nb)
    assert "**How the checks work.**" in markdown
    # a link back to the chapter(s) of the book
    chapters = re.findall(r"\]\(\.\./book/(\d\d_\w+)\.ipynb\)", markdown)
    assert chapters and all((ROOT / "book" / f"{c}.ipynb").is_file() for c in chapters)
    if name != "10_patterns_and_guidance":
        assert name in chapters
    # coding exercises: every stubbed function is checked in a later cell
    regions = sum(src.count(make_exercises.BEGIN) for src in code)
    calls = [m for src in code for m in CHECK_CALL.findall(src)]
    assert regions >= (4 if name.startswith("10") else 3)
    assert len(calls) >= 3
    for index, src in enumerate(code):
        if make_exercises.BEGIN in src:
            defined = re.findall(r"^def (\w+)\(", src, flags=re.M)
            later = " ".join(code[index:])
            for function in defined:
                if make_exercises.BEGIN in src.split(f"def {function}(", 1)[1].split("\ndef ", 1)[0]:
                    assert re.search(rf"check_\w+\((\"[\d.]+\", )?(\w+, )?{function}\b", later), \
                        f"{function} is never checked"
    # questions to think about: {exercise} blocks, each with a folded model answer ({solution}, dropdown)
    questions = re.findall(r":::\{exercise\} Question (\d+\.\d)\n:label: (q\d+-\d)\n", markdown)
    answers = [c for c in nb["cells"] if c["cell_type"] == "markdown" and make_exercises._is_answer(c)]
    assert len(questions) >= 1 and len(answers) == len(questions)
    assert all(len(_source(a)) > 150 for a in answers)
    for (_, label), answer in zip(questions, answers):
        assert _source(answer).startswith(f":::{{solution}} {label}\n:class: dropdown\n")
    # the page says what it is: "Solutions N", its solution code folded
    assert _source(nb["cells"][0]).startswith(f"# Solutions {int(name[:2])}: ")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and make_exercises.BEGIN in _source(cell):
            assert "hide-input" in cell["metadata"].get("tags", [])
    # exercises are graded: a warm-up or core exercise, and at least one challenge per chapter
    levels = re.findall(r"^## Exercise \d+\.\d: .*\((warm-up|core|challenge)\)$", markdown, flags=re.M)
    assert "challenge" in levels and ({"warm-up", "core"} & set(levels) or name.startswith("10"))


@pytest.mark.parametrize("name", NAMES)
def test_solution_outputs_show_every_check_passing(name):
    nb = _read(SOLUTIONS / f"{name}.ipynb")
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code_cells] == list(range(1, len(code_cells) + 1))
    assert not any(o["output_type"] == "error" for c in code_cells for o in c["outputs"])
    text = _stream_text(nb)
    calls = [m for c in code_cells for m in CHECK_CALL.findall(_source(c))]
    assert text.count("✅") == len(calls)
    assert "❌" not in text and "⏳" not in text and "Finish exercise" not in text


@pytest.mark.parametrize("name", NAMES)
def test_exercise_notebook_has_no_solutions(name):
    solution = _read(SOLUTIONS / f"{name}.ipynb")
    exercise = _read(EXERCISES / f"{name}.ipynb")
    for cell in exercise["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert "### BEGIN SOLUTION" not in _source(cell) and "### HINT" not in _source(cell)
    answers = [c for c in exercise["cells"] if c["cell_type"] == "markdown" and make_exercises._is_answer(c)]
    assert answers and all(_source(c) == make_exercises.ANSWER_PROMPT for c in answers)
    stubs = sum(src.count("raise NotImplementedError(") for src in _code(exercise))
    assert stubs == sum(src.count(make_exercises.BEGIN) for src in _code(solution))
    # the learner's page: its own title, no solution blocks, nothing folded away
    assert _source(exercise["cells"][0]).startswith(f"# Exercises {int(name[:2])}: ")
    markdown = "\n".join(_source(c) for c in exercise["cells"] if c["cell_type"] == "markdown")
    assert "{solution}" not in markdown and "**worked solutions**" not in markdown
    assert not any("hide-input" in c["metadata"].get("tags", []) or "remove-cell" in c["metadata"].get("tags", [])
                   for c in exercise["cells"])


@pytest.mark.parametrize("name", NAMES)
def test_hints_never_give_the_answer(name):
    """A stub's message is a hint: it contains no line of the solution it replaces."""
    solution = _read(SOLUTIONS / f"{name}.ipynb")
    for src in _code(solution):
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", src, flags=re.S):
            hint = " ".join(line.strip()[len("### HINT:"):] for line in region.splitlines()
                            if line.strip().startswith("### HINT:"))
            code_lines = [line.strip() for line in region.splitlines()
                          if line.strip() and not line.strip().startswith("#") and len(line.strip()) > 12]
            for line in code_lines:
                body = line.removeprefix("return ").strip()
                assert body not in hint, f"{name}: the hint gives away `{line}`"


def test_labels_are_unique_across_the_book():
    labels = []
    for folder in (SOLUTIONS, EXERCISES):
        for path in folder.glob("*.ipynb"):
            for cell in _read(path)["cells"]:
                labels += re.findall(r"^:label: (\S+)$", _source(cell), flags=re.M)
    assert labels and len(labels) == len(set(labels))


# =============================================================================
# Running the exercise notebooks as handed out
# =============================================================================
def _execute(path: Path) -> tuple[str, float, dict]:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return path.stem, time.perf_counter() - start, nb


@pytest.mark.slow
def test_untouched_exercise_notebooks_run_and_report_not_done_yet():
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_execute, [EXERCISES / f"{name}.ipynb" for name in NAMES]))
    total = time.perf_counter() - start
    for name, _, nb in results:
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], name
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        calls = [m for c in nb.cells if c.cell_type == "code" for m in CHECK_CALL.findall(c.source)]
        assert text.count("⏳ not done yet") == len(calls) >= 3, name
        assert "✅" not in text and "❌" not in text, name
    # Eight kernels, two at a time: about 30 s on an idle two-core machine. The bound leaves room
    # for a busy one; `make test` output shows the real time.
    assert total < 180, f"the exercise notebooks took {total:.0f} s"
