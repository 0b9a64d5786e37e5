"""The live sliders of the chapters, driven in JupyterLab with a real kernel.

A JupyterLab server runs on 127.0.0.1 (random port and token, its own
settings, workspace, runtime and data folders, autosave off so the notebooks
on disk are never rewritten).  Headless Chromium opens a chapter, clears its
outputs and runs all cells; then the tests move sliders of the live views of
:mod:`ddpm_lessons.widgets` with the keyboard (arrow keys on the focused slider
handle, as a reader would) and check that

* the figure of the view is redrawn (its image changes), and
* the numbers in the readout are the ones an independent computation gives
  for the new slider values: ᾱ_T from :mod:`ddpm_lessons.schedules`, the prior
  KL from its closed form -½ log(1 - ᾱ_T), the posterior mean and variance
  from :class:`ddpm_lessons.diffusion.GaussianDiffusion`.

The slider values are read from the kernel (exact numbers, not the rounded
slider labels): the widgets displayed in the view's cell are looked up by
their model ids and their children walked for the ``ddpm-slider-*`` classes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT, PageWatch, free_port, unavailable

pytestmark = pytest.mark.browser

CHAPTER_2 = "book/02_forward_process.ipynb"
CHAPTER_4 = "book/04_posterior.ipynb"
LIVE_CHAPTERS = (CHAPTER_2, CHAPTER_4)
SCREENSHOTS = ROOT / "_build" / "screenshots"
LAB_START_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 240
WIDGET_TIMEOUT_S = 30

# JupyterLab user settings for the test server: never save a notebook (the
# chapters on disk must stay as committed), keep every cell in the DOM, and
# do not look for news or updates on the internet.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


# --------------------------------------------------------------------------- JupyterLab


class JupyterLab:
    """A JupyterLab server in a subprocess, stopped with its kernels on exit."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = Path(tempfile.mkdtemp(prefix="ddpm-lab-"))
        self.log_path = self.tmp / "lab.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "JupyterLab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        settings = self.tmp / "settings"
        for rel, values in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf8")
        env = dict(os.environ)
        # Kernels must use the inline backend (Agg would give no figure outputs).
        env.pop("MPLBACKEND", None)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
        )
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # Checkpoints go to the temporary folder, not beside the chapters.
            f"--FileCheckpoints.checkpoint_dir={self.tmp / 'checkpoints'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")      # containers often run as root
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + LAB_START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer within {LAB_START_TIMEOUT_S} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def api(self, method: str, path: str):
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf8", errors="replace")
        except OSError:
            return "(no log)"
        text = text.replace(self.token, "<token>")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM: it shuts its kernels down), kill it after
        15 s, then kill any of its kernels that outlived it."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                import psutil

                kernels = psutil.Process(process.pid).children(recursive=True)
            except Exception:  # noqa: BLE001 - psutil missing or the server gone already
                kernels = []
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            for kernel in kernels:
                try:
                    if kernel.is_running():
                        kernel.kill()
                except Exception:  # noqa: BLE001 - exited in the meantime
                    pass
        if hasattr(self, "log"):
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- a notebook in Lab

PANEL_READY_JS = """(path) => {
  const app = window.jupyterapp;
  const panel = app && app.shell && app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.sessionContext) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!(panel.sessionContext.isReady && kernel && kernel.status === 'idle');
}"""

