"""The glyph check on the issue's own examples, drawn cleanly in many faces (prints numbers, writes
nothing but ``--json``).

    python benchmarks/glyph_probes.py [--faces N] [--only TEXT,TEXT] [--workers N] [--json OUT]

Each pair below is an expected line and the wrong line the issue found passing (look-alikes 日/曰,
已/己/巳, 千/干, 华/華, O/0, l/1; meaningful punctuation; a dropped space or "&"; a character the
recogniser cannot output); each is drawn once as expected (a *correct* probe, which must pass, or come
back ``unverified`` where the text has a character the OCR cannot read: 遊) and once wrong (which must
not pass), plus stamps of other text (CANCELLED, 暂停营业, 免费送啤酒) over a correct line. Dark text on a
light card, 640x360, one face per probe run at 40, 52 or 64 px, in the installed faces of ``FACES``
(the issue measured 13 right of 13 and 26 wrong of 48 on such probes before the stricter check).

A wrong probe that passes is *warned* when a line carries a ``cannot_tell`` doubt, else *silent*.
Each image is checked in a worker process with one OCR thread (``tests/text/glyph_set.check_pool``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "text"))  # glyph_set: the twin sets' kit

FACES = ["Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Micro Hei", "AR PL UKai CN", "AR PL UMing CN",
         "LXGW WenKai", "HanaMinA", "Droid Sans Fallback", "Noto Sans CJK SC Bold", "Noto Serif CJK SC Bold",
         "Noto Sans Mono CJK SC", "WenQuanYi Zen Hei", "AR PL KaitiM GB", "Noto Sans CJK JP", "Noto Sans CJK SC Light"]
SIZES = (40, 52, 64)
PAIRS = [  # (expected, the wrong line shown)
    ("日落大道", "曰落大道"), ("自己动手", "自已动手"), ("早已出发", "早巳出发"), ("干杯朋友", "千杯朋友"),
    ("千岛湖", "干岛湖"), ("中华美食", "中華美食"), ("Room 101", "Room 1O1"), ("Hotel", "Hote1"), ("2026", "2O26"),
    ("Level 10", "Leve1 10"), ("3.5折", "35折"), ("¥19.9", "¥199"), ("50%", "50"), ("10:30", "1030"), ("1/2", "12"),
    ("-20°C", "20°C"), ("Salt & Pepper", "Salt Pepper"), ("Nowhere", "Now here"), ("真的吗？", "真的吗！"),
    ("No. 5", "No 5"), ("遊园会", "乐园会"), ("$99", "€99"), ("知己知彼", "知已知彼"), ("末日狂欢", "未日狂欢"),
    ("土地肥沃", "士地肥沃"), ("出入平安", "出人平安"), ("天天向上", "夭天向上"), ("老茶馆", "老荼馆"),
]
STAMPS = [("春节快乐", "CANCELLED"), ("新品上市", "暂停营业"), ("夏日派对", "免费送啤酒")]


def render(face_name: str, lines: list[str], size: int):
    """Dark lines on a light 640x360 card in ``face_name`` (characters it lacks from Noto Sans CJK SC),
    drawn in runs as the twin sets draw them (``glyph_set._runs``)."""
    import numpy as np
    from glyph_set import _runs
    from PIL import Image, ImageDraw

    from zpipe.text.fonts import default_font, resolve_font

    faces = [resolve_font(face_name), default_font()]
    im = Image.new("RGB", (640, 360), (245, 244, 240))
    draw = ImageDraw.Draw(im)
    for li, text in enumerate(lines):
        x, y = 60.0, 60 + li * int(size * 1.8)
        for run, face in _runs(text, faces):
            draw.text((x, y), run, font=face.pil(size), fill=(20, 20, 24))
            x += face.pil(size).getlength(run)
    return np.asarray(im, np.float32) / 255


def check(probe: dict) -> dict:
    from zpipe.text.check import check_image

    r = check_image(render(probe["face"], probe["shown"], probe["size"]), probe["expected"])
    return {"verdict": r["verdict"], "pass": r["pass"], "found": [ln["found"] for ln in r["lines"]],
            "doubt": any(ln.get("cannot_tell") for ln in r["lines"]), "extra": r["extra_text"]}


def probes(faces: list[str]) -> list[dict]:
    from zpipe.text.match import units
    from zpipe.text.ocr import readable_chars

    readable = readable_chars()
    out = []
    for fi, face in enumerate(faces):
        size = SIZES[fi % len(SIZES)]
        for expected, wrong in PAIRS:
            want = "unverified" if any(not u.soft and u.key not in readable for u in units(expected)) else "pass"
            out.append({"face": face, "size": size, "expected": [expected], "shown": [expected], "want": want})
            out.append({"face": face, "size": size, "expected": [expected], "shown": [wrong], "want": "fail"})
        for expected, stamp in STAMPS:
            out.append({"face": face, "size": size, "expected": [expected], "shown": [expected, stamp], "want": "fail"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=len(FACES), help="use the first N faces of FACES")
    ap.add_argument("--only", default="", help="only pairs whose expected text contains one of these (comma-separated)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU)")
    ap.add_argument("--json", type=Path, default=None, help="write every probe's result here")
    args = ap.parse_args()
    from glyph_set import check_pool

    from zpipe.text.fonts import FontError, resolve_font

    faces = []
    for face in FACES[:args.faces]:
        try:
            resolve_font(face)
            faces.append(face)
        except FontError:
            print(f"skipped (not installed): {face}")
    todo = probes(faces)
    if args.only:
        keys = args.only.split(",")
        todo = [p for p in todo if any(k in p["expected"][0] for k in keys)]
    start = time.perf_counter()
    with check_pool(args.workers) as pool:
        results = list(pool.map(check, todo, chunksize=2))
    rows = []
    for p, r in zip(todo, results):
        ok = r["verdict"] == p["want"] if p["want"] != "fail" else not r["pass"]
        rows.append({**p, **r, "ok": ok})
    right = [r for r in rows if r["want"] != "fail"]
    wrong = [r for r in rows if r["want"] == "fail"]
    warned = [r for r in wrong if not r["ok"] and r["doubt"]]
    silent = [r for r in wrong if not r["ok"] and not r["doubt"]]
    print(f"{len(faces)} faces, {len(rows)} probes in {time.perf_counter() - start:.0f} s: "
          f"correct ok {sum(r['ok'] for r in right)}/{len(right)}, wrong rejected {sum(r['ok'] for r in wrong)}/"
          f"{len(wrong)} ({len(warned)} passed warned, {len(silent)} silent)")
    for title, group in (("correct, not ok", [r for r in right if not r["ok"]]), ("wrong, warned", warned),
                         ("wrong, silent", silent)):
        counts = Counter(r["shown"][-1] for r in group)
        print(f"{title}: " + (", ".join(f"{k} x{v}" for k, v in counts.most_common()) or "none"))
    for r in rows:
        if not r["ok"]:
            print(f"  {r['want']:10} {r['face']}/{r['size']} {r['shown']} -> {r['verdict']} {r['found']}"
                  f"{' (warned)' if r['doubt'] else ''}{' extra ' + str(r['extra']) if r['extra'] else ''}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
