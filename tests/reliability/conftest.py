"""Every reliability test runs with the last-resort handler watched: a case that reaches it (a traceback
turned into "internal error", exit 70) fails the test, unless the test is about that handler."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _never_the_bug_handler(request, monkeypatch):
    import zpipe.cli

    reached: list[BaseException] = []
    real = zpipe.cli._report_bug

    def watched(exc, verbose):
        reached.append(exc)
        real(exc, verbose)

    monkeypatch.setattr(zpipe.cli, "_report_bug", watched)
    yield
    if "reaches_bug_handler" not in request.keywords:
        assert not reached, f"the last-resort handler was reached: {reached[0]!r}"
