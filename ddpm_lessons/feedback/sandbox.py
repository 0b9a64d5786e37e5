"""Running a learner's function safely: a time limit, no escape, prints kept apart.

:func:`call_limited` runs ``fn(*args)`` so that nothing the function does can
stop or hang the notebook that called the check:

* a time limit (``signal.setitimer`` in the main thread; elsewhere the call
  runs in a daemon thread that is abandoned when the limit passes);
* ``SystemExit`` (``sys.exit()``, ``exit()``) is caught and reported;
* everything the function prints (stdout and stderr) is captured, and at most
  a few short lines of it are shown with the verdict (in the main thread; in
  another thread the prints are left alone, since ``sys.stdout`` is shared).
"""
from __future__ import annotations

import contextlib
import io
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

DEFAULT_TIME_LIMIT = 10.0
SHOWN_LINES = 3
SHOWN_WIDTH = 100


class TimeLimitExceeded(BaseException):
    """Raised inside the learner's function when the check's time limit passes.

    A ``BaseException`` so that an ``except Exception`` in the learner's code
    cannot swallow it.
    """


@dataclass
class Outcome:
    """What happened during one call: its value, or the error it raised, and what it printed."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    exited: bool = False
    printed: str = ""
    extra: dict = field(default_factory=dict)


def printed_excerpt(text: str, lines: int = SHOWN_LINES, width: int = SHOWN_WIDTH) -> str:
    """The first few lines of ``text``, each cut to ``width`` characters, with a count of the rest."""
    if not text:
        return ""
    all_lines = text.splitlines()
    shown = [line if len(line) <= width else line[: width - 1] + "…" for line in all_lines[:lines]]
    rest = len(all_lines) - len(shown)
    tail = f"\n      … and {rest} more line{'s' if rest != 1 else ''} ({len(text)} characters in all)" if rest else ""
    return "\n".join("      " + line for line in shown) + tail


def _run(fn: Callable, args: tuple, outcome: Outcome, capture: bool = True) -> None:
    buffer = io.StringIO()
    redirect = ((contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer)) if capture
                else (contextlib.nullcontext(), contextlib.nullcontext()))
    try:
        with redirect[0], redirect[1]:
            outcome.value = fn(*args)
    except TimeLimitExceeded:
        outcome.timed_out = True
    except SystemExit as error:
        outcome.exited = True
        outcome.error = error
    except NotImplementedError as error:
        outcome.error = error
    except Exception as error:  # noqa: BLE001 - reported to the learner, never raised
        outcome.error = error
    finally:
        outcome.printed = buffer.getvalue()


def call_limited(fn: Callable, args: tuple, time_limit: float = DEFAULT_TIME_LIMIT) -> Outcome:
    """Call ``fn(*args)`` under a time limit, catching ``SystemExit`` and capturing its prints."""
    outcome = Outcome()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
            raise TimeLimitExceeded

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            _run(fn, args, outcome)
        except TimeLimitExceeded:  # the alarm fired between the call and the reset
            outcome.timed_out = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return outcome
    # sys.stdout is shared by all threads: a redirection in an abandoned worker would swallow the
    # notebook's own output, so outside the main thread the function's prints are not captured.
    worker = threading.Thread(target=_run, args=(fn, args, outcome, False), daemon=True)
    worker.start()
    worker.join(time_limit)
    if worker.is_alive():  # cannot be stopped from outside: abandon it
        return Outcome(timed_out=True, printed=outcome.printed)
    return outcome