RUN_STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const errors = [];
  let pending = 0, total = 0;
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) continue;
    total += 1;
    const tags = cell.model.getMetadata ? (cell.model.getMetadata('tags') || []) : [];
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error' && !tags.includes('raises-exception')) {
        errors.push(out.ename + ': ' + out.evalue);
      }
    }
    if (cell.model.executionCount === null) pending += 1;
  }
  const idle = !!(kernel && kernel.status === 'idle');
  if (errors.length && idle) return {errors, pending, total};
  return (idle && pending === 0) ? {errors, pending, total} : null;
}"""

KERNEL_EXECUTE_JS = """async (code) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let text = '';
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === 'stream') text += msg.content.text;
    if (type === 'error') text += 'KERNEL-ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  const timeout = new Promise((done) => setTimeout(() => done('timeout'), 60000));
  if (await Promise.race([future.done, timeout]) === 'timeout') return 'KERNEL-TIMEOUT after 60 s';
  return text;
}"""

CELL_MODEL_IDS_JS = """(view) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const node = view.closest('.jp-Cell');
  const cell = panel.content.widgets.find((c) => c.node === node);
  if (!cell) return [];
  const ids = [];
  const outputs = cell.model.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const data = outputs.get(i).data['application/vnd.jupyter.widget-view+json'];
    if (data && data.model_id) ids.push(data.model_id);
  }
  return ids;
}"""

VIEW_DOM_JS = """(view) => ({
  readout: (view.querySelector('.ddpm-readout') || {innerText: ''}).innerText,
  images: Array.from(view.querySelectorAll('.ddpm-figure img')).map((img) => img.getAttribute('src') || ''),
  loaded: Array.from(view.querySelectorAll('.ddpm-figure img')).every((img) => img.complete && img.naturalWidth > 0),
})"""

# Runs in the kernel: the widget trees displayed in one cell, by model id;
# for every ddpm-view its sliders (by ddpm-slider-* class) and readout.
KERNEL_VIEWS_CODE = r"""
def _ddpm_views(model_ids):
    import json
    from ipywidgets.widgets.widget import _instances

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()) or ():
            yield from walk(child)

    views = []
    for model_id in model_ids:
        root = _instances.get(model_id)
        if root is None:
            continue
        for widget in walk(root):
            classes = list(getattr(widget, "_dom_classes", ()))
            if "ddpm-view" not in classes:
                continue
            view = {"model_id": widget.model_id, "classes": classes, "controls": {}, "readout": None}
            for part in walk(widget):
                part_classes = getattr(part, "_dom_classes", ())
                for cls in part_classes:
                    if cls.startswith("ddpm-slider-") and cls != "ddpm-slider":
                        low, high = getattr(part, "min", None), getattr(part, "max", None)
                        if hasattr(part, "base") and low is not None:   # FloatLogSlider: exponents
                            low, high = part.base ** low, part.base ** high
                        view["controls"][cls[len("ddpm-slider-"):]] = {
                            "value": part.value, "min": low, "max": high,
                        }
                if "ddpm-readout" in part_classes:
                    view["readout"] = part.value
            views.append(view)
    print("DDPM-VIEWS " + json.dumps(views, default=str))

