"""The Ray executor's options: normalised once, frozen, an unknown option named (no cluster needed)."""

from __future__ import annotations

import dataclasses

import pytest

from zpipe.executors.ray_executor import RayExecutor, RayOptions


def test_devices_from_a_string_or_the_recipe_device():
    assert RayOptions.create({}, devices="0, 2,").devices == ("0", "2")
    assert RayOptions.create({"device": "cuda:1"}).devices == ("1",)
    assert RayOptions.create({"device": "cuda:1"}, devices=["3"]).devices == ("3",)  # --devices wins
    assert RayOptions.create({"device": "cpu"}).devices is None
    assert RayOptions.create({}, queue_depth=0).queue_depth == 1


def test_options_are_frozen_and_unknown_ones_are_named():
    ex = RayExecutor("procedural", {"batch_size": 3}, max_retries=5)
    assert ex.options.max_retries == 5 and ex.options.batch_timeout == 1800.0 and ex.batch_size == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.options.max_retries = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="max_retry"):
        RayExecutor("procedural", {}, max_retry=5)
