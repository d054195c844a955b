"""Command-line inputs that used to end in a traceback: a decompression-bomb PNG for glyph-check, and
`zpipe bench --size` values."""

from __future__ import annotations

import struct
import zlib

import pytest
from click.testing import CliRunner

from zpipe.cli import main


def png_header_only(path, width: int, height: int) -> None:
    """A tiny PNG whose header declares width x height (the pixel data is missing)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [30000, 10000])  # over Pillow's own bomb limit, and under it but huge
def test_glyph_check_refuses_a_decompression_bomb(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, side, side)
    assert bomb.stat().st_size < 200
    r = CliRunner().invoke(main, ["glyph-check", str(bomb), "--expect", "x"])
    assert r.exit_code == 2 and "declares more than the 67,108,864 pixels" in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("size, expected", [("0", "multiples of 16 from 64 to 8192"), ("abc", "expected WxH or N"),
                                            ("100000", "multiples of 16"), ("64x", "expected WxH or N"),
                                            ("1000x1024", "multiples of 16")])
def test_bench_size_is_validated(size, expected):
    r = CliRunner().invoke(main, ["bench", "--size", size])
    assert r.exit_code == 2 and expected in r.output, r.output