_ddpm_views(%s)
del _ddpm_views
"""


def _fingerprint(src: str) -> str:
    return f"sha1:{hashlib.sha1(src.encode()).hexdigest()[:12]} ({len(src)} chars)"


@dataclass
class ViewState:
    """A live view at one moment: exact slider values (from the kernel), the
    readout text shown in the browser, and fingerprints of its figure images."""

    values: dict
    limits: dict
    readout: str
    images: list[str]

    def number(self, label: str) -> str:
        """The number printed after ``label =`` in the readout (as shown)."""
        text = unicodedata.normalize("NFC", self.readout)
        match = re.search(r"(?<!\w)" + re.escape(unicodedata.normalize("NFC", label)) + r"\s*=\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)", text)
        assert match, f"the readout does not show {label!r}: {self.readout!r}"
        return match.group(1)


class LabNotebook:
    """One chapter opened in JupyterLab, with all its cells run."""

    def __init__(self, lab: JupyterLab, context, rel: str):
        self.lab, self.rel = lab, rel
        self.watch = PageWatch.open(context)
        self.page = self.watch.page

    def start(self) -> None:
        """Open the notebook, wait for its kernel, clear the outputs and start "Run All"."""
        page = self.page
        page.goto(f"{self.lab.url}lab/tree/{self.rel}?token={self.lab.token}", wait_until="load")
        try:
            page.wait_for_function(PANEL_READY_JS, arg=self.rel, timeout=LAB_START_TIMEOUT_S * 1000, polling=250)
        except Exception as err:  # noqa: BLE001 - add the server log to the message
            self.screenshot("failure-open")
            raise AssertionError(f"{self.rel} did not open with an idle kernel: {err}\n{self.lab.log_tail()}") from err
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def finish(self) -> None:
        """Wait until every code cell has run; fail on any error output."""
        try:
            handle = self.page.wait_for_function(RUN_STATE_JS, timeout=RUN_ALL_TIMEOUT_S * 1000, polling=500)
        except Exception as err:  # noqa: BLE001
            self.screenshot("failure-run")
            raise AssertionError(f"{self.rel}: cells still running after {RUN_ALL_TIMEOUT_S} s ({err})") from err
        state = handle.json_value()
        assert not state["errors"], f"{self.rel}: cells raised errors in JupyterLab: {state['errors']}"
        assert state["total"] > 0, f"{self.rel} has no code cells"

    def screenshot(self, suffix: str, locator=None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"live-{Path(self.rel).stem}-{suffix}.png"
        try:
            (locator or self.page).screenshot(path=str(path))
        except Exception:  # noqa: BLE001 - a screenshot is only an aid
            pass
        return path

    def run_in_kernel(self, code: str) -> str:
        return self.page.evaluate(KERNEL_EXECUTE_JS, code)

    def view(self, name: str, index: int = 0):
        """The index-th live view ``ddpm-view-<name>`` on the page."""
        views = self.page.locator(f".ddpm-view.ddpm-view-{name}")
        count = views.count()
        assert count > index, (
            f"{self.rel}: found {count} live view(s) with class ddpm-view-{name} after running all "
            f"cells in JupyterLab; expected at least {index + 1}"
        )
        view = views.nth(index)
        view.scroll_into_view_if_needed()
        return view

    def state(self, view) -> ViewState:
        """Slider values from the kernel and what the browser shows, once both agree."""
        handle = view.element_handle()
        model_ids = self.page.evaluate(CELL_MODEL_IDS_JS, handle)
        assert model_ids, f"{self.rel}: no widget output found in the cell of the view"
        # Views of the same kind in one cell are matched by their order.
        kinds = sorted(c for c in view.get_attribute("class").split() if c.startswith("ddpm-view-"))
        assert kinds, f"{self.rel}: the view has no ddpm-view-<name> class"
        same_kind = view.locator("xpath=ancestor::div[contains(@class,'jp-Cell')][1]").locator(
            "." + ".".join(kinds)
        )
        position = next(
            (i for i in range(same_kind.count())
             if same_kind.nth(i).evaluate("(el, other) => el === other", handle)),
            0,
        )
        deadline = time.monotonic() + WIDGET_TIMEOUT_S
        previous = None
        while True:
            kernel_view = self._kernel_view(model_ids, kinds, position)
            expected_text = _html_text(kernel_view["readout"] or "")
            dom = view.evaluate(VIEW_DOM_JS)
            shown = unicodedata.normalize("NFC", " ".join(dom["readout"].split()))
            observed = (expected_text, shown, tuple(dom["images"]))
            # Done when the browser shows what the kernel holds, the figure has
            # loaded, and nothing changed since the last look.
            if shown == expected_text and dom["images"] and dom["loaded"] and observed == previous:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.rel}: the browser does not show the kernel's state after "
                    f"{WIDGET_TIMEOUT_S} s: readout {shown!r}, kernel {expected_text!r}, "
                    f"{len(dom['images'])} image(s)"
                )
            previous = observed
            time.sleep(0.1)
        controls = kernel_view["controls"]
        return ViewState(
            values={key: c["value"] for key, c in controls.items()},
            limits={key: (c["min"], c["max"]) for key, c in controls.items()},
            readout=dom["readout"],
            images=[_fingerprint(src) for src in dom["images"]],
        )

    def _kernel_view(self, model_ids: list[str], kinds: list[str], position: int) -> dict:
        output = self.run_in_kernel(KERNEL_VIEWS_CODE % json.dumps(model_ids))
        assert "DDPM-VIEWS " in output, f"{self.rel}: reading the widgets in the kernel failed: {output}"
        views = json.loads(output.split("DDPM-VIEWS ", 1)[1])
        kernel_views = [v for v in views if set(kinds) <= set(v["classes"])]
        assert len(kernel_views) > position, f"{self.rel}: the kernel has no widget for this view: {views}"
        return kernel_views[position]

    def nudge(self, view, control: str, steps: int, before: ViewState) -> ViewState:
        """Press an arrow key ``steps`` times on the focused handle of a slider.

        Right/up if the slider is below its maximum, left otherwise.  Returns
        the state once the kernel has handled every move.
        """
        assert control in before.values, (
            f"{self.rel}: the view has no slider ddpm-slider-{control}; it has {sorted(before.values)}"
        )
        low, high = before.limits[control]
        key = "ArrowRight" if high is None or before.values[control] < high else "ArrowLeft"
        handle = view.locator(f".ddpm-slider-{control} .noUi-handle")
        assert handle.count() == 1, f"{self.rel}: no slider handle for ddpm-slider-{control}"
        handle.scroll_into_view_if_needed()
        handle.focus()
        state = before
        for step in range(1, steps + 1):
            previous = state.values[control]
            handle.press(key)
            # The widget manager may hold a change back until the kernel has
            # handled the previous one: wait until this move has arrived.
            deadline = time.monotonic() + WIDGET_TIMEOUT_S
            while True:
                state = self.state(view)
                if state.values[control] != previous:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{self.rel}: {key} number {step} on ddpm-slider-{control} did not change its "
                        f"value ({previous}) within {WIDGET_TIMEOUT_S} s"
                    )
                time.sleep(0.1)
        return state

    def close(self) -> None:
        self.watch.close()


def _html_text(value: str) -> str:
    """The text a browser shows for the readout's HTML (lines joined by spaces)."""
    import html

    text = re.sub(r"<br\s*/?>", " ", value)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return unicodedata.normalize("NFC", " ".join(text.split()))


