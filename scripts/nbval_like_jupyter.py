"""pytest plugin used by `make test`: let nbval run cells the way Jupyter does.

The notebooks are executed and saved by ``scripts/execute_notebooks.py``
(nbclient, which behaves like JupyterLab). nbval 0.11 differs from it in two
ways that make correct notebooks fail the comparison; this plugin removes both.

1. A trailing ``;`` must hide a cell's result. nbval sends cells with
   ``store_history=False``, and IPython decides about the ``;`` by looking at
   the last *stored* input, so ``plt.plot(x, y);`` gains an ``Out[]`` value
   (nbval issue #194, IPython issue #14162). Cells are sent with
   ``store_history=True`` instead.
2. Output captured by an ``ipywidgets.Output`` widget (``with out: ...``)
   belongs to the widget, not to the cell. JupyterLab and nbclient route it
   into the widget; nbval has no widget frontend and records it as cell output.
   Here the kernel's messages are watched as nbclient does: while an Output
   widget captures a cell's messages, the cell's outputs are not passed on.

Load it with ``python -m pytest -p scripts.nbval_like_jupyter --nbval ...``
from the repository root.
"""

from __future__ import annotations

from nbval.kernel import RunningKernel

# Messages an Output widget takes over while it captures (as in nbclient).
_CAPTURED_TYPES = {"stream", "display_data", "execute_result", "error", "clear_output", "update_display_data"}
_WIDGET_TARGET = "jupyter.widget"


def _execute_cell_input(self, cell_input, allow_stdin=None):
    return self.kc.execute(
        cell_input,
        store_history=True,
        allow_stdin=allow_stdin,
        stop_on_error=False,
    )


_original_get_message = RunningKernel.get_message


def _track_output_widgets(kernel: RunningKernel, msg: dict) -> None:
    """Follow which Output widgets are capturing, and for which request."""
    models = kernel.__dict__.setdefault("_output_widget_comms", set())
    capturing = kernel.__dict__.setdefault("_output_widget_capture", {})
    msg_type = msg.get("msg_type")
    content = msg.get("content", {})
    comm_id = content.get("comm_id")
    state = (content.get("data") or {}).get("state") or {}
    if msg_type == "comm_open" and content.get("target_name") == _WIDGET_TARGET:
        if state.get("_model_name") == "OutputModel":
            models.add(comm_id)
    elif msg_type == "comm_close":
        models.discard(comm_id)
        capturing.pop(comm_id, None)
        return
    if comm_id in models and "msg_id" in state:
        if state["msg_id"]:
            capturing[comm_id] = state["msg_id"]
        else:
            capturing.pop(comm_id, None)


def _get_message(self, stream, timeout=None):
    while True:
        msg = _original_get_message(self, stream, timeout=timeout)
        if stream != "iopub":
            return msg
        _track_output_widgets(self, msg)
        capturing = self.__dict__.get("_output_widget_capture", {})
        if (
            capturing
            and msg.get("msg_type") in _CAPTURED_TYPES
            and msg.get("parent_header", {}).get("msg_id") in capturing.values()
        ):
            continue  # shown inside the widget, not as cell output
        return msg


RunningKernel.execute_cell_input = _execute_cell_input
RunningKernel.get_message = _get_message
