import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_recipe(tmp_path):
    """Write YAML text to a recipe file and return its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def zpipe_cmd():
    """The installed console script (falls back to `python -m zpipe`)."""
    exe = Path(sys.executable).with_name("zpipe")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "zpipe"]


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    # Tests never see a user's model or output settings.
    for var in ("ZPIPE_MODEL", "ZPIPE_OUT", "ZPIPE_VERIFY_REUSE", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "zpipe-test-no-hf-home"))


# ---- tiny random Z-Image models, saved in the diffusers and ComfyUI layouts (tests/engine, tests/executors) ----


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
