"""How well the recogniser's own probabilities separate each look-alike pair of the shipped table (prints
numbers, writes nothing).

    python benchmarks/lookalike_separation.py

Every character of every group of ``pipeline/text/lookalikes.txt`` is drawn alone, as the glyph check
crops a look-alike character to read it without its word prior (``zpipe.text.ocr.verify_lookalikes``:
the line's box height, the character's share of its width, 0.12 × height around), in eight fonts (the
bundled Noto Sans CJK SC, Regular and Bold, and the six fonts of the development twin set), dark on
light, light on dark, over noise with JPEG, and blurred, centred and shifted. For each reading the
recogniser's CTC class probabilities give log(P(look-alike) / P(character read)).

Per pair (character read, look-alike) the largest ratio seen with the character really shown is the
most a real character ever leaves to its look-alike; the script prints, for each look-alike shown and
read as the character, how many of those readings stay at or under that level (plus ``SLACK``): a
check that calls a line unverified above the level would still pass them. This is why the glyph check
does not use these probabilities (docs/posters.md, known limits). It also prints how often each
look-alike shown alone is read as the other character at all: those read so in half their renders or
more are listed in ``pipeline/text/lookalikes_read_as.txt``: the glyph check decides those pairs by the
shape of the ink (``zpipe.text.ink``), and a passing line whose ink was not clear carries a warning.
"""

from __future__ import annotations

import argparse
import io
import os
from collections import Counter, defaultdict

import numpy as np

CAL_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK SC Bold", "Noto Serif CJK SC", "Noto Serif CJK SC Bold",
             "AR PL UKai CN", "AR PL UMing CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
LOOKS = ("light", "dark", "noisy", "blurred")
SHIFTS = (0.0, 0.1)  # × em: the crop's slice of the box is an equal share, not the glyph's own cell
SIZE = 52
SLACK = 0.5  # nats above the largest ratio seen with the character shown
FLOOR = -9.0  # the level when the character shown was never read as itself
BOX = 1.3  # the detector's box around a CJK line, × the font size
PAD = 0.12  # × box height around the character's slice (ocr.LOOKALIKE_PADS)


def _crop(ch: str, face, look: str, shift: float, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFilter

    font = face.pil(SIZE)
    side = 3 * SIZE
    back, ink = ((245, 242, 235), (20, 20, 24)) if look != "dark" else ((25, 30, 60), (250, 250, 245))
    im = Image.new("RGB", (side, side), back)
    ImageDraw.Draw(im).text((side / 2, side / 2), ch, font=font, fill=ink, anchor="mm")
    if look == "blurred":
        im = im.filter(ImageFilter.GaussianBlur(1.0))
    arr = np.asarray(im, dtype=np.float32)
    if look == "noisy":
        arr = arr + rng.normal(0, 22, arr.shape)
        buf = io.BytesIO()
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
        arr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32)
    h = BOX * SIZE
    m = PAD * h
    cx = side / 2 + shift * SIZE
    x0, x1 = int(cx - SIZE / 2 - m), int(cx + SIZE / 2 + m)
    y0, y1 = int(side / 2 - h / 2 - m), int(side / 2 + h / 2 + m)
    return np.ascontiguousarray(np.clip(arr, 0, 255).astype(np.uint8)[y0:y1, x0:x1, ::-1])  # BGR, as rapidocr reads


