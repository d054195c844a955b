import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from zpipe.cli import main
from zpipe.text.typeset import Style, demo_background, typeset


def _poster(path):
    lines = [{"role": "title", "text": "土地人民"}, {"role": "subtitle", "text": "Land and People"}]
    out, _ = typeset(demo_background(512, 512, seed=2), lines)
    Image.fromarray((out * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def test_glyph_check_command_exit_codes_and_json(tmp_path):
    img = str(_poster(tmp_path / "p.png"))
    runner = CliRunner()
    ok = runner.invoke(main, ["glyph-check", img, "--expect", "土地人民", "--expect", "land and people"])
    assert ok.exit_code == 0, ok.output
    assert "2/2 lines pass" in ok.output

    bad = runner.invoke(main, ["glyph-check", img, "--expect", "士地入民", "--expect", "Land and People", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["pass"] is False
    assert [b["text"] for b in data["lines"][0].pop("boxes")] == ["土地人民"]
    assert data["lines"][0] == {"expected": "士地入民", "found": "土地人民", "ned": 0.5, "exact": False, "pass": False}
    assert data["lines"][1]["exact"] is True

    missing = runner.invoke(main, ["glyph-check", str(tmp_path / "none.png"), "--expect", "x"])
    assert missing.exit_code == 2 and "image not found" in missing.output


def test_soft_punctuation_is_ignored_meaningful_marks_count(tmp_path):
    img = str(_poster(tmp_path / "p.png"))
    runner = CliRunner()
    soft = ["glyph-check", img, "--expect", "“土地，人民”", "--expect", "Land and People"]
    assert runner.invoke(main, soft).exit_code == 0
    assert runner.invoke(main, [*soft, "--keep-punct"]).exit_code == 1
    meaningful = ["glyph-check", img, "--expect", "土地人民！", "--expect", "Land & People"]
    assert runner.invoke(main, meaningful).exit_code == 1


def test_other_text_fails_the_check_unless_allowed(tmp_path):
    img = str(_poster(tmp_path / "p.png"))
    runner = CliRunner()
    only_title = ["glyph-check", img, "--expect", "土地人民", "--json"]
    out = runner.invoke(main, only_title)
    data = json.loads(out.output)
    assert out.exit_code == 1 and data["extra_chars"] == len("LandandPeople")
    assert data["extra_text"] == ["Land and People"]
    assert runner.invoke(main, [*only_title, "--max-extra-chars", "20"]).exit_code == 0
    assert runner.invoke(main, [*only_title, "--max-extra-chars", "-1"]).exit_code == 0


def test_many_images_in_one_call_with_a_verdict_each_and_a_summary(tmp_path):
    good = str(_poster(tmp_path / "good.png"))
    lines = [{"role": "title", "text": "士地入民"}, {"role": "subtitle", "text": "Land and People"}]
    out, _ = typeset(demo_background(512, 512, seed=3), lines)
    Image.fromarray((out * 255 + 0.5).astype(np.uint8)).save(tmp_path / "bad.png")
    runner = CliRunner()
    args = ["glyph-check", good, str(tmp_path / "bad.png"), "--expect", "土地人民", "--expect", "Land and People"]
    res = runner.invoke(main, [*args, "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert [(e["verdict"], e["exit"]) for e in data["images"]] == [("pass", 0), ("fail", 1)]
    assert data["summary"] == {"images": 2, "pass": 1, "fail": 1, "unverified": 0, "error": 0, "exit": 1}
    text = runner.invoke(main, args).output
    assert "good.png: PASS" in text and "bad.png: FAIL" in text and "2 images: 1 pass, 1 fail" in text

    listing = tmp_path / "list.yaml"
    listing.write_text("good.png: [土地人民, Land and People]\nbad.png: [士地入民, Land and People]\n"
                       "missing.png: [x]\n", encoding="utf-8")
    res = runner.invoke(main, ["glyph-check", "--list", str(listing), "--json"])
    data = json.loads(res.output)
    assert res.exit_code == 2  # one image is missing; the others are still checked
    assert [e["verdict"] for e in data["images"]] == ["pass", "pass", "error"]
    assert "image not found" in data["images"][2]["error"]
    assert runner.invoke(main, ["glyph-check", good]).exit_code == 2  # no --expect


def test_a_16_bit_greyscale_png_is_read(tmp_path):
    lines = [{"role": "title", "text": "土地人民"}]
    out, _ = typeset(demo_background(512, 512, seed=2), lines, style=Style(colour="black", scrim="none"))
    grey16 = (out.mean(axis=2) * 65535 + 0.5).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey16).save(path)
    assert Image.open(path).mode.startswith("I;16")
    res = CliRunner().invoke(main, ["glyph-check", str(path), "--expect", "土地人民"])
    assert res.exit_code == 0, res.output


def test_validate_warns_about_characters_the_ocr_cannot_read(tmp_path):
    recipe = tmp_path / "kana.yaml"
    recipe.write_text("name: kana\nkind: posters\nsize: 512\nstyle: calm\nassets:\n"
                      "  - id: hello\n    title: こんにちは\n    subtitle: Hello\n"
                      "  - id: typed\n    text: typeset\n    title: こんにちは\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", str(recipe)])
    assert res.exit_code == 0, res.output
    assert "asset hello, title 'こんにちは': the OCR cannot read 'こ', 'ん', 'に', 'ち', 'は'" in res.output
    assert "fails the poster (glyph_check `unverified: fail`)" in res.output
    assert "passes it with a warning (glyph_check `unverified: warn`)" in res.output
    assert "Hello" not in res.output.split("ok (")[1]
