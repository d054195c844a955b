"""Turn an asset's images into files: naming, engine presets, normal convention, power-of-two sizes,
colour space, format encoders and DDS/KTX2 mip chains. Pure: returns bytes, writes nothing.

Engine presets set the file naming and the normal-map green-channel convention:

========== ===================== ============ ==============================================
preset     naming                normal Y     suffixes (albedo normal height roughness ao orm)
========== ===================== ============ ==============================================
unity      ``{asset}_{suffix}``  OpenGL (Y+)  Albedo Normal Height Roughness Occlusion ORM
unity-hdrp ``{asset}_{suffix}``  OpenGL (Y+)  the same, plus MaskMap
unity-urp  ``{asset}_{suffix}``  OpenGL (Y+)  the same, plus MetallicSmoothness
unreal     ``T_{asset}_{suffix}`` DirectX (Y-) D N H R AO ORM
godot      ``{asset}_{suffix}``  OpenGL (Y+)  albedo normal height roughness ao orm
========== ===================== ============ ==============================================

An explicit ``naming`` other than the default ``{role}`` wins over the preset's, and so does an
explicit ``normal_y``. Unity reads tangent-space normals as OpenGL (Y+) in every render pipeline.

The Unity presets add a packed map made from ``roughness`` (and ``ao`` when made), since Unity's Lit
shaders take smoothness from a packed map's alpha, never from a roughness map:

- ``unity-hdrp``: role ``mask``, HDRP's mask map: R metallic, G AO, B detail mask (1: a detail map, if the
  material has one, applies everywhere), A smoothness = 1 - roughness.
- ``unity-urp``: role ``metallic_smoothness``, URP's (and the built-in Standard shader's) metallic map:
  RGB metallic, A smoothness = 1 - roughness.

Metallic is the ``metallic`` role when a stage made one, else the pbr stage's constant ``metallic``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zpipe.texture import basisu, dds, exr, ktx2, wrap
from zpipe.texture.formats import (
    EXTENSIONS,
    colour_space,
    encode_jpeg,
    encode_png,
    encode_tga,
    encode_webp,
    encoded_channels,
    file_stem,
)
from zpipe.texture.readback import decode
from zpipe.texture.seam import seam_scores

PRESETS: dict[str, dict[str, Any]] = {
    "unity": {"naming": "{asset}_{suffix}", "normal_y": "opengl",
              "suffix": {"albedo": "Albedo", "normal": "Normal", "height": "Height", "roughness": "Roughness",
                         "ao": "Occlusion", "orm": "ORM", "metallic": "Metallic"}},
    "unreal": {"naming": "T_{asset}_{suffix}", "normal_y": "directx",
               "suffix": {"albedo": "D", "normal": "N", "height": "H", "roughness": "R", "ao": "AO",
                          "orm": "ORM", "metallic": "M"}},
    "unity-hdrp": {"naming": "{asset}_{suffix}", "normal_y": "opengl", "pack": "mask",
                   "suffix": {"albedo": "Albedo", "normal": "Normal", "height": "Height", "roughness": "Roughness",
                              "ao": "Occlusion", "orm": "ORM", "metallic": "Metallic", "mask": "MaskMap"}},
    "unity-urp": {"naming": "{asset}_{suffix}", "normal_y": "opengl", "pack": "metallic_smoothness",
                  "suffix": {"albedo": "Albedo", "normal": "Normal", "height": "Height", "roughness": "Roughness",
                             "ao": "Occlusion", "orm": "ORM", "metallic": "Metallic",
                             "metallic_smoothness": "MetallicSmoothness"}},
    "godot": {"naming": "{asset}_{suffix}", "normal_y": "opengl",
              "suffix": {"albedo": "albedo", "normal": "normal", "height": "height", "roughness": "roughness",
                         "ao": "ao", "orm": "orm", "metallic": "metallic"}},
}
DDS_FORMATS = ("auto", "uncompressed", "bc1", "bc3", "bc4", "bc5", "bc7")
KTX2_CODECS = (*DDS_FORMATS, *basisu.CODECS)
# ``output.ktx2``: a mapping of these keys (key: (default, allowed values or (min, max)))
KTX2_OPTIONS: dict[str, tuple[Any, tuple]] = {
    "codec": ("auto", KTX2_CODECS),
    "etc1s_quality": (128, (1, 255)),
    "uastc_level": (2, (0, 4)),
}
DEFAULTS: dict[str, Any] = {
    "formats": ["png"], "naming": "{role}", "preset": "none", "normal_y": "auto", "roles": [],
    "bits16": ["height"], "jpeg_quality": 92, "webp_quality": 90, "webp_lossless": False,
    "png_compression": 1, "tga_rle": True, "power_of_two": "off", "mipmaps": True, "dds_format": "auto",
    "ktx2": {},
}


def flip_green(normal: np.ndarray) -> np.ndarray:
    """Switch a tangent-space normal map between OpenGL (Y+) and DirectX (Y-) conventions."""
    out = np.array(normal, dtype=np.float32, copy=True)
    out[..., 1] = 1.0 - out[..., 1]
    return out


def dds_format_for(role: str, channels: int, choice: str) -> str:
    """The DXGI pixel format (a key of :data:`zpipe.texture.dds.DXGI`) for a role."""
    srgb = colour_space(role) == "srgb"
    if choice in ("auto", "uncompressed"):
        if role == "height" and channels == 1:
            return "r16"  # height keeps 16 bits; BC4 would quantise it to 8
        if choice == "uncompressed" or not dds.compressed_available():
            return {1: "r8", 2: "rg8"}.get(channels, "rgba8_srgb" if srgb else "rgba8")
        if role == "normal" or channels == 2:
            return "bc5"
        if channels == 1:
            return "bc4"
        return "bc7_srgb" if srgb else "bc7"
    if choice in ("bc4", "bc5"):
        return choice
    return choice + "_srgb" if srgb else choice


def ktx2_problems(value: Any, formats: list[str]) -> list[str]:
    """What is wrong with ``output.ktx2`` (each phrased as a fix); [] when it is usable here."""
    if not isinstance(value, dict):
        return ["expected a mapping such as {codec: bc7}"]
    problems = []
    for key, given in value.items():
        if key not in KTX2_OPTIONS:
            problems.append(f"unknown ktx2 option {key!r}; use " + ", ".join(KTX2_OPTIONS))
            continue
        _, allowed = KTX2_OPTIONS[key]
        if key == "codec":
            if given not in allowed:
                problems.append(f"ktx2 codec {given!r} is not one of " + ", ".join(allowed))
        elif not isinstance(given, int) or isinstance(given, bool) or not allowed[0] <= given <= allowed[1]:
            problems.append(f"ktx2 {key} must be an integer in [{allowed[0]}, {allowed[1]}], got {given!r}")
    codec = value.get("codec", "auto")
    if "ktx2" in formats and codec in basisu.CODECS and basisu.find() is None:
        problems.append(f"ktx2 codec {codec} needs the Basis Universal encoder, which is not installed: "
                        + basisu.INSTALL_HINT)
    return problems


def unity_packed(kind: str, images: dict[str, np.ndarray], metallic: float = 0.0) -> np.ndarray:
    """Unity's packed map (``mask``: HDRP's RGBA = metallic, AO, detail mask, smoothness; ``metallic_smoothness``:
    URP/Standard's RGB = metallic, A = smoothness) from ``roughness``, ``ao`` (1 when absent) and ``metallic``
    (the role when present, else the constant)."""
    rough = np.asarray(images["roughness"], np.float32)[..., :1]
    h, w = rough.shape[:2]

    def channel(role: str, default: float) -> np.ndarray:
        if role in images:
            return np.asarray(images[role], np.float32)[..., :1]
        return np.full((h, w, 1), default, np.float32)

    metal, smooth = channel("metallic", metallic), 1.0 - rough
    if kind == "mask":
        return np.concatenate([metal, channel("ao", 1.0), np.ones_like(rough), smooth], axis=2)
    return np.concatenate([metal, metal, metal, smooth], axis=2)


def export_images(images: dict[str, np.ndarray], asset_id: str, options: dict[str, Any],
                  normal_y_made: str = "opengl", periodic: bool = True,
                  metallic: float = 0.0) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Encode ``images`` per ``options`` (the export stage's params); returns (files, metrics).

    With ``periodic`` (textures), each role's metrics carry its seam scores (``seam``), DDS mip chains
    are filtered with wrap, and each DDS file records the worst seam score over its mip levels of 16 px
    and more (``mip_seam_max``).

    Raises ValueError (phrased as a fix) for a bad name, a missing role, a non-power-of-two size under
    ``power_of_two: check``, or a DDS format that needs a missing library.
    """
    o = {**DEFAULTS, **options}
    preset = PRESETS.get(o["preset"], {})
    if preset.get("pack") and "roughness" in images:  # the packed map of a Unity preset
        images = {**images, preset["pack"]: unity_packed(preset["pack"], images, metallic)}
    roles = list(o["roles"]) or list(images)
    missing = [r for r in roles if r not in images]
    if missing:
        raise ValueError(f"role {missing[0]!r} is not made by the stages; available: {', '.join(images)}")
    naming = preset["naming"] if preset and o["naming"] == "{role}" else o["naming"]
    target_y = o["normal_y"] if o["normal_y"] != "auto" else preset.get("normal_y", normal_y_made)
    formats = list(dict.fromkeys(o["formats"]))
    if not formats:
        raise ValueError("output formats is empty; list at least one of " + ", ".join(EXTENSIONS))

    if "ktx2" in formats:
        problems = ktx2_problems(o["ktx2"], formats)
        if problems:
            raise ValueError("output.ktx2: " + "; ".join(problems))

    files: dict[str, bytes] = {}
    metrics: dict[str, Any] = {}
    for role in roles:
        img, m = _prepared(role, images[role], o["power_of_two"], normal_y_made, target_y)
        if periodic:
            m["seam"] = {a: round(v, 4) for a, v in seam_scores(img, "xy").items()}
        suffix = preset.get("suffix", {}).get(role, role)
        stem = file_stem(naming, asset_id, role, suffix)
        for fmt in formats:
            name = stem + ("_16" if fmt == "png16" and "png" in formats else "") + EXTENSIONS[fmt]
            if name in files:
                raise ValueError(f"two files would be named {name!r}; put {{role}} or {{suffix}} in the naming")
            data, info = _encode(img, role, fmt, o, periodic)
            files[name] = data
            m["files"][name] = info
            m["bits"] = max(m["bits"], info["bits"])
        metrics[role] = m
    return files, metrics