def agrees(shown: str, expected: float) -> bool:
    """True when ``shown`` is ``expected`` rounded to the digits it shows.

    "0.9521" may differ from the exact value by half of 1e-4, "1.2e-05" by
    half of 1e-6, and so on.
    """
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** ((int(exponent) if exponent else 0) - decimals)
    return abs(float(shown) - expected) <= 0.5 * unit * (1 + 1e-9) + 1e-300


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lab(browser_context):
    if not (ROOT / CHAPTER_2).is_file():
        unavailable(f"{CHAPTER_2} is missing")
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        unavailable("JupyterLab is not installed (see requirements.txt)")
    with JupyterLab(ROOT) as server:
        yield server


@pytest.fixture(scope="module")
def chapter(lab, browser_context):
    """chapter(rel) -> LabNotebook, opened and run once per module.

    The first call starts every chapter of LIVE_CHAPTERS at once (their
    kernels run side by side), then waits for the one asked for.  On teardown
    the pages are closed and each chapter file is checked to be byte-for-byte
    what it was (the tests must never save a notebook).
    """
    opened: dict[str, LabNotebook] = {}
    failures: dict[str, BaseException | None] = {}
    digests: dict[str, str] = {}

    def _start(rel: str) -> None:
        digests[rel] = hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()
        opened[rel] = LabNotebook(lab, browser_context, rel)
        try:
            opened[rel].start()
        except Exception as err:  # noqa: BLE001 - reported to the tests of that chapter
            failures[rel] = err

    def _open(rel: str) -> LabNotebook:
        if not (ROOT / rel).is_file():
            unavailable(f"{rel} is missing")
        if not opened:
            for other in [rel] + [r for r in LIVE_CHAPTERS if r != rel and (ROOT / r).is_file()]:
                _start(other)
        elif rel not in opened:
            _start(rel)
        if rel not in failures:
            try:
                opened[rel].finish()
                failures[rel] = None
            except Exception as err:  # noqa: BLE001
                failures[rel] = err
        if failures[rel] is not None:
            raise AssertionError(f"{rel} could not be run in JupyterLab: {failures[rel]}")
        return opened[rel]

    yield _open
    for notebook in opened.values():
        notebook.close()
    changed = [rel for rel, digest in digests.items()
               if hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() != digest]
    assert not changed, f"the browser tests modified {changed}"


# jupyterlab-myst resolves references only inside one notebook, and logs this error for
# every reference to another chapter's equation, although it shows the number written into
# the reference's text (scripts/lab_markdown.py); tests/browser/test_lab.py checks that
# every reference reads as in the book.
OTHER_NOTEBOOK_REFERENCE = "Cross reference target was not found"


def _other_notebooks_reference(message: str) -> bool:
    return OTHER_NOTEBOOK_REFERENCE in message


