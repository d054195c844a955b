"""Exit codes, and the one table that maps the errors a command may end with to a code and a message.

Used by the CLI and by ``zpipe serve``, which answers hook requests byte for byte as the CLI does.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _recipe_message(exc) -> str:
    files = sorted({i.file for i in exc.issues if not i.file.startswith("--set")}) or ["the recipe"]
    return f"{exc}\n{_plural(len(exc.issues), 'problem')} in {', '.join(files)}"


def _hook_message(exc) -> str:
    return "\n".join(f"error: {p}" for p in exc.problems) + f"\n{_plural(len(exc.problems), 'problem')} in the request"


def _os_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return (f"error: {exc.strerror or exc}{where}; check that the folder exists, is writable "
            "(--out, the request's store and target) and has free space")


# Every error a command may end with, in one place: (module, class, exit code, message). The class is
# looked up in sys.modules, so this table imports nothing: an error of a module that was never
# imported cannot have been raised. The first match wins; anything else is a bug (exit 70).
EXIT_CODES = (
    ("zpipe.recipe.errors", "RecipeError", EXIT_INVALID, _recipe_message),
    ("zpipe.engine.base", "EngineError", EXIT_INVALID, lambda e: f"error: {e}"),
    ("zpipe.hook", "HookError", EXIT_INVALID, _hook_message),
    ("zpipe.store", "LockBusy", EXIT_FAILED, lambda e: f"error: {e}; run again later, or without --no-wait to "
                                                       "wait for it"),
    ("zpipe.store", "StoreError", EXIT_FAILED, lambda e: f"error: {e}"),
    ("zpipe.executors.ray_executor", "ClusterError", EXIT_FAILED, lambda e: f"error: {e}"),
    ("builtins", "OSError", EXIT_FAILED, _os_message),
    ("builtins", "KeyboardInterrupt", EXIT_INTERRUPTED,
     lambda e: "interrupted: finished assets are kept in staging; run the same command to resume"),
)


def classify(exc: BaseException) -> tuple[int, str | None]:
    """The exit code and message for ``exc``; (70, None) for an error that is a bug in zpipe."""
    for module, name, code, message in EXIT_CODES:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return code, message(exc)
    return EXIT_BUG, None


class ExitWithoutHandlers(SystemExit):
    """The exit of a command that ended with an error whose class sets ``skip_exit_handlers`` (a library
    that cannot exit cleanly after it, see :class:`zpipe.executors.ray_executor.ClusterError`): the
    console script ends the process without the interpreter's exit handlers (:func:`zpipe.cli.entry`)."""


def exit_for(exc: BaseException, code: int) -> SystemExit:
    """The SystemExit that ends a command with ``code`` after ``exc``: an :class:`ExitWithoutHandlers`
    when ``exc`` says the exit handlers must not run."""
    return ExitWithoutHandlers(code) if getattr(exc, "skip_exit_handlers", False) else SystemExit(code)


def failed_answer(exc: BaseException) -> dict:
    """The hook's JSON answer when no material could be built: the problems, as stderr says them."""
    from zpipe.hook import PROTOCOL_VERSION

    code, message = classify(exc)
    problems = list(getattr(exc, "problems", None) or [])
    if not problems:
        problems = [line.removeprefix("error: ") for line in (message or "").splitlines()] or \
            [f"internal error ({type(exc).__name__}: {exc}); this is a bug in zpipe, please report it"]
    return {"version": PROTOCOL_VERSION, "ok": False, "exit_code": code, "error": problems[0], "errors": problems}
