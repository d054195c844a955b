"""Executors hand the engine a chunk of batches before generating them (``Engine.prepare``), so that a
phased Z-Image engine places its text encoder once per chunk: the Ray actor's side on a real tiny engine,
the driver's side (which chunk goes to which actor, and when) without a cluster."""

from __future__ import annotations

import dataclasses
from collections import deque

import pytest

from zpipe.engine.base import Request
from zpipe.executors import local
from zpipe.executors.local import batches
from zpipe.executors.ray_executor import RayExecutor, _Worker
from zpipe.executors.ray_worker import EngineWorker
from zpipe.plan import PlannedJob
from zpipe.recipe.model import Job


def test_a_worker_prepares_a_chunk_in_one_text_encoder_phase(diffusers_ckpt):
    options = {"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32", "memory": "phased"}
    worker = EngineWorker("z-image-turbo", options, "w0")
    chunk = [[Request(f"stone {i}", 64, 64, i), Request(f"moss {i}", 64, 64, i)] for i in range(3)]
    worker.prepare(chunk)
    images = [worker.run_batch(batch)[:-1] for batch in chunk]
    res = worker.engine.pipeline.residency
    assert [name for event, name, _ in res.log if event == "place"] == ["vae", "text_encoder", "dit"]
    assert worker.busy > 0 and worker.images == 6

    fresh = EngineWorker("z-image-turbo", options, "w1")  # no prepare: one encoder phase per batch
    alone = [fresh.run_batch(batch)[:-1] for batch in chunk]
    placed = [name for event, name, _ in fresh.engine.pipeline.residency.log if event == "place"]
    assert placed == ["vae", *["text_encoder", "dit"] * 3]
    for got, want in zip(images, alone, strict=True):
        assert all((g.image == w.image).all() for g, w in zip(got, want, strict=True))


def test_prepare_is_a_hint_that_never_raises():
    worker = EngineWorker("procedural", {}, "w0")
    worker.prepare([[Request("granite", 64, 64, 1)]])  # the procedural engine has no prepare: nothing to do
    broken = EngineWorker("procedural", {"scale": 99.0}, "w1")  # a configuration error: shown by run_batch
    broken.prepare([[Request("granite", 64, 64, 1)]])
    assert broken.error is not None
    with pytest.raises(type(broken.error)):
        broken.run_batch([Request("granite", 64, 64, 1)])


class _Remote:
    def __init__(self, calls: list, name: str, returns: int = 1):
        self.calls, self.name, self.returns = calls, name, returns

    def options(self, num_returns: int = 1):
        return _Remote(self.calls, self.name, num_returns)

    def remote(self, arg=None):
        self.calls.append((self.name, arg))
        return [object() for _ in range(self.returns)] if self.returns > 1 else object()


class _Handle:
    """An actor handle that records the calls the driver queues on it, in order."""

    def __init__(self):
        self.calls: list = []
        self.prepare = _Remote(self.calls, "prepare")
        self.run_batch = _Remote(self.calls, "run_batch")
        self.info = _Remote(self.calls, "info")


def _jobs(n: int) -> list[PlannedJob]:
    base = Job(id="j", kind="textures", prompt="p", seed=0, width=64, height=64, steps=8, tile="none", stages=(),
               output={})
    return [PlannedJob(dataclasses.replace(base, id=f"j{i}", prompt=f"p{i}", seed=i), f"k{i}", "build")
            for i in range(n)]


def _prompts(call) -> list[list[str]]:
    return [[r.prompt for r in batch] for batch in call[1]]


def test_the_ray_driver_queues_each_chunk_before_its_first_batch(monkeypatch):
    monkeypatch.setattr(local, "CHUNK", 4)
    ex = RayExecutor("z-image-turbo", {"batch_size": 2})
    a, b = _Worker("a", _Handle()), _Worker("b", _Handle())
    ex._pool, ex._backlog = [a], 100
    ex._pending = deque(batches(_jobs(10), 2))
    ex._dispatch()  # queue depth 2: two batches, one chunk
    assert [name for name, _ in a.handle.calls] == ["prepare", "run_batch", "run_batch"]
    assert _prompts(a.handle.calls[0]) == [["p0", "p1"], ["p2", "p3"]]
    a.queued = 0
    ex._dispatch()  # the next chunk
    assert [name for name, _ in a.handle.calls[3:]] == ["prepare", "run_batch", "run_batch"]
    assert _prompts(a.handle.calls[3]) == [["p4", "p5"], ["p6", "p7"]]

    ex._pool = [a, b]  # a second actor joins: it prepares the chunk that starts with its own first batch
    a.queued = 1
    ex._dispatch()
    assert b.handle.calls[0][0] == "prepare" and _prompts(b.handle.calls[0]) == [["p8", "p9"]]
    assert [name for name, _ in b.handle.calls] == ["prepare", "run_batch"]

    assert not ex._pending
    ex._lost(b, "died")  # a restarted actor has prepared nothing: its next batch opens a chunk again
    assert b.prepared == set() and b.handle.calls[-1][0] == "info"


@pytest.mark.parametrize("sizes, limit, want", [([2, 2, 2, 2, 2], 4, [[2, 2], [2, 2], [2]]),
                                                ([3, 1, 5, 1], 4, [[3, 1], [5], [1]])])
def test_chunks_hold_at_most_the_limit_unless_one_batch_is_larger(sizes, limit, want):
    groups = [[object()] * n for n in sizes]
    assert [[len(b) for b in c] for c in local.chunks(iter(groups), limit)] == want