def _assert_page_clean(notebook: LabNotebook) -> None:
    """JupyterLab threw no uncaught exception, logged no error, fetched nothing from outside."""
    watch = notebook.watch
    problems = [f"uncaught exception: {m}" for m in watch.page_errors]
    problems += [f"console error: {m}" for m in watch.console_errors if not _other_notebooks_reference(m)]
    problems += [f"request to another host: {u}" for u in watch.external_requests]
    problems += [f"HTTP error: {r}" for r in watch.bad_responses]
    assert not problems, f"{notebook.rel} in JupyterLab: " + "; ".join(problems[:10])


def _needs_live_view(notebook: LabNotebook, name: str, helper: str) -> None:
    if not notebook.page.locator(f".ddpm-view.ddpm-view-{name}").count():
        pytest.fail(
            f"{notebook.rel} shows no live view ddpm-view-{name} in JupyterLab "
            f"(expected one made by ddpm_lessons.widgets.{helper})",
            pytrace=False,
        )


# --------------------------------------------------------------------------- chapter 2


def _forward_expectations(values: dict) -> dict:
    """ᾱ_t, ᾱ_T and the prior KL for slider values, from ddpm_lessons.schedules."""
    from ddpm_lessons.schedules import alphas_cumprod, linear_beta_schedule

    betas = linear_beta_schedule(int(values["T"]), float(values["beta-start"]), float(values["beta-end"]))
    abar = np.append(1.0, alphas_cumprod(betas))           # abar[t] = ᾱ_t, ᾱ_0 = 1
    abar_T = float(abar[-1])
    return {
        "alpha_bar_T": abar_T,
        "alpha_bar_t": float(abar[int(values["t"])]),
        # KL(N(√ᾱ_T, 1-ᾱ_T) ‖ N(0, 1)) at x_0 = 1 simplifies to -½ log(1 - ᾱ_T).
        "prior_kl": -0.5 * math.log1p(-abar_T),
    }


def _check_forward_readout(state: ViewState, where: str) -> dict:
    expected = _forward_expectations(state.values)
    problems = []
    for label, key in (("ᾱ_T", "alpha_bar_T"), ("ᾱ_t", "alpha_bar_t"), ("prior KL", "prior_kl")):
        shown = state.number(label)
        if not agrees(shown, expected[key]):
            problems.append(f"{label} shown {shown}, expected {expected[key]:.6g}")
    if state.number("t") != str(state.values["t"]):
        problems.append(f"t shown {state.number('t')}, slider at {state.values['t']}")
    if state.number("T") != str(state.values["T"]):
        problems.append(f"T shown {state.number('T')}, slider at {state.values['T']}")
    assert not problems, (
        f"{where}: the readout disagrees with ddpm_lessons.schedules for sliders "
        f"{state.values}: {problems}\nreadout: {state.readout!r}"
    )
    return expected


def test_chapter2_t_slider_redraws_the_points(chapter):
    notebook = chapter(CHAPTER_2)
    _needs_live_view(notebook, "forward", "forward_view")
    view = notebook.view("forward")
    before = notebook.state(view)
    _check_forward_readout(before, "before moving t")
    after = notebook.nudge(view, "t", 3, before)
    notebook.screenshot("forward-view", view)

    moved = abs(after.values["t"] - before.values["t"])
    assert moved == 3, f"three arrow presses moved t from {before.values['t']} to {after.values['t']}"
    assert after.images != before.images, "moving t did not redraw the figure"
    expected = _check_forward_readout(after, "after moving t")
    assert after.number("ᾱ_T") == before.number("ᾱ_T"), "ᾱ_T changed although only t moved"
    assert after.number("ᾱ_t") != before.number("ᾱ_t"), "ᾱ_t did not change with t"
    assert math.isclose(float(after.number("ᾱ_t")), expected["alpha_bar_t"], rel_tol=1e-3)


