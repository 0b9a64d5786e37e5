"""The machinery of the live views: sliders, a readout and a figure that redraws.

A :class:`LiveView` needs a running kernel; each chapter pairs it with a static
counterpart for the web page (see :mod:`~ddpm_lessons.views`).

For browser tests every view carries stable CSS classes: the container
``ddpm-view ddpm-view-<name>``, each slider ``ddpm-slider-<control>`` (for
example ``ddpm-slider-t``, ``ddpm-slider-beta-start``, ``ddpm-slider-T``), the
text ``ddpm-readout`` and the figure area ``ddpm-figure``.  Numbers in the
readout have the form ``"ᾱ_T = 0.9521"`` (4 significant digits, :func:`fmt`);
the regular expressions in :data:`READOUT_PATTERNS` extract them.
"""
from __future__ import annotations

import asyncio
import base64
import html
import io
import math
import threading
from typing import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure

from .plotting import subplots
from .style import styled

READOUT_PATTERNS: dict[str, str] = {
    "alpha_bar_T": r"ᾱ_T = ([-+0-9.e]+)",
    "alpha_bar_t": r"ᾱ_t = ([-+0-9.e]+)",
    "prior_kl": r"prior KL = ([-+0-9.e]+) nats",
    "t": r"\bt = (\d+)",
    "T": r"\bT = (\d+)",
    "sample_mean": r"sample mean = ([-+0-9.e]+)",
    "sample_std": r"sample std = ([-+0-9.e]+)",
    "posterior_mean": r"μ̃_t = ([-+0-9.e]+)",
    "posterior_variance": r"β̃_t = ([-+0-9.e]+)",
    "mean_distance": r"mean distance = ([-+0-9.e]+)",
    "coverage_ks": r"coverage KS = ([-+0-9.e]+)",
}
"""Regular expressions that read the numbers back from a readout text."""


def fmt(x: float) -> str:
    """A number with 4 significant digits, as every readout prints it."""
    return f"{float(x):.4g}"


class LiveView:
    """Sliders, a readout and a figure, redrawn whenever a slider moves.

    ``compute(**values)`` returns the data, ``readout(data)`` the lines of text
    and ``draw(data)`` the figure.  A ``ValueError`` from ``compute`` (say
    β_start > β_end) is shown in the readout instead of a figure.
    ``sync(view, change)`` may adjust other sliders first (e.g. t ≤ T).

    ``view.widget`` is the ipywidgets container; a ``LiveView`` displays as it.
    ``view.data`` holds the data of the current figure, ``view.error`` the
    message of the last rejected input (or ``None``).
    """

    def __init__(self, name: str, controls: dict, compute: Callable[..., dict],
                 readout: Callable[[dict], list[str]], draw: Callable[[dict], Figure],
                 sync: Callable | None = None) -> None:
        self.name = name
        self.controls = controls
        self._compute, self._readout, self._draw, self._sync = compute, readout, draw, sync
        self.readout = widgets.HTML()
        self.readout.add_class("ddpm-readout")
        self.output = widgets.Output()
        self.output.add_class("ddpm-figure")
        self.widget = widgets.VBox([widgets.VBox(list(controls.values())), self.readout, self.output])
        self.widget.add_class("ddpm-view")
        self.widget.add_class(f"ddpm-view-{name}")
        self.data: dict | None = None
        self.error: str | None = None
        self._busy = False
        # JupyterLab may deliver a slider's message on a kernel subshell, another thread;
        # drawing there would race the main thread's inline backend, which renders and
        # closes every open figure after each cell (a blank figure is the result).
        self._thread, self._loop = threading.current_thread(), _running_loop()
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict:
        """Current slider values, by control name."""
        return {key: control.value for key, control in self.controls.items()}

    def readout_text(self) -> str:
        """The readout as plain text (lines joined by newlines)."""
        return html.unescape(self.readout.value.replace("<br>", "\n"))

    def _on_change(self, change) -> None:
        if self._loop is not None and threading.current_thread() is not self._thread:
            try:                             # redraw on the thread and loop that made the view
                self._loop.call_soon_threadsafe(self._on_change, change)
                return
            except RuntimeError:             # that loop is closed: draw here
                pass
        if self._busy:
            return
        self._busy = True
        try:
            if self._sync is not None:
                self._sync(self, change)
        finally:
            self._busy = False
        self.refresh()

    def refresh(self) -> None:
        """Recompute the data from the sliders and redraw.

        The figure goes into the ``Output`` widget's ``outputs`` as a PNG, through
        the widget's own state rather than the cell's output stream, so it replaces
        the previous figure in place and never leaks into the notebook cell.
        """
        try:
            data = self._compute(**self.values())
        except ValueError as err:
            self.data, self.error = None, str(err)
            self.readout.value = "⚠ " + html.escape(str(err))
            self.output.outputs = ()
            return
        self.data, self.error = data, None
        fig = self._draw(data)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                     "text/plain": "<figure>"},
            "metadata": {},
        },)
        # The readout changes last, so that a new readout always stands beside its figure.
        self.readout.value = "<br>".join(html.escape(line) for line in self._readout(data))

    def _ipython_display_(self):
        display(self.widget)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread (the kernel's), or ``None`` outside one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def slider(kind: str, control: str, description: str, **kwargs):
    """A slider that redraws on release, with the CSS class ``ddpm-slider-<control>``."""
    cls = {"float": widgets.FloatSlider, "int": widgets.IntSlider,
           "log": widgets.FloatLogSlider, "select": widgets.SelectionSlider}[kind]
    slider = cls(description=description, continuous_update=False,
                 style={"description_width": "9em"}, layout=widgets.Layout(width="32em"), **kwargs)
    slider.add_class(f"ddpm-slider-{control}")
    slider.add_class("ddpm-slider")
    return slider


@styled
def grid_of(draw: Callable, datas: Sequence[dict], ncols: int = 3,
            panel_size: tuple[float, float] = (3.2, 2.6), suptitle: str = "") -> Figure:
    """Static small multiples: ``draw(data, ax=ax)`` for each data dict in ``datas``.

    This is the static counterpart of a live view (it needs no kernel).
    """
    if not datas:
        raise ValueError("datas must hold at least one view, got none")
    nrows = math.ceil(len(datas) / ncols)
    fig, axes = subplots(nrows, ncols, panel_size=panel_size)
    for ax, data in zip(axes.flat, datas):
        draw(data, ax=ax)
    for ax in axes.flat[len(datas):]:
        ax.axis("off")
    for ax in axes.flat[1:]:                 # one legend is enough
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if suptitle:
        fig.suptitle(suptitle)
    return fig
