"""``POST /hook``: the hook protocol v1 through the server, answering byte for byte what
``zpipe hook export --json`` prints on stdout (and its exit code in the ``X-Zpipe-Exit`` header)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zpipe.serve.paths import Forbidden, resolve_in
from zpipe.serve.queue import Cancelled

log = logging.getLogger(__name__)



def _cli_failure(exc: BaseException) -> tuple[int, bytes]:
    """The exit code and the JSON answer the CLI prints when ``exc`` ends the request."""
    from zpipe.exits import EXIT_BUG, classify, failed_answer

    code, _ = classify(exc)
    if code == EXIT_BUG:
        log.error("hook request failed", exc_info=exc)
    return code, (json.dumps(failed_answer(exc), ensure_ascii=False) + "\n").encode()


def refusal(problems: list[str]) -> tuple[int, bytes]:
    """The CLI's answer to a bad request (exit 2)."""
    from zpipe.hook import HookError

    return _cli_failure(HookError(problems))


def answer_bytes(answer: dict[str, Any]) -> bytes:
    return (json.dumps(answer, ensure_ascii=False, indent=2) + "\n").encode()


def parse(body: bytes, base: Path, out: Path, roots: list[Path]):
    """The request, checked as the CLI checks it, then confined: its store must be the server's output root,
    its target and recipes inside the server's folders. Raises HookError (exit 2) or Forbidden (HTTP 403)."""
    from zpipe.hook import HookError, parse_request
    from zpipe.hook.request import decode

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HookError([f"the request is not UTF-8: {exc}"]) from None
    request = parse_request(decode(text, "-"), base)  # the CLI's checks: deep JSON, huge numbers, size
    if request.store is not None and request.store != out:
        raise Forbidden(f"store {request.store}: this server builds into {out}; drop \"store\" from the request, "
                        "or start `zpipe serve --out` with that store")
    resolve_in(request.target, [out, *roots])
    for m in request.materials:
        if m.recipe is not None:
            resolve_in(m.recipe, roots + [out])
    return request


def run(request, out: Path, executor: Any, on_event: Callable[[dict[str, Any]], None]) -> tuple[int, bytes]:
    """Export ``request`` as the CLI does; returns (exit code, the CLI's stdout bytes)."""
    from zpipe.exits import EXIT_FAILED, EXIT_OK
    from zpipe.hook import export

    try:
        answer = export(request, out, executor=executor, on_event=on_event)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the DCC reads the answer: it gets one whatever happened
        return _cli_failure(exc)
    return (EXIT_OK if answer["ok"] else EXIT_FAILED), answer_bytes(answer)
