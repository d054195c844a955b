"""A tiny random Z-Image checkpoint (diffusers layout) for the executor tests, built like tests/engine's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_zimage_ckpt(tmp_path_factory) -> Path:
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from zimage_kit import save_diffusers_layout, tiny_reference_models

    dit, lm, vae = tiny_reference_models()
    root = tmp_path_factory.mktemp("zimage-tiny")
    save_diffusers_layout(root, dit, lm, vae)
    return root