def _prepared(role: str, image: np.ndarray, power_of_two: str, normal_y_made: str,
              target_y: str) -> tuple[np.ndarray, dict[str, Any]]:
    """A role's image as it is exported (power-of-two size, normal convention) and its metrics so far."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    h, w, c = img.shape
    m: dict[str, Any] = {"width": w, "height": h, "channels": c, "bits": 8,
                         "colour_space": colour_space(role), "files": {}}
    if power_of_two != "off" and not (wrap.is_power_of_two(w) and wrap.is_power_of_two(h)):
        if power_of_two == "check":
            raise ValueError(f"{role} is {w}x{h}, not a power of two; set output.power_of_two to resize "
                             "or change the size")
        nw, nh = wrap.nearest_power_of_two(w), wrap.nearest_power_of_two(h)
        img = wrap.resize(img, nw, nh, "auto", wrap=True)
        if role == "normal":
            img = renormalise(img)
        m.update(width=nw, height=nh, resized_from=[w, h])
    if role == "normal" and c >= 3:
        if target_y != normal_y_made:
            img = flip_green(img)
        m["normal_y"] = target_y
    return img, m


def renormalise(normal: np.ndarray) -> np.ndarray:
    """Rescale encoded normals ([0, 1] per channel) back to unit length after filtering."""
    v = normal[..., :3] * 2.0 - 1.0
    v /= np.maximum(np.linalg.norm(v, axis=2, keepdims=True), 1e-6)
    out = normal.copy()
    out[..., :3] = v * 0.5 + 0.5
    return out


def _encode(img: np.ndarray, role: str, fmt: str, o: dict[str, Any],
            periodic: bool = True) -> tuple[bytes, dict[str, Any]]:
    c = img.shape[2]
    space = colour_space(role)
    info: dict[str, Any] = {"format": fmt, "bits": 8, "channels": encoded_channels(fmt, c), "colour_space": space}
    if fmt in ("png", "png16"):
        bits = 16 if fmt == "png16" or role in o["bits16"] else 8
        info["bits"] = bits
        return encode_png(img, bits, space, int(o["png_compression"])), info
    if fmt == "jpeg":
        return encode_jpeg(img, int(o["jpeg_quality"])), info
    if fmt == "webp":
        return encode_webp(img, int(o["webp_quality"]), bool(o["webp_lossless"])), info
    if fmt == "tga":
        return encode_tga(img, bool(o["tga_rle"])), info
    if fmt == "exr":
        data, exr_info = exr.encode_exr(img, role, srgb=space == "srgb")
        info.update(exr_info)
        return data, info
    if fmt == "ktx2":
        return _encode_ktx2(img, role, {**{k: d for k, (d, _) in KTX2_OPTIONS.items()}, **(o["ktx2"] or {})},
                            bool(o["mipmaps"]), periodic, info)
    if fmt == "dds":
        pix = dds_format_for(role, c, o["dds_format"])
        levels = wrap.mip_chain(img, wrap=periodic) if o["mipmaps"] else [img]
        data = dds.encode(levels, pix)
        hdr = dds.read_header(data)
        info.update(bits=hdr.bits, channels=hdr.channels, dxgi=pix, mips=hdr.mip_count,
                    colour_space="srgb" if hdr.srgb else colour_space(role))
        _mip_seams(levels, periodic, info)
        if periodic and pix.split("_")[0] in dds.BLOCK_BYTES:
            try:  # what the engine will sample: score the decoded level 0 (Pillow's BCn decoder)
                decoded = decode(data, "x.dds")
            except Exception:  # noqa: BLE001 - Pillow cannot decode every format (e.g. BC1 sRGB)
                decoded = None
            if decoded is not None:
                info["seam_compressed"] = {a: round(v, 4) for a, v in seam_scores(decoded, "xy").items()}
        return data, info
    raise ValueError(f"unknown format {fmt!r}")


def _mip_seams(levels: list[np.ndarray], periodic: bool, info: dict[str, Any]) -> None:
    """Record the worst seam score over the mip levels of 16 px and more (``mip_seam_max``)."""
    scored = [lv for lv in levels[1:] if min(lv.shape[:2]) >= 16]
    if periodic and scored:
        info["mip_seam_max"] = round(max(max(seam_scores(lv, "xy").values()) for lv in scored), 4)


def _encode_ktx2(img: np.ndarray, role: str, k: dict[str, Any], mipmaps: bool, periodic: bool,
                 info: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """KTX2: BCn or uncompressed levels from :mod:`zpipe.texture.ktx2`, or Basis (ETC1S/UASTC) from basisu."""
    srgb = colour_space(role) == "srgb"
    if k["codec"] in basisu.CODECS:
        data, encoder = basisu.encode(img, k["codec"], srgb=srgb, normal=role == "normal", mipmaps=mipmaps,
                                      wrap=periodic, etc1s_quality=k["etc1s_quality"], uastc_level=k["uastc_level"])
        hdr = ktx2.read_header(data)
        info.update(vk_format=hdr.format, codec=k["codec"], mips=len(hdr.levels), encoder=encoder,
                    channels=4 if img.shape[2] in (2, 4) else 3)
    else:
        pix = dds_format_for(role, img.shape[2], k["codec"])
        levels = wrap.mip_chain(img, wrap=periodic) if mipmaps else [img]
        data = ktx2.encode(levels, pix)
        hdr = ktx2.read_header(data)
        base = dds.base_format(pix)
        info.update(vk_format=pix, codec=base if base in dds.BLOCK_BYTES else "uncompressed", mips=len(levels),
                    bits=dds.bit_depth(pix), channels=dds.channel_count(pix))
        _mip_seams(levels, periodic, info)
    info["colour_space"] = "srgb" if hdr.srgb else "linear"
    return data, info
