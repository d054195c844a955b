"""Build events to the terminal: a rich progress bar on stderr, or NDJSON on stdout with --json.

When stderr is not a terminal (a CI log, a file), there is no bar to redraw: one plain line is printed
every ``every`` assets or ``seconds`` seconds, whichever comes first, with the counts and the ETA.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from zpipe.std_streams import is_gone, silence


class PlainProgress:
    """Progress for logs: a line such as ``zpipe: 400/2000 assets (built 380, reused 15, failed 5),
    12.5 assets/s, elapsed 0:32, ETA 2:08`` every ``every`` assets or ``seconds`` seconds."""

    def __init__(self, total: int, write: Callable[[str], None], every: int | None = None, seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.write, self.clock, self.seconds = total, write, clock, seconds
        self.every = every or max(10, total // 20)
        self.counts = {"built": 0, "reused": 0, "failed": 0}
        self.started = self.last = clock()
        self.worked = 0  # assets that needed work (built or failed here), for the rate and the ETA

    def update(self, event: dict[str, Any]) -> None:
        status = event.get("status", "built")
        self.counts[status] = self.counts.get(status, 0) + 1
        if status != "reused" and not event.get("resumed"):
            self.worked += 1
        done, now = sum(self.counts.values()), self.clock()
        if done % self.every == 0 or now - self.last >= self.seconds or done == self.total:
            self.last = now
            self.write(self.line(done, now))

    def line(self, done: int, now: float) -> str:
        elapsed = now - self.started
        rate = self.worked / elapsed if elapsed > 0 and self.worked else 0.0
        eta = _clock((self.total - done) / rate) if rate else "?"
        c = self.counts
        return (f"zpipe: {done}/{self.total} assets (built {c['built']}, reused {c['reused']}, failed {c['failed']}), "
                f"{rate:.1f} assets/s, elapsed {_clock(elapsed)}, ETA {eta if done < self.total else '0:00'}\n")


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class EventPrinter:
    def __init__(self, json_mode: bool, terminal: bool | None = None):
        self.json_mode = json_mode
        self.terminal = _is_terminal(sys.stderr) if terminal is None else terminal
        self._progress = None
        self._task = None
        self._plain: PlainProgress | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        if self.json_mode:
            _write(sys.stdout, json.dumps(event, ensure_ascii=False) + "\n")
            if event["event"] in ("warning", "waiting"):
                _write(sys.stderr, f"zpipe: {event['message']}\n")
            return
        kind = event["event"]
        if kind in ("warning", "waiting"):
            self._console().print(f"[yellow]{event['message']}[/yellow]")
        elif kind == "start":
            todo = event["build"]
            self._console().print(
                f"[bold]{event['recipe']}[/bold]: {event['total']} assets — {todo} to build, "
                f"{event['reuse']} reused, {event['resume']} resumed (engine {event['engine']}, "
                f"executor {event['executor']})")
            if todo or event["resume"]:
                self._start_bar(event["total"])
        elif kind == "asset_done":
            if self._plain is not None:
                self._plain.update(event)
            if self._progress is not None:
                self._progress.update(self._task, advance=1, description=f"{event['id']}")
            if event["status"] == "failed":
                self._console().print(f"[red]failed[/red] {event['id']}: {event.get('error')}")
        elif kind == "workers":  # per-worker throughput from executors with several workers
            for name, w in sorted(event.get("workers", {}).items()):
                self._console().print(f"  worker {name}: {w['jobs']} jobs, {w['jobs_per_s']:.2f} jobs/s, "
                                      f"engine busy {100 * w['busy_fraction']:.0f}%")
        elif kind == "done":
            self.close()
            if event.get("up_to_date"):
                self._console().print(f"up to date: {event['path']} ({event['reused']} assets)")
            else:
                colour = "red" if event["failed"] else "green"
                self._console().print(
                    f"[{colour}]{event['version']}[/{colour}] → {event['path']}: built {event['built']}, "
                    f"reused {event['reused']}, failed {event['failed']}")

    def _console(self):
        if self._progress is not None:
            return self._progress.console
        return _console()

    def _start_bar(self, total: int) -> None:
        if not self.terminal:
            self._plain = PlainProgress(total, lambda text: _write(sys.stderr, text))
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn("{task.description:32}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  console=_console(), transient=False)
        self._progress.start()
        self._task = self._progress.add_task("building", total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _write(stream, text: str) -> None:
    """Write and flush; a reader that left (``| head -1``) silences the stream instead of stopping the build."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError) as exc:
        if not is_gone(exc):
            raise
        silence(stream)


def _console():
    """A rich console on stderr that goes quiet, instead of exiting (rich's default), when its reader leaves."""
    from rich.console import Console

    class QuietConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            silence(sys.stderr)

    return QuietConsole(stderr=True, highlight=False)