def test_chapter2_beta_end_slider_changes_alpha_bar_T(chapter):
    notebook = chapter(CHAPTER_2)
    _needs_live_view(notebook, "forward", "forward_view")
    view = notebook.view("forward")
    before = notebook.state(view)
    after = notebook.nudge(view, "beta-end", 2, before)

    assert after.values["beta-end"] != before.values["beta-end"], "the β_end slider did not move"
    assert after.images != before.images, "moving β_end did not redraw the figure"
    expected = _check_forward_readout(after, "after moving β_end")
    old, new = float(before.number("ᾱ_T")), float(after.number("ᾱ_T"))
    # More noise per step leaves less signal: ᾱ_T falls when β_end rises.
    if after.values["beta-end"] > before.values["beta-end"]:
        assert new < old, f"β_end rose but ᾱ_T went from {old} to {new}"
    else:
        assert new > old, f"β_end fell but ᾱ_T went from {old} to {new}"
    assert math.isclose(new, expected["alpha_bar_T"], rel_tol=1e-3)


def test_chapter2_beta_start_slider_changes_alpha_bar_T(chapter):
    notebook = chapter(CHAPTER_2)
    _needs_live_view(notebook, "forward", "forward_view")
    view = notebook.view("forward")
    before = notebook.state(view)
    after = notebook.nudge(view, "beta-start", 2, before)

    assert after.values["beta-start"] != before.values["beta-start"], "the β_start slider did not move"
    assert after.images != before.images, "moving β_start did not redraw the figure"
    _check_forward_readout(after, "after moving β_start")
    assert after.number("ᾱ_T") != before.number("ᾱ_T"), "ᾱ_T did not change with β_start"


# --------------------------------------------------------------------------- chapter 4


def _posterior_expectations(t: int, x0: float, xt: float) -> dict:
    """μ̃_t, β̃_t and ᾱ_t from GaussianDiffusion for the demonstration schedule
    (linear 1e-4 … 0.02 rescaled to T = 40 by eq. (2.6))."""
    import torch

    from ddpm_lessons.diffusion import GaussianDiffusion
    from ddpm_lessons.schedules import linear_beta_schedule

    diffusion = GaussianDiffusion(linear_beta_schedule(40, 1e-4, 0.02), dtype=torch.float64)
    x0_t = torch.tensor([[x0]], dtype=torch.float64)
    xt_t = torch.tensor([[xt]], dtype=torch.float64)
    mean, var, _ = diffusion.q_posterior_mean_variance(x0_t, xt_t, torch.tensor([t]))
    return {
        "posterior_mean": float(mean.reshape(-1)[0]),
        "posterior_variance": float(var.reshape(-1)[0]),
        "alpha_bar_t": float(diffusion.alphas_cumprod[t - 1]),
    }


def _check_posterior_readout(state: ViewState, where: str) -> dict:
    values = state.values
    expected = _posterior_expectations(int(values["t"]), float(values["x0"]), float(values["xt"]))
    problems = []
    for label, key in (("ᾱ_t", "alpha_bar_t"), ("μ̃_t", "posterior_mean"), ("β̃_t", "posterior_variance")):
        shown = state.number(label)
        if not agrees(shown, expected[key]):
            problems.append(f"{label} shown {shown}, expected {expected[key]:.6g}")
    assert not problems, (
        f"{where}: the readout disagrees with GaussianDiffusion.q_posterior_mean_variance "
        f"(demonstration schedule, T = 40) for sliders {values}: {problems}\nreadout: {state.readout!r}"
    )
    return expected


def test_chapter4_x0_slider_moves_the_posterior(chapter):
    notebook = chapter(CHAPTER_4)
    _needs_live_view(notebook, "posterior", "posterior_view")
    view = notebook.view("posterior")
    before = notebook.state(view)
    _check_posterior_readout(before, "before moving x_0")
    after = notebook.nudge(view, "x0", 2, before)
    notebook.screenshot("posterior-view", view)

    assert after.values["x0"] != before.values["x0"], "the x_0 slider did not move"
    assert after.images != before.images, "moving x_0 did not redraw the figure"
    _check_posterior_readout(after, "after moving x_0")
    assert after.number("μ̃_t") != before.number("μ̃_t"), "μ̃_t did not change with x_0"
    assert after.number("β̃_t") == before.number("β̃_t"), "β̃_t changed although only x_0 moved"


# --------------------------------------------------------------------------- all chapters


@pytest.mark.parametrize("rel", LIVE_CHAPTERS)
def test_chapter_runs_cleanly_in_jupyterlab(chapter, rel):
    """After all cells ran and the sliders moved: no JavaScript error in
    JupyterLab, and nothing was fetched from the internet."""
    _assert_page_clean(chapter(rel))
