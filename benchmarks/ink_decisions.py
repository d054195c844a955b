"""How often the ink check (``zpipe.text.ink.which``) names the look-alike shown, stays undecided, or names
the wrong one, on line crops in fonts it does not have (prints numbers, writes nothing but ``--json``).

    python benchmarks/ink_decisions.py [--groups 日曰,已己巳] [--sizes 44] [--workers 2] [--json OUT]

Every character of each look-alike group (``pipeline/text/lookalikes.txt``, or ``--groups``) is drawn
between two neighbours as a poster line and cut as the glyph check cuts a look-alike
(``tests/text/glyph_set.line_crop``), in the installed faces of ``FACES``, in six looks (dark on light,
light on dark, blurred, noisy JPEG, a red fill with a dark outline, a soft shadow), and judged with the
templates of every other font file (the face's own file left out: the poster's font may be one the
machine lacks). *Wrong* is what matters most: a wrong name fails a correct poster (or passes a wrong
one); *right* against *undecided* is how often the ink settles a look-alike at all.

Measured 2026-12-03 (2 cores, 13 groups, size 44: ``--groups
日曰,已己巳,天夫夭,茶荼,未末,土士,免兔,人入八,木本术,候侯,儿几,休体,戊戌戍 --sizes 44``, 83 s): right 1800,
undecided 801, wrong 3 of 2604 (几 named 儿 blurred, outlined 已 named 巳 and 候 named 侯), since a stroke
reaching past the recogniser's span of the character is kept whole (``ink._in_slice``: 1798, 803, 3 when
cut at the span), a colour
cluster holding a thin dark outline merged with the fill is split into its two inks (the merged cluster
is the glyph drawn thicker: gaps close) and a font about as near that leans the same way less clearly no
longer vetoes the nearest two: 1687, 904, 13 before (every wrong one outlined); before the candidate ink
nearest a render decided alone: 1626, 971, 7. The whole table (39 groups, ``--sizes 44``, 366 s):
right 5633, undecided 1908, wrong 7 of 7548; with the ink check of the start of that day: 5300, 2230, 18.
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


def judge_face(args: tuple[str, list[str], tuple[int, ...]]) -> tuple[str, list[tuple[str, str, str, int, str | None]]]:
    """(face, [(group, character shown, look, size, the member the ink named or None)])."""
    import numpy as np
    from glyph_set import installed_face, line_crop

    from zpipe.text import ink

    name, groups, sizes = args
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
                    rows.append((group, ch, look, size, ink.which(crop, group, own, faces=pool)))
    return name, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", default="", help="comma-separated groups (default: the whole table)")
    ap.add_argument("--sizes", default="40,56", help="font sizes in px, comma-separated")
    ap.add_argument("--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)))
    ap.add_argument("--json", type=Path, help="write every decision here")
    args = ap.parse_args()
    groups = [g for g in args.groups.split(",") if g] or table_groups()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    from concurrent.futures import ProcessPoolExecutor

    start = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        results = dict(pool.map(judge_face, [(name, groups, sizes) for name in FACES]))
    counts = {g: [0, 0, 0] for g in groups}
    wrong = []
    for name, rows in results.items():
        for group, ch, look, size, said in rows:
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
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
