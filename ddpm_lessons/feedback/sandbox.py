"""Running a learner's function safely: a time limit, no escape, prints kept apart.

:func:`call_limited` runs ``fn(*args)`` so that nothing the function does can
stop or hang the notebook that called the check:

* a time limit that the function cannot swallow (:class:`_Deadline` in the
  main thread; elsewhere the call runs in a daemon thread that is abandoned
  when the limit passes);
* ``SystemExit`` (``sys.exit()``, ``exit()``), every other exception
  (``KeyboardInterrupt``, ``GeneratorExit``, a learner's own ``BaseException``)
  and ``os._exit``/``os.abort`` are caught and reported;
* the notebook's global state (grad mode, default dtype, threads, random
  generators, a model's ``requires_grad`` flags, :mod:`.kernel`) is restored
  after the call, and what the call changed is reported;
* everything the function prints (stdout and stderr) is captured, and at most
  a few short lines of it are shown with the verdict (in the main thread; in
  another thread the prints are left alone, since ``sys.stdout`` is shared).

Why in-process, not a child process per check: measured on the course machine (2 shared cores), a fork
with torch loaded costs about 90 ms per call before any work, and a torch operation in the forked child
can hang (the parent's OpenMP thread pool does not survive a fork); saving and restoring the notebook's
state and arming the deadline cost about 0.25 ms per call.
"""
from __future__ import annotations

import contextlib
import dis
import functools
import io
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import kernel

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
    changes: list[str] = field(default_factory=list)


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
        with redirect[0], redirect[1], _no_process_exit():
            outcome.value = fn(*args)
    except TimeLimitExceeded:
        outcome.timed_out = True
    except SystemExit as error:
        outcome.exited = True
        outcome.error = error
    except BaseException as error:  # noqa: BLE001 - reported to the learner, never raised (KeyboardInterrupt too)
        outcome.error = error
    finally:
        outcome.printed = buffer.getvalue()


class ProcessExit(BaseException):
    """Raised instead of ending the kernel when the learner's function calls ``os._exit`` or ``os.abort``."""

    def __init__(self, name: str):
        super().__init__(f"your function called {name}(), which would end the notebook's kernel; the check "
                         "stopped it. Return a value instead.")


@contextlib.contextmanager
def _no_process_exit():
    """``os._exit`` and ``os.abort`` raise :class:`ProcessExit` for the duration of the call."""
    saved = os._exit, os.abort

    def refuse_exit(*_):
        raise ProcessExit("os._exit")

    def refuse_abort():
        raise ProcessExit("os.abort")

    os._exit, os.abort = refuse_exit, refuse_abort
    try:
        yield
    finally:
        os._exit, os.abort = saved


