"""How often the ink check (``zpipe.text.ink.which``) names the look-alike shown, stays undecided, or names
the wrong one, on line crops in fonts it does not have (prints numbers, writes nothing but ``--json``).

    python benchmarks/ink_decisions.py [--groups 日曰,已己巳] [--sizes 44] [--workers 2] [--json OUT] [--readings]

Every character of each look-alike group (``pipeline/text/lookalikes.txt``, or ``--groups``) is drawn
between two neighbours as a poster line and cut as the glyph check cuts a look-alike
(``tests/text/glyph_set.line_crop``), in the installed faces of ``FACES``, in six looks (dark on light,
light on dark, blurred, noisy JPEG, a red fill with a dark outline, a soft shadow), and judged with the
templates of every other font file (the face's own file left out: the poster's font may be one the
machine lacks). *Wrong* is what matters most: a wrong name fails a correct poster (or passes a wrong
one); *right* against *undecided* is how often the ink settles a look-alike at all.

Measured 2026-12-03 (2 cores, 13 groups, size 44: ``--groups
日曰,已己巳,天夫夭,茶荼,未末,土士,免兔,人入八,木本术,候侯,儿几,休体,戊戌戍 --sizes 44``, 388 s): right 1846,
undecided 755, wrong 3 of 2604 (几 named 儿 blurred, outlined 已 named 巳 and 候 named 侯), since a glyph the
fonts are torn about at the template size is judged again against renders at its own size, where a render
fits it within ``SIZED_NEAR`` (1800, 801, 3 in 83 s before; without that bound 2015, 577, 12: other
designs at 44 px named HanaMinA's 已 巳 and SungtiL's 已 己); since a stroke
reaching past the recogniser's span of the character is kept whole (``ink._in_slice``: 1798, 803, 3 when
cut at the span), a colour
cluster holding a thin dark outline merged with the fill is split into its two inks (the merged cluster
is the glyph drawn thicker: gaps close) and a font about as near that leans the same way less clearly no
longer vetoes the nearest two: 1687, 904, 13 before (every wrong one outlined); before the candidate ink
nearest a render decided alone: 1626, 971, 7. The whole table (39 groups, ``--sizes 44``, 366 s):
right 5642, undecided 1899, wrong 7 of 7548 in 478 s (5633, 1908, 7 before a stroke past the span was kept
whole); with the ink check of the start of that day: 5300, 2230, 18.

``--readings`` also reads each crop alone, as the check does, and counts the crops where the ink names
one member and the crop alone is read (confidence >= 0.5) as another: on the whole table at 44 px the
ink was right 289 times and the reading 5 (千 dark in Noto Serif Black read 干, 几 blurred in Zen Hei, an
outlined 已 in HanaMinA, 析 blurred in HanaMinA, an outlined 候 in SungtiL: the ink's own wrong names),
neither 0. So a clear ink overrules a lone reading that agrees with the line (``zpipe.text.ocr.
verify_lookalikes``: a correct 18:30入场 scaled down and up, read 人 as a line and alone, shows 入).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "text"))  # glyph_set: the twin sets' kit

FACES = ["Noto Sans CJK SC", "Noto Sans CJK SC Bold", "Noto Sans CJK SC Light", "Noto Serif CJK SC",
         "Noto Serif CJK SC Black", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "AR PL UKai CN", "AR PL UMing CN",
         "LXGW WenKai", "HanaMinA", "Droid Sans Fallback", "AR PL KaitiM GB", "AR PL SungtiL GB", "Klee One",
         "BIZ UDGothic"]
LOOKS = ("light", "dark", "blur", "jpeg", "outline", "shadow")


def table_groups() -> list[str]:
    path = Path(__file__).resolve().parents[1] / "pipeline" / "text" / "lookalikes.txt"
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def judge_face(args: tuple[str, list[str], tuple[int, ...], bool]) -> tuple[str, list[tuple]]:
    """(face, [(group, character shown, look, size, the member the ink named or None, and with ``read``:
    the recogniser's reading of the crop alone and its confidence)])."""
    import numpy as np
    from glyph_set import installed_face, line_crop

    from zpipe.text import ink
    from zpipe.text.ocr import recognise

    name, groups, sizes, read = args
    face = installed_face(name)
    if face is None:
        return name, []
    pool = tuple(f for f in ink.template_faces() if f.path != face.path)
    rng = np.random.default_rng(7)
    rows = []
    for group in groups:
        for ch in group:
            if not face.has(ch):
                continue
            for look in LOOKS:
                for size in sizes:
                    crop, own = line_crop(ch, face, look, rng, size)
                    row = (group, ch, look, size, ink.which(crop, group, own, faces=pool))
                    if read:
                        text, score = recognise([crop], threads=1)[0]
                        row += (text.strip(), score)
                    rows.append(row)
    return name, rows


def ink_against_reading(results: dict[str, list[tuple]]) -> str:
    """Where the ink names one member and the crop alone is read (confidence >= 0.5) as another: how often
    each is right. This is why the check lets a clear ink overrule a lone reading (zpipe.text.ocr.
    verify_lookalikes)."""
    counts = {"ink": 0, "reading": 0, "neither": 0}
    for rows in results.values():
        for group, ch, _look, _size, said, read, score in rows:
            if said is not None and read in group and read != said and score >= 0.5:
                counts["ink" if said == ch else "reading" if read == ch else "neither"] += 1
    return (f"ink named one member, the crop alone read another: ink right {counts['ink']}, reading right "
            f"{counts['reading']}, neither {counts['neither']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", default="", help="comma-separated groups (default: the whole table)")
    ap.add_argument("--sizes", default="40,56", help="font sizes in px, comma-separated")
    ap.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    ap.add_argument("--json", type=Path, help="write every decision here")
    ap.add_argument("--readings", action="store_true",
                    help="also read each crop alone and compare the ink with that reading where they disagree")
    args = ap.parse_args()
    groups = [g for g in args.groups.split(",") if g] or table_groups()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    from concurrent.futures import ProcessPoolExecutor

    start = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        results = dict(pool.map(judge_face, [(name, groups, sizes, args.readings) for name in FACES]))
    counts = {g: [0, 0, 0] for g in groups}
    wrong = []
    for name, rows in results.items():
        for group, ch, look, size, said, *_read in rows:
            counts[group][0 if said == ch else 1 if said is None else 2] += 1
            if said not in (None, ch):
                wrong.append(f"{name}: {ch} named {said} ({look}, {size} px)")
    right, unclear, bad = (sum(c[k] for c in counts.values()) for k in range(3))
    faces = sum(1 for rows in results.values() if rows)
    print(f"{faces} faces, {right + unclear + bad} crops in {time.monotonic() - start:.0f} s: "
          f"right {right}, undecided {unclear}, wrong {bad}")
    print("per group (right/undecided/wrong): " + " ".join(f"{g}:{r}/{u}/{w}" for g, (r, u, w) in counts.items()))
    for line in wrong:
        print("  wrong:", line)
    if args.readings:
        print(ink_against_reading(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
