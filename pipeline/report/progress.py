"""Build events to the terminal: a rich progress bar on stderr, or NDJSON on stdout with --json."""

from __future__ import annotations

import json
import sys
from typing import Any

from zpipe.std_streams import is_gone, silence


class EventPrinter:
    def __init__(self, json_mode: bool, total: int):
        self.json_mode = json_mode
        self.total = total
        self._progress = None
        self._task = None

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
                self._start_bar()
        elif kind == "asset_done":
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

    def _start_bar(self) -> None:
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
        self._task = self._progress.add_task("building", total=self.total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


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
