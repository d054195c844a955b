"""Loading: both on-disk layouts, strict errors with exact messages, pickle refusal, model discovery."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from zpipe.engine.base import EngineError
from zpipe.engine.zimage import discovery, weights
from zpipe.engine.zimage.engine import ZImageEngine


def same_state(ours: torch.nn.Module, want: dict) -> None:
    got = ours.state_dict()
    assert set(got) == set(want)
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def ref_te_state(tiny_models):
    last = tiny_models.te.config.num_hidden_layers - 1
    return {k: v for k, v in tiny_models.te.state_dict().items()
            if not k.startswith(f"layers.{last}.") and k != "norm.weight"}


@pytest.mark.parametrize("layout", ["diffusers", "comfy"])
def test_both_layouts_load_the_same_weights(layout, request, tiny_models):
    root = request.getfixturevalue(f"{layout}_ckpt")
    spec = discovery.spec_at(root)
    assert spec.layout == ("diffusers" if layout == "diffusers" else "comfyui")
    if layout == "diffusers":
        assert len(spec.dit) > 1 and len(spec.text_encoder) > 1  # sharded with an index
    same_state(weights.load_dit(spec, torch.float32), tiny_models.dit.state_dict())
    same_state(weights.load_text_encoder(spec, torch.float32), ref_te_state(tiny_models))
    same_state(weights.load_vae(spec, torch.float32), tiny_models.vae.state_dict())


def test_dtype_conversion_and_meta_build(diffusers_ckpt):
    spec = discovery.spec_at(diffusers_ckpt)
    dit = weights.load_dit(spec, torch.bfloat16)
    assert {p.dtype for p in dit.parameters()} == {torch.bfloat16}
    assert not any(p.is_meta for p in dit.parameters())
    from zpipe.engine.zimage.configs import DiTConfig
    from zpipe.engine.zimage.dit import ZImageDiT

    empty = weights.build_on_meta(lambda: ZImageDiT(DiTConfig(dim=64, n_heads=2, n_kv_heads=2, axes_dims=(8, 12, 12))))
    assert all(p.is_meta for p in empty.parameters())  # nothing allocated before loading


@pytest.fixture
def vae_copy(diffusers_ckpt, tmp_path) -> Path:
    root = tmp_path / "m"
    shutil.copytree(diffusers_ckpt, root)
    return root


def rewrite(path: Path, edit) -> None:
    sd = load_file(str(path))
    edit(sd)
    save_file(sd, str(path))


@pytest.mark.parametrize("edit, message", [
    (lambda sd: sd.pop("decoder.conv_out.bias"),
     "missing key 'decoder.conv_out.bias' (expected shape [3]); the VAE checkpoint is incomplete, download it again"),
    (lambda sd: sd.__setitem__("decoder.conv_out.bias", torch.zeros(4)),
     "key 'decoder.conv_out.bias' has shape [4], expected [3]; the config.json does not match the weights"),
    (lambda sd: sd.__setitem__("decoder.extra.weight", torch.zeros(2, 2)),
     "unexpected key 'decoder.extra.weight' (shape [2, 2]); this is not a Z-Image VAE checkpoint, or its "
     "config.json does not match the weights"),
], ids=["missing key", "wrong shape", "unexpected key"])
def test_a_vae_file_that_does_not_match_names_the_key_and_the_fix(vae_copy, edit, message):
    f = vae_copy / "vae" / "diffusion_pytorch_model.safetensors"
    rewrite(f, edit)
    with pytest.raises(EngineError) as e:
        weights.load_vae(discovery.spec_at(vae_copy), torch.float32)
    assert str(e.value) == f"{f}: {message}"


def test_truncated_file_message(vae_copy):
    f = vae_copy / "vae" / "diffusion_pytorch_model.safetensors"
    size = f.stat().st_size
    with f.open("r+b") as fh:
        fh.truncate(size - 100)
    with pytest.raises(EngineError) as e:
        discovery.find_model({"model": str(vae_copy)})
    assert str(e.value) == f"{f}: truncated safetensors file: expected {size} bytes, found {size - 100}; download it again"
    assert ZImageEngine.available({"model": str(vae_copy)}) == str(e.value)


def test_pickle_is_refused(vae_copy):
    f = vae_copy / "vae" / "diffusion_pytorch_model.safetensors"
    f.rename(f.with_suffix(".bin"))
    with pytest.raises(EngineError) as e:
        discovery.spec_at(vae_copy)
    assert str(e.value) == (f"{f.with_suffix('.bin')}: refusing to load a pickle checkpoint (.bin); pickle files can "
                            "run code when opened. Only .safetensors files load: download or convert the "
                            "safetensors version.")


def test_index_pointing_at_missing_shard(vae_copy):
    shard = sorted((vae_copy / "transformer").glob("*-00001-of-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(EngineError, match="lists shard .* which does not exist; download it again"):
        discovery.spec_at(vae_copy)


def test_discovery_order(diffusers_ckpt, comfy_ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv(discovery.ENV_VAR, raising=False)
    assert discovery.candidates({}) == []
    assert "no Z-Image-Turbo weights configured" in ZImageEngine.available({})
    # the HF cache: models--Tongyi-MAI--Z-Image-Turbo/snapshots/<rev>, refs/main -> <rev>
    repo = tmp_path / "hub" / "models--Tongyi-MAI--Z-Image-Turbo"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / "abc123").symlink_to(diffusers_ckpt)
    assert discovery.find_model({}).source == "hf-cache"
    monkeypatch.setenv(discovery.ENV_VAR, str(comfy_ckpt))
    assert discovery.find_model({}).layout == "comfyui"
    spec = discovery.find_model({"model": str(diffusers_ckpt)})
    assert (spec.source, spec.layout) == ("recipe", "diffusers")
    rows = discovery.list_models({"model": str(tmp_path / "nope")})
    assert [r["source"] for r in rows] == ["recipe", "env", "hf-cache"]
    assert [r["ok"] for r in rows] == [False, True, True]
    assert rows[0]["problem"] == f"{tmp_path / 'nope'}: model folder not found"
    assert ZImageEngine.available({"model": str(diffusers_ckpt)}) is None


def test_fingerprint_is_stable_and_tracks_files(diffusers_ckpt, vae_copy):
    a = discovery.fingerprint(discovery.spec_at(diffusers_ckpt))
    assert a == discovery.fingerprint(discovery.spec_at(vae_copy))  # same bytes, other folder
    rewrite(vae_copy / "vae" / "diffusion_pytorch_model.safetensors",
            lambda sd: sd.__setitem__("decoder.conv_out.bias", torch.ones(3, dtype=torch.float16)))
    b = discovery.fingerprint(discovery.spec_at(vae_copy))
    assert b != a
    lora = vae_copy / "l.safetensors"
    save_file({"x.lora_A.weight": torch.zeros(1, 2)}, str(lora))
    spec = discovery.spec_at(vae_copy)
    assert len({b, discovery.fingerprint(spec, [(lora, 1.0)]), discovery.fingerprint(spec, [(lora, 0.5)])}) == 3


def test_pull_downloads_safetensors_only_through_huggingface_hub(monkeypatch, tmp_path):
    import huggingface_hub

    calls = []

    def fake(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    assert discovery.pull(tmp_path / "dest") == tmp_path / "snap"
    (repo, kw), = calls
    assert repo == "Tongyi-MAI/Z-Image-Turbo" and kw["local_dir"] == str(tmp_path / "dest")
    assert "*.safetensors" in kw["allow_patterns"] and not any(".bin" in p for p in kw["allow_patterns"])


def test_fixture_layouts_agree_with_diffusers_single_file_converters(tiny_models):
    """The ComfyUI/LDM files the fixtures write are what diffusers' own single-file converters read back
    into the original weights, so the layouts our loader is tested on are the real ones."""
    from diffusers.loaders import single_file_utils as sfu
    from zimage_kit import dit_to_comfy, vae_to_ldm

    sd = tiny_models.dit.state_dict()
    back = sfu.convert_z_image_transformer_checkpoint_to_diffusers(dict(dit_to_comfy(sd)))
    assert set(back) == set(sd) and all(torch.equal(back[k], sd[k]) for k in sd)
    vsd = tiny_models.vae.state_dict()
    vback = sfu.convert_ldm_vae_checkpoint(vae_to_ldm(vsd, 4), dict(tiny_models.vae.config))
    assert set(vback) == set(vsd)
    assert all(torch.equal(vback[k].reshape(vsd[k].shape), vsd[k]) for k in vsd)


def test_comfy_key_variants():
    from zpipe.engine.zimage.keymaps import dit_from_comfy, text_encoder_key

    t = torch.zeros(6, 2)
    assert [k for k, _ in dit_from_comfy("model.diffusion_model.x_embedder.weight", t)] == ["all_x_embedder.2-1.weight"]
    assert list(dit_from_comfy("norm_final.weight", t)) == []  # Lumina-2 leftover, dropped
    parts = list(dit_from_comfy("diffusion_model.layers.3.attention.qkv.weight", t))
    assert [k for k, _ in parts] == [f"layers.3.attention.to_{n}.weight" for n in "qkv"]
    assert all(v.shape == (2, 2) for _, v in parts)
    assert text_encoder_key("model.layers.2.mlp.up_proj.weight", last_layer=5) == "layers.2.mlp.up_proj.weight"
    assert text_encoder_key("layers.5.mlp.up_proj.weight", last_layer=5) is None  # never read
    assert text_encoder_key("lm_head.weight", last_layer=5) is None


def test_dit_config_refuses_what_the_engine_does_not_do():
    from zpipe.engine.zimage.configs import DiTConfig

    assert DiTConfig.from_dict({"qk_norm": True, "_class_name": "ZImageTransformer2DModel"}) == DiTConfig()
    with pytest.raises(EngineError, match="qk_norm"):
        DiTConfig.from_dict({"qk_norm": False})


@pytest.mark.parametrize("layout", ["diffusers", "comfy"])
def test_a_load_reads_the_configs_once(layout, request, monkeypatch):
    # Discovery checks them, the engine picks a dtype and a memory mode with them, the loaders build with them.
    from zpipe.engine.zimage import configs, files

    reads: list[str] = []
    for cls in (configs.DiTConfig, configs.Qwen3Config, configs.VAEConfig):
        real = cls.from_dict
        monkeypatch.setattr(cls, "from_dict", classmethod(lambda c, raw, real=real: reads.append(c.__name__) or real(raw)))
    real_shapes = files.header_shapes
    monkeypatch.setattr(files, "header_shapes", lambda f: reads.append("header") or real_shapes(f))
    root = request.getfixturevalue(f"{layout}_ckpt")
    ZImageEngine.from_options({"model": str(root), "device": "cpu", "dtype": "fp32"})
    headers = 3 if layout == "comfy" else 1  # the VAE's names say its layout; ComfyUI's shapes say the rest
    assert sorted(reads) == sorted(["DiTConfig", "Qwen3Config", "VAEConfig"] + ["header"] * headers), reads


MEMORY_PLAN_WITHOUT_TORCH = """
import json, sys
from zpipe.cli import main
try:
    main(["models", "--model", sys.argv[1], "--json"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("torch modules:", json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


@pytest.mark.parametrize("layout", ["diffusers", "comfy"])
def test_the_memory_planner_imports_no_torch(layout, request):
    import json
    import subprocess
    import sys

    root = request.getfixturevalue(f"{layout}_ckpt")
    r = subprocess.run([sys.executable, "-c", MEMORY_PLAN_WITHOUT_TORCH, str(root)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    rows, imported = r.stdout.split("torch modules:")
    assert json.loads(rows)[0]["memory"]["peak_bytes"] and json.loads(imported) == [], r.stdout
