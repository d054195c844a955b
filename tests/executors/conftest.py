"""A tiny random Z-Image checkpoint (diffusers layout) for the executor tests, built like tests/engine's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ENGINE_TESTS = Path(__file__).resolve().parents[1] / "engine"


@pytest.fixture(scope="session")
def tiny_zimage_ckpt(tmp_path_factory) -> Path:
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    if str(ENGINE_TESTS) not in sys.path:
        sys.path.insert(0, str(ENGINE_TESTS))  # zimage_kit, shared with the engine tests
    from zimage_kit import save_diffusers_layout, tiny_reference_models

    dit, lm, vae = tiny_reference_models()
    root = tmp_path_factory.mktemp("zimage-tiny")
    save_diffusers_layout(root, dit, lm, vae)
    return root
