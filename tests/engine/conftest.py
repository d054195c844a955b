"""Session fixtures: one set of tiny random reference models, saved in the diffusers and ComfyUI layouts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def tiny_models():
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from zimage_kit import tiny_reference_models

    dit, lm, vae = tiny_reference_models()
    return SimpleNamespace(dit=dit, lm=lm, te=lm.model, vae=vae)


@pytest.fixture(scope="session")
def diffusers_ckpt(tmp_path_factory, tiny_models) -> Path:
    from zimage_kit import save_diffusers_layout

    root = tmp_path_factory.mktemp("zimage-diffusers")
    save_diffusers_layout(root, tiny_models.dit, tiny_models.lm, tiny_models.vae)
    return root


@pytest.fixture(scope="session")
def comfy_ckpt(tmp_path_factory, tiny_models) -> Path:
    from zimage_kit import save_comfy_layout

    root = tmp_path_factory.mktemp("zimage-comfy")
    save_comfy_layout(root, tiny_models.dit, tiny_models.lm, tiny_models.vae)
    return root


@pytest.fixture(scope="module")
def engine(diffusers_ckpt):
    """The Z-Image engine on the tiny diffusers-layout checkpoint, CPU fp32 (the parity reference's precision)."""
    from zpipe.engine.zimage.engine import ZImageEngine

    return ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32"})
