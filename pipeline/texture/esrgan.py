"""ESRGAN-family upscalers (RRDBNet: Real-ESRGAN x4plus / x2plus, 4x-UltraSharp, …) from safetensors, run in
tiles that wrap around so a tileable texture stays tileable.

The network is the published RRDBNet (Wang et al., ESRGAN 2018; Real-ESRGAN 2021): a 3x3 conv, ``num_block``
residual-in-residual dense blocks (each three 5-conv dense blocks with LeakyReLU 0.2, residuals scaled by
0.2), a 3x3 conv added to the first features, two nearest-neighbour x2 upsamplings each followed by a conv
and LeakyReLU, then two convs. Real-ESRGAN's x2 (x1) models first fold 2x2 (4x4) pixels into channels
(pixel unshuffle), so the network always upsamples by 4 internally. The configuration is read from the
weights' shapes. Two key namings are accepted: Real-ESRGAN's (``conv_first``, ``body.N.rdb1.conv1``, …)
and the original ESRGAN 4x layout (``model.0``, ``model.1.sub.N.RDB1.conv1.0``, … as in 4x-UltraSharp).

Only ``.safetensors`` files are loaded: pickle checkpoints (.pth, .pt, .ckpt …) can run code when loaded.

This module imports torch; the upscale stage imports it only when a recipe names a model.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".pickle")
# original ESRGAN 4x layout -> Real-ESRGAN names (the trunk conv is the last entry of model.1.sub)
_OLD_TOP = {"model.0.": "conv_first.", "model.3.": "conv_up1.", "model.6.": "conv_up2.", "model.8.": "conv_hr.",
            "model.10.": "conv_last."}
_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")


class ModelError(ValueError):
    """The model file cannot be used; the message names the file and what to do."""


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow, num_grow, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow, num_grow, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow, num_grow, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.leaky_relu(self.conv1(x), 0.2)
        x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), 0.2)
        x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), 0.2)
        x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), 0.2)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow: int):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, in_ch: int = 3, out_ch: int = 3, scale: int = 4, num_feat: int = 64, num_block: int = 23,
                 num_grow: int = 32):
        super().__init__()
        self.scale = scale
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.unshuffle = unshuffle
        self.conv_first = nn.Conv2d(in_ch * unshuffle * unshuffle, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def convert_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Real-ESRGAN key names for either naming (a ``params``/``params_ema`` wrapper is not used in safetensors)."""
    if "conv_first.weight" in state:
        return dict(state)
    if "model.0.weight" not in state:
        raise ModelError("not an RRDBNet (ESRGAN) state dict: it has neither conv_first.* nor model.0.* keys")
    trunk = max(int(m.group(1)) for k in state if (m := _OLD_TRUNK.match(k)))
    out = {}
    for k, v in state.items():
        if m := _OLD_RDB.match(k):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = v
        elif (m := _OLD_TRUNK.match(k)) and int(m.group(1)) == trunk:
            out[f"conv_body.{m.group(2)}"] = v
        else:
            prefix = next((p for p in _OLD_TOP if k.startswith(p)), None)
            if prefix is None:
                raise ModelError(f"unexpected key {k!r}: only the 4x ESRGAN layout (model.0 … model.10) is supported "
                                 "in the original naming; convert the model to Real-ESRGAN names")
            out[_OLD_TOP[prefix] + k[len(prefix):]] = v
    return out


def build(state: dict[str, torch.Tensor]) -> RRDBNet:
    """An RRDBNet with the configuration the weights' shapes give, loaded strictly."""
    state = convert_keys(state)
    first = state["conv_first.weight"]
    num_feat, in_total = first.shape[0], first.shape[1]
    out_ch = state["conv_last.weight"].shape[0]
    in_ch = out_ch if in_total % out_ch == 0 else in_total
    scale = {1: 4, 4: 2, 16: 1}.get(in_total // in_ch)
    if scale is None:
        raise ModelError(f"conv_first takes {in_total} channels: not 3 (x4), 12 (x2) or 48 (x1) for RGB")
    num_block = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    num_grow = state["body.0.rdb1.conv1.weight"].shape[0]
    net = RRDBNet(in_ch, out_ch, scale, num_feat, num_block, num_grow)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the weights do not fit an RRDBNet: {str(exc).splitlines()[0]}") from None
    return net.eval()


def load(path: str | Path) -> RRDBNet:
    """Load an RRDBNet from a safetensors file (pickle files are refused)."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(f"{path}: refusing a pickle checkpoint ({path.suffix}): pickle files can run code when "
                         "loaded. Convert it once to .safetensors (e.g. chaiNNer, or safetensors.torch.save_file)")
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; give upscale.model the path of an ESRGAN .safetensors file")
    from safetensors.torch import load_file  # noqa: PLC0415

    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - a damaged or non-safetensors file: say so, with the reason
        raise ModelError(f"{path}: cannot read it as safetensors ({exc})") from None
    try:
        return build(state)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


@lru_cache(maxsize=2)
def _cached(path: str, mtime_ns: int, size: int, device: str) -> RRDBNet:
    return load(path).to(device)


def cached_model(path: str | Path, device: str) -> RRDBNet:
    """:func:`load`, kept for the next asset (keyed by the file's path, size and modification time)."""
    st = Path(path).stat() if Path(path).is_file() else None
    return _cached(str(path), st.st_mtime_ns if st else 0, st.st_size if st else 0, device)


def _indices(start: int, stop: int, n: int, wrap: bool) -> np.ndarray:
    idx = np.arange(start, stop)
    return idx % n if wrap else np.clip(idx, 0, n - 1)


@torch.inference_mode()
def upscale(net: RRDBNet, image: np.ndarray, tile: int = 256, pad: int = 24, wrap: bool = True,
            device: str = "cpu") -> np.ndarray:
    """Upscale an (H, W, 3) float image in [0, 1] by ``net.scale``, in tiles of ``tile`` px with ``pad`` px of
    context on each side. With ``wrap`` the context comes from the opposite border (the image is treated as
    periodic, so a tileable texture stays tileable); without, borders are extended."""
    h, w = image.shape[:2]
    s = net.scale
    out = np.empty((h * s, w * s, image.shape[2]), np.float32)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            th, tw = min(tile, h - y0), min(tile, w - x0)
            rows = _indices(y0 - pad, y0 + th + pad, h, wrap)
            cols = _indices(x0 - pad, x0 + tw + pad, w, wrap)
            patch = np.ascontiguousarray(image[rows][:, cols], dtype=np.float32)
            x = torch.from_numpy(patch).permute(2, 0, 1)[None].to(device)
            y = net(x)[0].permute(1, 2, 0).float().cpu().numpy()
            out[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] = y[pad * s:(pad + th) * s, pad * s:(pad + tw) * s]
    return np.clip(out, 0.0, 1.0)
