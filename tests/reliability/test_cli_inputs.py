"""Command-line inputs that used to end in a traceback: a decompression-bomb PNG for glyph-check,
`zpipe bench --size` values, and hook requests without their required keys (a fuzz test covers the rest)."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zpipe.cli import main
from zpipe.hook import HookError
from zpipe.hook.request import REQUEST, parse_request


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


@pytest.mark.parametrize("request_, expected", [
    ({"version": 1}, ["target: missing required key 'target'", "materials: missing required key 'materials'"]),
    ({"version": 1, "recipe": "r.yaml", "assets": ["a"]}, ["recipe: unknown key 'recipe'"]),
    ({"version": 1, "target": "t", "materials": [{"prompt": "x"}]}, ["materials[0].name: missing required key"]),
])
def test_a_hook_request_without_its_required_keys_is_an_answer(tmp_path, request_, expected):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_))
    r = CliRunner().invoke(main, ["hook", "export", "--request", str(path), "--json"])
    answer = json.loads(r.stdout)
    assert r.exit_code == 2 and answer["ok"] is False and answer["exit_code"] == 2, r.output
    for text in expected:
        assert any(e.startswith(text) for e in answer["errors"]), answer["errors"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=12)
FIELDS = st.sampled_from([*REQUEST, "recipe", "materials"])
MATERIAL = st.dictionaries(st.sampled_from(["name", "prompt", "seed", "size", "maps", "recipe", "set", "x"]), JSON)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIELDS, JSON | st.lists(MATERIAL, max_size=3), max_size=6) | JSON)
def test_fuzz_hook_requests_are_requests_or_hook_errors(tmp_path_factory, data):
    try:
        parse_request(data, tmp_path_factory.getbasetemp())
    except HookError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
