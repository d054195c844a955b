"""KTX2 export per codec on one procedural stone albedo: encode time (ratio to DDS BC7 in the same run),
file size and level-0 PSNR read back by independent decoders.

    python benchmarks/ktx2_quality.py [--size 512] [--repeat 3]

BCn levels are decoded with ``texture2ddecoder``, Basis ETC1S/UASTC with ``opengl_basisu`` (both test
dependencies); Basis rows need the ``basisu`` tool (see docs/textures.md) and are left out without it.
Asserts nothing.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best


def albedo(size: int) -> np.ndarray:
    from zpipe.engine import registry
    from zpipe.engine.base import Request

    req = Request(prompt="grey cobblestone", width=size, height=size, seed=1, tile="xy")
    return registry.create("procedural").generate([req])[0].image.astype(np.float32)


def level0(data: bytes, codec: str, size: int) -> np.ndarray:
    """Level 0 as float RGB, decoded by a reader independent of zpipe's writer and of etcpak."""
    import struct

    if codec in ("etc1s", "uastc"):
        import opengl_basisu

        return opengl_basisu.open(data).transcode_levels("rgba8")[0].data.reshape(size, size, 4)[..., :3] / 255.0
    import texture2ddecoder

    off, length = struct.unpack_from("<2Q", data, 80)  # level 0's entry in the KTX2 level index
    decode = {"bc7": texture2ddecoder.decode_bc7, "bc1": texture2ddecoder.decode_bc1}[codec]
    bgra = np.frombuffer(decode(data[off: off + length], size, size), np.uint8).reshape(size, size, 4)
    return bgra[..., [2, 1, 0]] / 255.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from zpipe.texture import basisu
    from zpipe.texture.export import export_images

    img = albedo(args.size)

    def run(fmt: str, codec: str) -> bytes:
        opts = {"formats": [fmt], "ktx2": {"codec": codec}, "dds_format": codec}
        files, _ = export_images({"albedo": img}, "stone", opts)
        return next(iter(files.values()))

    t_ref, _ = best(lambda: run("dds", "bc7"), args.repeat)
    print(f"{args.size}x{args.size} stone albedo, mips on; reference: DDS BC7 {t_ref * 1000:.0f} ms")
    print(f"{'codec':<8} {'encode ms':>10} {'x DDS BC7':>10} {'KiB':>8} {'PSNR dB':>8}")
    codecs = ["bc7", "bc1"] + (list(basisu.CODECS) if basisu.find() else [])
    for codec in codecs:
        t, data = best(lambda c=codec: run("ktx2", c), args.repeat)
        back = level0(data, codec, args.size)
        psnr = 10 * np.log10(1.0 / np.mean((back - img[..., :3]) ** 2))
        print(f"{codec:<8} {t * 1000:>10.0f} {t / t_ref:>10.2f} {len(data) / 1024:>8.1f} {psnr:>8.1f}")
    if not basisu.find():
        print("etc1s/uastc left out: no basisu tool (" + basisu.INSTALL_HINT + ")")


if __name__ == "__main__":
    main()
