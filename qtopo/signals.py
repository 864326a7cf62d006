"""Interrupts: Ctrl-C (SIGINT) and SIGTERM stop qtopo the same way, leaving previous outputs intact.

:func:`install` (called by the CLI) makes SIGTERM raise :class:`Terminated`, a :class:`KeyboardInterrupt`,
so every ``except BaseException`` / ``finally`` cleanup that handles Ctrl-C (temporary output folders, the
solver log, the LP-bound thread) handles SIGTERM too. The CLI exits 130 after SIGINT and 143 (128 + 15) after
SIGTERM, the shell conventions.

HiGHS handles Ctrl-C itself while it solves (it stops and keeps its best plan, status "interrupt"). qtopo does
not turn that into a plan: :func:`raise_if_interrupted`, called right after the solver returns, raises the
interrupt again, so that an interrupted run never writes a plan and never replaces the previous one.
"""
from __future__ import annotations

import signal
import threading

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (``kill PID``, a job scheduler, ``timeout``)."""


def _on_term(signum, frame):
    _received.append(signum)
    raise Terminated()


def _on_int(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt()


def install() -> None:
    """Route SIGTERM and SIGINT to :class:`Terminated` / :class:`KeyboardInterrupt` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    reset()
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_int)


def received() -> int | None:
    """The last signal received since :func:`reset` (None: none)."""
    return _received[-1] if _received else None


def reset() -> None:
    _received.clear()


def raise_if_interrupted(solver_interrupted: bool = False) -> None:
    """Raise the interrupt that stopped the solver: :class:`Terminated` after SIGTERM, else KeyboardInterrupt.

    ``solver_interrupted``: the solver reported a user interrupt (HiGHS swallowed Ctrl-C before Python saw it).
    """
    sig = received()
    if sig == signal.SIGTERM:
        raise Terminated()
    if sig == signal.SIGINT or solver_interrupted:
        raise KeyboardInterrupt()