class _Deadline:
    """The time limit in the main thread, which no ``try``/``except`` in the learner's code can swallow.

    When the limit passes, a ``SIGALRM`` handler switches on a line tracer for the learner's frames and raises
    :class:`TimeLimitExceeded` where the current frame has no ``try`` around it (read from the code's exception
    table), e.g. at the top of a ``while True: try: … except: pass`` loop; inside a ``try`` it waits for the
    tracer to reach such a line.  The tracer raises itself only where no frame at all can catch it (Python
    switches a tracer off once it raises); where only a caller can, it asks for the alarm again in ``SOON`` s,
    and the handler raises, so that the tracer stays on for the caller's ``except``.  The alarm repeats every
    ``REPEAT`` s (code that waits in C), and from ``ESCALATE`` s after the limit the handler raises wherever it
    lands (a loop that never leaves a ``try``: the ``try`` then ends the function).  The checks' own frames are
    spared, so the exception reaches :func:`_run`; leaving the block stops the tracer.
    """

    REPEAT, SOON, ESCALATE = 0.1, 1e-4, 0.4

    def __init__(self, limit: float):
        self.limit, self.expired, self.disarmed, self.escalated = limit, False, False, 0.0
        self.traced = False

    def _tracer(self, frame, event, arg):  # noqa: ARG002 - sys.settrace signature
        if frame.f_code.co_filename.startswith(_SPARED):
            return None
        if self.expired and event == "line" and _uncovered(frame):
            if all(_uncovered(f) for f in _learner_frames(frame)):
                raise TimeLimitExceeded                   # nothing can catch it: the tracer may end here
            signal.setitimer(signal.ITIMER_REAL, self.SOON, self.REPEAT)
        return self._tracer

    def _on_alarm(self, signum, frame):  # noqa: ARG002 - signal handler signature
        if self.disarmed:
            return
        if frame is not None and frame.f_code is _TRACER_CODE:   # landed in the tracer: once it has returned
            signal.setitimer(signal.ITIMER_REAL, self.SOON, self.REPEAT)
            return
        if not self.expired:
            self.expired, self.escalated = True, time.monotonic() + self.ESCALATE
        if frame is None or frame.f_code.co_filename.startswith(_SPARED):
            raise TimeLimitExceeded
        raise_now = _uncovered(frame) or time.monotonic() > self.escalated
        for learner in _learner_frames(frame):   # decided before tracing starts: the handler is not traced
            learner.f_trace = self._tracer
        self.traced = True
        sys.settrace(self._tracer)
        if raise_now:
            raise TimeLimitExceeded

    def __enter__(self):
        self.previous_trace = sys.gettrace()   # a debugger's or coverage's: put back if the limit replaced it
        self.previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.limit, self.REPEAT)
        return self

    def __exit__(self, *exc):
        self.disarmed = True      # first: an alarm that arrives from here on does nothing
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.traced:
            sys.settrace(self.previous_trace)
        signal.signal(signal.SIGALRM, self.previous)
        return False


@functools.lru_cache(maxsize=1024)
def _protected(code) -> tuple[tuple[int, int], ...]:
    """The instruction ranges of ``code`` that a ``try`` (or its handler's clean-up) protects."""
    return tuple((entry.start, entry.end) for entry in dis.Bytecode(code).exception_entries)


_SPARED = (os.path.dirname(os.path.abspath(__file__)) + os.sep, contextlib.__file__)   # the checks' own code
_TRACER_CODE = _Deadline._tracer.__code__


def _learner_frames(frame) -> list:
    """``frame`` and its callers down to the first frame of the checks' own code."""
    frames = []
    while frame is not None and not frame.f_code.co_filename.startswith(_SPARED):
        frames.append(frame)
        frame = frame.f_back
    return frames


def _uncovered(frame) -> bool:
    """True when no ``try`` of ``frame``'s code protects its current instruction."""
    return not any(start <= frame.f_lasti < end for start, end in _protected(frame.f_code))


def call_limited(fn: Callable, args: tuple, time_limit: float = DEFAULT_TIME_LIMIT, watch: Any = ()) -> Outcome:
    """Call ``fn(*args)`` under a time limit, catching ``SystemExit`` (and every other exception, and
    ``os._exit``) and capturing its prints.

    The notebook's global state (:mod:`.kernel`, with the ``requires_grad`` flags of the modules among
    ``watch``) is restored after the call; what the call changed is listed in ``outcome.changes``.
    """
    outcome = Outcome()
    before = kernel.capture(watch)
    try:
        _call(fn, args, time_limit, outcome)
    finally:
        outcome.changes = kernel.changes(before, kernel.capture(watch))
        kernel.restore(before)
    return outcome


def _call(fn: Callable, args: tuple, time_limit: float, outcome: Outcome) -> None:
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        deadline = _Deadline(time_limit)
        try:
            with deadline:
                _run(fn, args, outcome)
        except TimeLimitExceeded:  # the alarm fired between the call and the reset
            outcome.timed_out = True
        outcome.timed_out |= deadline.expired   # also a function whose own `try` ended it after the limit
        return
    # sys.stdout is shared by all threads: a redirection in an abandoned worker would swallow the
    # notebook's own output, so outside the main thread the function's prints are not captured.
    worker = threading.Thread(target=_run, args=(fn, args, outcome, False), daemon=True)
    worker.start()
    worker.join(time_limit)
    if worker.is_alive():  # cannot be stopped from outside: abandon it
        outcome.timed_out = True
