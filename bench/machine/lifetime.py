"""Processes that end with their parent: a rank with its pytest run, a compare side with its driver, a launched
pytest run with its supervisor, so that nothing outlives a run that was killed."""

from __future__ import annotations

import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: the kernel sends `sig` to this process when its parent dies, even by SIGKILL (SIGTERM lets it stop
    cleanly, SIGKILL does not wait). Elsewhere nothing happens. Call it in the child: it holds for this process."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass
