"""Glyph-check accuracy on a generated test set (real OCR, real CJK fonts).

64 images, typeset with Noto Sans CJK SC or Noto Sans Mono CJK SC at font sizes 36-110 px (CJK ink
height ≥ 32 px), on gradient, noisy, ray and busy backgrounds, in varied sizes, colours, strokes and
placements, mostly bilingual (a Chinese line under test plus an English line). Half show exactly the
expected text; half have one Chinese line wrong: a look-alike substitution (未/末, 己/已, 土/士, 人/入
both ways, and 12 more pairs), a missing character or an extra one.

Required: the glyph check passes ≥ 98% of the correct images and fails ≥ 95% of the wrong ones.
Set ZPIPE_ACCURACY_DUMP=DIR to write the images for inspection.
"""

import os

import numpy as np
import pytest

from zpipe.text.check import check_image
from zpipe.text.typeset import Style, demo_background, typeset

PHRASES = {
    "未": "未来可期", "末": "周末愉快", "己": "知己知彼", "已": "早已出发", "土": "土地肥沃", "士": "战士归来",
    "人": "人民广场", "入": "出入平安", "大": "大好河山", "太": "太阳升起", "天": "天天向上", "夫": "夫子庙前",
    "王": "王者归来", "玉": "玉兰花开", "白": "白云深处", "自": "自由飞翔", "刀": "刀削面馆", "力": "力量之源",
    "干": "干杯朋友", "千": "千里之行", "午": "午后时光", "牛": "牛年大吉", "贝": "宝贝计划", "见": "见字如面",
    "儿": "儿童乐园", "几": "几何图形", "田": "田园风光", "由": "由此向前", "甲": "甲骨文字", "申": "申请入口",
    "木": "木头玩具", "本": "本周特价", "万": "万事如意", "方": "方寸之间", "今": "今日头条", "令": "令人难忘",
}
REQUIRED = ["未末", "己已", "土士", "人入"]
OTHERS = ["大太", "天夫", "王玉", "白自", "刀力", "干千", "午牛", "贝见", "儿几", "田由", "甲申", "木本", "万方", "今令"]
ENGLISH = ["Spring Festival", "Grand Opening", "Summer Sale", "Welcome Home", "Night Market", "Open Daily",
           "Lantern Show", "New Arrivals"]
BODIES = ["欢迎光临，全场八折", "周六上午十点开始", "地址：人民路八号", "限时优惠，先到先得"]
SIZES = [(512, 512), (640, 480), (480, 640), (768, 512), (512, 768), (640, 640)]
COLOURS = ["auto", "auto", "white", "#ffd24a", "#1b1b1f", "#e8f4ff", "#ff6a4a", "#7fffd4"]
FONTS = ["", "Noto Sans Mono CJK SC"]
N = 32  # correct images; as many wrong ones


def build_cases(seed: int = 20261126) -> list[dict]:
    rng = np.random.default_rng(seed)
    wrong_texts = []
    for pair in REQUIRED:  # both directions of the required look-alikes
        for a, b in (pair, pair[::-1]):
            wrong_texts.append((PHRASES[a], PHRASES[a].replace(a, b, 1), f"{a}→{b}"))
    for pair in OTHERS[:12]:
        a, b = pair if rng.random() < 0.5 else pair[::-1]
        wrong_texts.append((PHRASES[a], PHRASES[a].replace(a, b, 1), f"{a}→{b}"))
    keys = list(PHRASES)
    for k in range(6):  # a missing character
        p = PHRASES[keys[(5 * k + 1) % len(keys)]]
        i = int(rng.integers(len(p)))
        wrong_texts.append((p, p[:i] + p[i + 1:], f"missing {p[i]}"))
    for k in range(6):  # an extra character
        p = PHRASES[keys[(7 * k + 3) % len(keys)]]
        i = int(rng.integers(len(p) + 1))
        extra = "的一是了不在有个"[k]
        wrong_texts.append((p, p[:i] + extra + p[i:], f"extra {extra}"))
    assert len(wrong_texts) == N
    correct_texts = [(PHRASES[k], PHRASES[k], "correct") for k in rng.permutation(keys)[:N]]

    cases = []
    for i, (expected, shown, what) in enumerate(correct_texts + wrong_texts):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        size = int(rng.integers(36, 111))
        layout = int(rng.integers(3))  # 0: zh only, 1: zh + en, 2: zh + en + zh body (the body is under test)
        lines_expected = [{"role": "title", "text": expected}]
        lines_shown = [{"role": "title", "text": shown}]
        if layout >= 1:
            en = ENGLISH[int(rng.integers(len(ENGLISH)))]
            lines_expected.append({"role": "subtitle", "text": en})
            lines_shown.append({"role": "subtitle", "text": en})
        if layout == 2:  # the line under test becomes the body; the title is a fixed phrase
            body_size = int(rng.integers(36, 56))
            title = BODIES[int(rng.integers(len(BODIES)))]
            lines_expected = [{"role": "title", "text": title}, lines_expected[1],
                              {"role": "body", "text": expected, "placement": "bottom"}]
            lines_shown = [{"role": "title", "text": title}, lines_shown[1],
                           {"role": "body", "text": shown, "placement": "bottom"}]
            size = body_size
        cases.append({
            "i": i, "what": what, "correct": expected == shown, "w": w, "h": h, "size": size,
            "role": lines_shown[-1]["role"] if layout == 2 else "title",
            "lines_expected": lines_expected, "lines_shown": lines_shown,
            "bg": ["gradient", "noise", "rays", "busy"][int(rng.integers(4))], "bg_seed": int(rng.integers(10**6)),
            "colour": COLOURS[int(rng.integers(len(COLOURS)))], "stroke": float(rng.choice([0.0, 0.0, 0.03, 0.06])),
            "font": FONTS[int(rng.integers(len(FONTS)))], "align": ["center", "left", "right"][int(rng.integers(3))],
        })
    return cases


def render(case: dict) -> tuple[np.ndarray, dict]:
    from zpipe.text.typeset import ROLE_SIZE

    bg = demo_background(case["w"], case["h"], seed=case["bg_seed"], kind=case["bg"])
    scale = case["size"] / (ROLE_SIZE[case["role"]] * min(case["w"], case["h"]))
    style = Style(colour=case["colour"], stroke=case["stroke"], align=case["align"], scale=scale, min_size=36)
    return typeset(bg, case["lines_shown"], font=case["font"] or None, style=style)


def check_case(case: dict) -> tuple[int, dict]:
    """The smallest line size of the poster of ``case`` and the glyph check's result on it (run in a worker
    process of glyph_set.check_pool)."""
    image, record = render(case)
    return min(ln["size"] for ln in record["lines"]), check_image(
        image, [ln["text"] for ln in case["lines_expected"]], threads=1)


def test_accuracy_on_generated_set(glyph_checkers):
    dump = os.environ.get("ZPIPE_ACCURACY_DUMP")
    cases = build_cases()
    table = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    misses = []
    for case, (smallest, result) in zip(cases, glyph_checkers.map(check_case, cases, chunksize=1)):
        assert smallest >= 36  # CJK ink height ≥ 32 px
        table[(case["correct"], result["pass"])] += 1
        if result["pass"] != case["correct"]:
            misses.append((case["i"], case["what"], [ln["found"] for ln in result["lines"]]))
        if dump:
            from PIL import Image

            os.makedirs(dump, exist_ok=True)
            tag = "ok" if result["pass"] == case["correct"] else "MISS"
            Image.fromarray((render(case)[0] * 255 + 0.5).astype(np.uint8)).save(f"{dump}/{case['i']:02d}_{tag}.png")
    n_ok, n_bad = sum(c["correct"] for c in cases), sum(not c["correct"] for c in cases)
    pass_rate = table[(True, True)] / n_ok
    reject_rate = table[(False, False)] / n_bad
    report = (
        "\nglyph-check confusion table (rows: truth, columns: verdict)\n"
        f"{'':18}{'pass':>8}{'fail':>8}\n"
        f"{'correct text':18}{table[(True, True)]:>8}{table[(True, False)]:>8}   pass rate {pass_rate:.1%}\n"
        f"{'wrong text':18}{table[(False, True)]:>8}{table[(False, False)]:>8}   reject rate {reject_rate:.1%}\n"
        f"misclassified: {misses}"
    )
    print(report)
    assert len(cases) >= 60 and n_ok == n_bad
    assert pass_rate >= 0.98, report
    assert reject_rate >= 0.95, report


@pytest.mark.parametrize("what", ["未→末", "末→未", "己→已", "已→己", "土→士", "士→土", "人→入", "入→人"])
def test_required_look_alikes_are_in_the_set(what):
    assert any(c["what"] == what for c in build_cases())
