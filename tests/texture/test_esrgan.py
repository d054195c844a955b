"""ESRGAN-family upscaling (RRDBNet from safetensors): the network against a reference written here from the
published architecture (spandrel, the usual reference, does not install beside torch 2.13 CPU: it needs
torchvision, whose PyPI build does not load with the CPU torch), wrap-around tiling, seams, pickle refusal."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from helpers import NO_ENGINE, make_asset, periodic_noise, stage_params  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from zpipe.stages.base import StageFailure  # noqa: E402
from zpipe.stages.upscale import UpscaleStage  # noqa: E402
from zpipe.texture import esrgan  # noqa: E402
from zpipe.texture.seam import seam_scores  # noqa: E402


def random_state(num_feat=8, num_grow=4, num_block=2, in_total=3, old_names=False, seed=0):
    """Random RRDBNet weights, in the original ESRGAN naming (model.N …) or Real-ESRGAN's."""
    g = torch.Generator().manual_seed(seed)

    def conv(cin, cout):  # unit gain, so that the output varies (about 0.5 +- 0.07) and is not clipped
        return {"weight": torch.randn(cout, cin, 3, 3, generator=g) * (1.0 / (cin * 9) ** 0.5),
                "bias": torch.randn(cout, generator=g) * 0.01}

    names = {}
    names["first"] = conv(in_total, num_feat)
    for b in range(num_block):
        for r in (1, 2, 3):
            for k in range(1, 6):
                cin = num_feat + (k - 1) * num_grow
                names[f"b{b}.r{r}.c{k}"] = conv(cin, num_grow if k < 5 else num_feat)
    for n in ("trunk", "up1", "up2", "hr"):
        names[n] = conv(num_feat, num_feat)
    names["last"] = conv(num_feat, 3)
    names["last"]["bias"] = torch.full((3,), 0.5)
    state = {}
    for n, p in names.items():
        for t, v in p.items():
            if old_names:
                key = {"first": "model.0", "trunk": f"model.1.sub.{num_block}", "up1": "model.3", "up2": "model.6",
                       "hr": "model.8", "last": "model.10"}.get(n)
                if key is None:
                    b, r, k = (int(x[1:]) for x in n.split("."))
                    key = f"model.1.sub.{b}.RDB{r}.conv{k}.0"
            else:
                key = {"first": "conv_first", "trunk": "conv_body", "up1": "conv_up1", "up2": "conv_up2",
                       "hr": "conv_hr", "last": "conv_last"}.get(n)
                if key is None:
                    b, r, k = (int(x[1:]) for x in n.split("."))
                    key = f"body.{b}.rdb{r}.conv{k}"
            state[f"{key}.{t}"] = v.contiguous()
    return names, state


def reference(names, x, num_block, unshuffle=1):
    """RRDBNet as published (ESRGAN, Wang et al. 2018; Real-ESRGAN 2021), written with plain functions."""
    def conv(n, t):
        return F.conv2d(t, names[n]["weight"], names[n]["bias"], padding=1)

    def lrelu(t):
        return torch.where(t >= 0, t, 0.2 * t)

    if unshuffle > 1:  # space-to-depth: channel c*r*r + i*r + j holds pixel (i, j) of each r x r cell
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // unshuffle, unshuffle, w // unshuffle, unshuffle)
        x = x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * unshuffle * unshuffle, h // unshuffle, w // unshuffle)
    fea = conv("first", x)
    trunk = fea
    for b in range(num_block):
        rrdb_in = trunk
        for r in (1, 2, 3):
            feats = [trunk]
            for k in range(1, 5):
                feats.append(lrelu(conv(f"b{b}.r{r}.c{k}", torch.cat(feats, 1))))
            trunk = conv(f"b{b}.r{r}.c5", torch.cat(feats, 1)) * 0.2 + trunk
        trunk = trunk * 0.2 + rrdb_in
    fea = fea + conv("trunk", trunk)
    fea = lrelu(conv("up1", fea.repeat_interleave(2, 2).repeat_interleave(2, 3)))
    fea = lrelu(conv("up2", fea.repeat_interleave(2, 2).repeat_interleave(2, 3)))
    return conv("last", lrelu(conv("hr", fea)))