def measure() -> tuple[dict, dict, Counter]:
    """({(char, rival): [ratio with char shown]}, {(char, rival): [ratio with rival shown, read as char]},
    {char: renders})."""
    from zpipe.text.fonts import FontError, resolve_font
    from zpipe.text.lookalikes import groups
    from zpipe.text.ocr import get_engine

    faces = []
    for name in CAL_FONTS:
        try:
            faces.append(resolve_font(name))
        except FontError:
            print(f"font {name!r} not installed: skipped")
    table = groups()
    rng = np.random.default_rng(5)
    jobs, crops = [], []
    for ch in sorted(table):
        for face in faces:
            if face.has(ch):
                for look in LOOKS:
                    for shift in SHIFTS:
                        jobs.append(ch)
                        crops.append(_crop(ch, face, look, shift, rng))
    engine, lock = get_engine()
    shown, swapped = defaultdict(list), defaultdict(list)
    for start in range(0, len(crops), 256):  # the probabilities are large: a chunk at a time
        with lock:
            readings = recognise_probs(engine, crops[start:start + 256])
        for ch, (read, _, probs) in zip(jobs[start:start + 256], readings):
            read = read.strip()
            if read not in table.get(ch, ()):
                continue
            for other, ratio in lone_ratios(probs, read, table[read]).items():
                if read == ch:
                    shown[(ch, other)].append(ratio)
                elif other == ch:  # ``ch`` shown, read as its look-alike
                    swapped[(read, ch)].append(ratio)
    return shown, swapped, Counter(jobs)


def recognise_probs(engine, crops: list[np.ndarray]) -> list[tuple[str, float, np.ndarray]]:
    """rapidocr's recogniser on ``crops`` with the same batches, padding and decoding as
    ``engine.text_rec``, keeping the class probabilities of every CTC frame."""
    rec = engine.text_rec
    out: list[tuple[str, float, np.ndarray]] = [("", 0.0, np.zeros((0, 0), np.float32))] * len(crops)
    order = np.argsort(np.array([c.shape[1] / float(c.shape[0]) for c in crops]))
    _, img_h, img_w = rec.rec_image_shape[:3]
    for start in range(0, len(crops), rec.rec_batch_num):
        batch = order[start:start + rec.rec_batch_num]
        ratios = [crops[i].shape[1] / crops[i].shape[0] for i in batch]
        widest = max([img_w / img_h, *ratios])
        x = np.concatenate([rec.resize_norm_img(crops[i], widest)[np.newaxis] for i in batch]).astype(np.float32)
        probs = rec.session(x)[0]
        decoded = rec.postprocess_op(probs, False, wh_ratio_list=ratios, max_wh_ratio=widest)
        for i, (text, score), p in zip(batch, decoded, probs):
            out[i] = (text, float(score), p)
    return out


def lone_ratios(probs: np.ndarray, read: str, others) -> dict[str, float]:
    """For a crop of one character read as ``read``: log(P(other) / P(read)) for each of ``others``,
    each probability the largest over the CTC frames (class 0 is the CTC blank)."""
    from zpipe.text.ocr import dictionary

    index = {c: i + 1 for i, c in enumerate(dictionary())}
    if read not in index or not len(probs):
        return {}
    own = max(float(probs[:, index[read]].max()), 1e-12)
    return {o: float(np.log(max(float(probs[:, index[o]].max()), 1e-12) / own)) for o in others if o in index and o != read}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    os.environ.setdefault("ZPIPE_OCR_THREADS", str(min(4, os.cpu_count() or 1)))
    shown, swapped, renders = measure()
    print(f"{len(shown)} pairs, {sum(map(len, shown.values()))} readings with the character shown, "
          f"{sum(map(len, swapped.values()))} with a look-alike shown and read as the character")
    print("look-alike shown alone and read as the character (of its renders); of those readings, how many leave "
          "the look-alike no more probability than the real character ever does (+ SLACK):")
    for (ch, other), ratios in sorted(swapped.items(), key=lambda kv: -len(kv[1])):
        level = max(shown.get((ch, other), [FLOOR])) + SLACK
        under = sum(r <= level for r in ratios)
        print(f"  {other} read as {ch}: {len(ratios)}/{renders[other]} renders; {under}/{len(ratios)} under "
              f"the level {level:.2f}")
    print("a look-alike read as the character in half of its renders or more belongs in "
          "pipeline/text/lookalikes_read_as.txt")


if __name__ == "__main__":
    main()
