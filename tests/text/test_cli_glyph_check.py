import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from zpipe.cli import main
from zpipe.text.typeset import demo_background, typeset


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
    assert data["lines"][0] == {"expected": "士地入民", "found": "土地人民", "ned": 0.5, "exact": False, "pass": False}
    assert data["lines"][1]["exact"] is True

    missing = runner.invoke(main, ["glyph-check", str(tmp_path / "none.png"), "--expect", "x"])
    assert missing.exit_code == 2 and "image not found" in missing.output


def test_punctuation_is_ignored_unless_asked(tmp_path):
    img = str(_poster(tmp_path / "p.png"))
    runner = CliRunner()
    args = ["glyph-check", img, "--expect", "土地，人民！", "--expect", "Land and People."]
    assert runner.invoke(main, args).exit_code == 0
    assert runner.invoke(main, [*args, "--keep-punct"]).exit_code == 1


def test_other_text_can_fail_the_check(tmp_path):
    img = str(_poster(tmp_path / "p.png"))
    runner = CliRunner()
    only_title = ["glyph-check", img, "--expect", "土地人民", "--json"]
    out = runner.invoke(main, only_title)
    assert out.exit_code == 0 and json.loads(out.output)["extra_chars"] == len("LandandPeople")
    assert runner.invoke(main, [*only_title, "--max-extra-chars", "20"]).exit_code == 0
    assert runner.invoke(main, [*only_title, "--max-extra-chars", "0"]).exit_code == 1
