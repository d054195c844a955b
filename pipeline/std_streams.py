"""Standard streams that may be closed: a build never stops or fails because nobody reads its output.

Two ways a stream goes away: it was closed before zpipe started (``zpipe run r.yaml >&-``), or its
reader left (``zpipe run r.yaml --json | head -1``). In both cases the stream is pointed at the null
device, so later writes, the interpreter's final flush and child processes (Ray workers inherit the
file descriptors) all succeed silently.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import TextIO


def open_missing() -> None:
    """Give closed descriptors 0-2 the null device, so no file zpipe opens later becomes "stdout"."""
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)  # the lowest free descriptor: ``fd`` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def is_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says the reader of a stream left (a broken pipe) or the stream was closed."""
    if isinstance(exc, BrokenPipeError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.EINVAL):
        return True
    return isinstance(exc, ValueError) and "closed file" in str(exc)


def silence(stream: TextIO | None) -> None:
    """Point ``stream`` (sys.stdout or sys.stderr) at the null device from now on."""
    if stream is None:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(null, stream.fileno())
    finally:
        os.close(null)
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # what was buffered for the departed reader goes to the null device now