@pytest.mark.parametrize("old_names", [True, False])
def test_x4_network_matches_the_reference(old_names):
    names, state = random_state(old_names=old_names)
    net = esrgan.build(state)
    assert net.scale == 4
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        got, want = net(x), reference(names, x, num_block=2)
    assert got.shape == (1, 3, 48, 40)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_x2_network_folds_pixels_first():
    names, state = random_state(in_total=12, num_block=1)
    net = esrgan.build(state)
    assert net.scale == 2
    x = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        got, want = net(x), reference(names, x, num_block=1, unshuffle=2)
    assert got.shape == (1, 3, 16, 24)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_wrapped_tiles_equal_the_infinitely_tiled_texture():
    """With one RRDB the receptive field is ~19 input px, under the 24 px of context: tiling is then exact, and
    wrap-around context makes the result the centre of the upscaled 3x3 repetition of the texture."""
    _, state = random_state(num_block=1, seed=3)
    net = esrgan.build(state)
    img = periodic_noise(40, seed=4)
    tiled = esrgan.upscale(net, img, tile=16, pad=24, wrap=True)
    with torch.inference_mode():
        big = net(torch.from_numpy(np.tile(img, (3, 3, 1))).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    centre = np.clip(big[160:320, 160:320], 0, 1)
    assert tiled.shape == (160, 160, 3)
    np.testing.assert_allclose(tiled, centre, atol=2e-5)
    # without wrap the borders are extended instead: the result differs at the border only
    edge = esrgan.upscale(net, img, tile=16, pad=24, wrap=False)
    assert np.abs(edge - tiled)[40:120, 40:120].max() < 1e-5 and np.abs(edge - tiled).max() > 1e-3


def test_upscale_stage_with_a_model_keeps_textures_seamless(tmp_path):
    _, state = random_state(num_block=1, seed=5)
    path = tmp_path / "4x_test.safetensors"
    save_file(state, str(path))
    stage = UpscaleStage()
    params = stage_params(UpscaleStage, model=str(path), factor=4, model_tile=32)
    assert UpscaleStage.check(params) == {}
    asset = make_asset({"albedo": periodic_noise(48, seed=6), "height": periodic_noise(48, seed=7, c=1)})
    result = stage.run(asset, params, NO_ENGINE)
    assert result.metrics["method"] == "model" and result.metrics["model_scale"] == 4
    up = result.images["albedo"]
    assert up.shape == (192, 192, 3) and result.images["height"].shape == (192, 192, 1)
    assert max(seam_scores(up, "xy").values()) < 1.5, seam_scores(up, "xy")
    assert max(result.metrics["seam_after"]["albedo"].values()) < 1.5
    # textures get wrap-around context (what makes the tiling exact: the test above)
    net = esrgan.cached_model(path, "cpu")
    np.testing.assert_array_equal(up, esrgan.upscale(net, asset.images["albedo"], tile=32, wrap=True))
    # factor 2 with a x4 model: the model's output is resampled to x2
    half = stage.run(asset, stage_params(UpscaleStage, model=str(path), factor=2), NO_ENGINE)
    assert half.images["albedo"].shape == (96, 96, 3) and half.metrics["model_scale"] == 4
    # the model file's content is part of the cache key
    assert UpscaleStage.key_inputs(params)["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "model_sha256" not in UpscaleStage.key_inputs({**params, "model": ""})


def test_pickle_and_missing_models_are_refused(tmp_path, write_recipe):
    from click.testing import CliRunner

    from zpipe.cli import main

    pth = tmp_path / "RealESRGAN_x4plus.pth"
    pth.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(esrgan.ModelError, match="refusing a pickle checkpoint"):
        esrgan.load(pth)
    assert "pickle" in UpscaleStage.check({"model": str(pth)})["model"]
    assert "does not exist" in UpscaleStage.check({"model": str(tmp_path / "x.safetensors")})["model"]
    r = CliRunner().invoke(main, ["validate", str(write_recipe(
        f"name: u\nsize: 64\nprompt: stone\nassets: [{{id: a}}]\nstages: [{{upscale: {{model: {pth}}}}}]\n"))])
    assert r.exit_code == 2 and "stages[0].upscale.model" in r.output and "safetensors" in r.output, r.output
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    with pytest.raises(StageFailure, match="cannot read it as safetensors"):
        UpscaleStage().run(make_asset({"albedo": periodic_noise(16)}),
                           stage_params(UpscaleStage, model=str(bad)), NO_ENGINE)
