"""An asset is its job plus what the stages made: stages read the job through it and cannot change it."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from helpers import make_asset


def test_stages_read_the_job_through_the_asset_and_cannot_change_it():
    asset = make_asset({"poster": np.zeros((32, 48, 3), np.float32)}, kind="posters", asset_id="p", seed=9,
                       prompt="a poster", fields={"lines": [{"role": "title", "text": "春"}]})
    job = asset.job
    assert (asset.id, asset.kind, asset.prompt, asset.seed, asset.width, asset.height, asset.fields) == (
        "p", "posters", "a poster", 9, 48, 32, job.fields)
    for name in ("id", "kind", "prompt", "seed", "width", "height", "fields"):
        with pytest.raises(AttributeError):
            setattr(asset, name, None)
    with pytest.raises(FrozenInstanceError):
        job.prompt = "another"  # type: ignore[misc]
    assert asset.prompt == "a poster"


def test_the_jobs_fields_are_read_only_through_the_asset():
    asset = make_asset({"poster": np.zeros((32, 48, 3), np.float32)}, kind="posters", asset_id="p",
                       fields={"style": "calm", "lines": [{"role": "title", "text": "春"}]})
    with pytest.raises(TypeError):
        asset.fields["style"] = "neon"  # type: ignore[index]
    with pytest.raises(TypeError):
        del asset.fields["lines"]  # type: ignore[attr-defined]
    assert not hasattr(asset.fields, "update") and not hasattr(asset.fields, "pop")
    assert asset.job.fields == {"style": "calm", "lines": [{"role": "title", "text": "春"}]}
    assert dict(asset.fields) == asset.job.fields and asset.fields.get("text", "render") == "render"
