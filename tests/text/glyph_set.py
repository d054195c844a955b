"""A generated glyph-check test set: paired twins (the expected text shown correctly, and shown with
one error) in six CJK fonts other than the default Noto Sans CJK SC, on hard backgrounds, with small
rotation, blur and JPEG.

Everything is drawn here with Pillow directly (not with zpipe's typesetter), from a fixed seed, so
the set is the same on every run and no image is committed. Error types:

* ``lookalike``: one character swapped for a look-alike (自己 -> 自已, 打折 -> 打拆, Room 101 -> Room 1O1);
* ``missing`` / ``extra``: a character dropped or doubled;
* ``punct``: meaningful punctuation changed (2.5折 -> 25折, 09:45 -> 0945, 真的吗？ -> 真的吗！);
* ``spacing``: a Latin word split in two (Everywhere -> Every where);
* ``extra_text``: a stamp or a duplicated line added to the poster;
* ``unreadable``: a character the recogniser cannot output (kana, hangul, €, 鬱) changed: the correct
  twin must come back ``unverified``, never ``pass``, and the wrong one must not pass either.

``ZPIPE_GLYPH_SET_DUMP=DIR`` writes the images for inspection.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

import numpy as np

FONTS = {  # label -> (family or full name, Debian package)
    "serif": ("Noto Serif CJK SC", "fonts-noto-cjk"),
    "serif-bold": ("Noto Serif CJK SC Bold", "fonts-noto-cjk"),
    "kai": ("AR PL UKai CN", "fonts-arphic-ukai"),
    "ming": ("AR PL UMing CN", "fonts-arphic-uming"),
    "zenhei": ("WenQuanYi Zen Hei", "fonts-wqy-zenhei"),
    "microhei": ("WenQuanYi Micro Hei", "fonts-wqy-microhei"),
}
BACKGROUNDS = ("flat", "gradient", "noise", "texture", "clutter")
DEGRADE = ("none", "rotate", "blur", "jpeg", "rotate+jpeg")
SIZE = (512, 352)

# (expected, wrong) pairs per error type; the second line of each poster is a fixed companion line.
PAIRS: dict[str, list[tuple[str, str]]] = {
    "lookalike": [
        ("自己动手", "自已动手"), ("全场打折", "全场打拆"), ("晴天市集", "睛天市集"), ("温泉酒店", "温泉洒店"),
        ("暂时休息", "暂时体息"), ("鸟语花香", "乌语花香"), ("历史街区", "厉史街区"), ("老茶馆", "老荼馆"),
        ("免费品尝", "兔费品尝"), ("往返车票", "住返车票"), ("时间胶囊", "时问胶囊"), ("入口在此", "人口在此"),
        ("太阳花田", "大阳花田"), ("玉米浓汤", "王米浓汤"), ("自助早餐", "白助早餐"), ("末班车", "未班车"),
        ("干净整洁", "千净整洁"), ("千万别错过", "干万别错过"), ("日落大道", "曰落大道"), ("已售完", "己售完"),
        ("Room 101", "Room 1O1"), ("战士之歌", "战土之歌"), ("候车大厅", "侯车大厅"), ("刀削面", "力削面"),
        ("午后咖啡", "牛后咖啡"), ("再见夏天", "再贝夏天"), ("儿童乐园", "几童乐园"), ("今日特价", "令日特价"),
        ("万家灯火", "方家灯火"), ("本店招牌", "木店招牌"),
    ],
    "missing": [("春风十里", "春风十"), ("欢迎光临本店", "欢迎光临本"), ("周年庆典", "周庆典"),
                ("山海之间", "山之间"), ("Grand Opening", "Grand Openin"), ("好运连连", "好连连"),
                ("星空露营", "星空营"), ("Night Market", "Night Marke"), ("幸福小镇", "幸小镇")],
    "extra": [("新品上市", "新品品上市"), ("读书分享会", "读书分享享会"), ("森林音乐会", "森林音乐会会"),
              ("City Walk", "City Walkk"), ("秋日限定", "秋日日限定"), ("夜游古城", "夜游古古城"),
              ("海边日落", "海边日日落"), ("Coffee Time", "Coffee Tiime"), ("手工面包", "手工面面包")],
    "punct": [("全场2.5折", "全场25折"), ("特价¥39.9", "特价¥399"), ("满减80%", "满减80"),
              ("09:45开场", "0945开场"), ("3/4决赛", "34决赛"), ("低温-15°C", "低温15°C"),
              ("Salt & Pepper", "Salt Pepper"), ("真的吗？", "真的吗！"), ("Gate No. 7", "Gate No 7"),
              ("快来抢购!", "快来抢购?"), ("1,000积分", "1000积分"), ("第1/2场", "第12场")],
    "spacing": [("Everywhere", "Every where"), ("Sunflower Farm", "Sun flower Farm"),
                ("Moonlight Bar", "Moon light Bar"), ("Rainbow Road", "Rain bow Road")],
    "extra_text": [("限时特卖", "限时特卖"), ("开业大吉", "开业大吉"), ("会员专享", "会员专享"), ("清凉一夏", "清凉一夏"),
                   ("周末市集", "周末市集"), ("冬季促销", "冬季促销"), ("夏日冰饮", "夏日冰饮"), ("新春特惠", "新春特惠"),
                   ("书香满城", "书香满城")],
    "unreadable": [("さくら祭り", "さくま祭り"), ("서울 여행", "서을 여행"), ("€50 优惠", "€80 优惠"),
                   ("忧鬱的心", "忧郁的心"), ("ありがとう", "ありがとラ"), ("春光€10", "春光$10"),
                   ("안녕하세요", "안녕하세오"), ("ようこそ", "ようこぞ")],
}
STAMPS = ("SOLD OUT", "暂停营业", "CANCELLED", "免费送饮料")
COMPANIONS = ("Summer Market", "Open Daily 10-22", "人民路八号", "欢迎光临", "New Season", "城市广场")


@dataclass
class Case:
    i: int
    error: str
    correct: bool
    expected: list[str]
    shown: list[str]
    font: str
    background: str
    degrade: str
    stamp: str | None = None
    seed: int = 0
    size: list[int] = field(default_factory=list)

    @property
    def want(self) -> str:
        """The verdict a right check gives: pass, or unverified where the text cannot be read back."""
        return "unverified" if self.error == "unreadable" and self.correct else "pass" if self.correct else "fail"


def build_cases(seed: int = 7302) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    fonts, backgrounds, degrades = list(FONTS), list(BACKGROUNDS), list(DEGRADE)
    k = 0
    for error, pairs in PAIRS.items():
        for expected, wrong in pairs:
            companion = COMPANIONS[int(rng.integers(len(COMPANIONS)))]
            first = bool(rng.integers(2))  # the line under test comes first or second
            common = dict(font=fonts[k % len(fonts)], background=backgrounds[(k // 2) % len(backgrounds)],
                          degrade=degrades[int(rng.integers(len(degrades)))], seed=int(rng.integers(2**31)),
                          size=[int(rng.integers(46, 72)), int(rng.integers(32, 42))])
            k += 1
            lines_ok = [expected, companion] if first else [companion, expected]
            lines_bad = [wrong, companion] if first else [companion, wrong]
            stamp = None
            if error == "extra_text":
                stamp = STAMPS[k % len(STAMPS)] if k % 3 else "dup"  # a stamp, or the line shown twice
            cases.append(Case(len(cases), error, True, lines_ok, lines_ok, **common))
            cases.append(Case(len(cases), error, False, lines_ok, lines_bad, stamp=stamp, **common))
    return cases


def _background(kind: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    import cv2

    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "flat":
        return np.broadcast_to(c0, (h, w, 3)).astype(np.float32).copy()
    t = ((yy / h) * rng.uniform(0.3, 1) + (xx / w) * rng.uniform(0, 0.7))[..., None]
    img = (c0 * (1 - t) + c1 * t).astype(np.float32)
    if kind == "noise":
        img += rng.normal(0, 0.09, img.shape).astype(np.float32)
    elif kind == "texture":  # cobblestone-like cells plus fine grain (a procedural texture)
        pts = rng.uniform(0, 1, (40, 2)) * [w, h]
        d = np.min(np.hypot(xx[..., None] - pts[:, 0], yy[..., None] - pts[:, 1]), axis=2)
        cells = (np.sin(d / rng.uniform(5, 9)) * 0.5 + 0.5)[..., None]
        img = img * (0.55 + 0.45 * cells) + rng.normal(0, 0.04, img.shape)
    elif kind == "clutter":  # shapes, strokes and dots that are not text
        from PIL import Image, ImageDraw

        im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for _ in range(26):
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y = int(rng.integers(w)), int(rng.integers(h))
            r = int(rng.integers(8, 60))
            shape = int(rng.integers(3))
            if shape == 0:
                d.ellipse((x - r, y - r, x + r, y + r), outline=col, width=int(rng.integers(2, 6)))
            elif shape == 1:
                d.rectangle((x, y, x + r, y + r // 2), fill=col)
            else:
                d.line((x, y, x + int(rng.integers(-90, 90)), y + int(rng.integers(-90, 90))), fill=col,
                       width=int(rng.integers(2, 7)))
        img = np.asarray(im, dtype=np.float32) / 255
        img = cv2.GaussianBlur(img, (0, 0), 0.8)
    return np.clip(img, 0, 1).astype(np.float32)


def render(case: Case) -> np.ndarray:
    """The poster of ``case`` as float32 RGB."""
    from PIL import Image, ImageDraw, ImageFilter

    from zpipe.text.fonts import resolve_font

    rng = np.random.default_rng(case.seed)
    w, h = SIZE
    bg = _background(case.background, rng, w, h)
    lum = float((bg @ np.array([0.3, 0.59, 0.11], np.float32)).mean())
    fill = (20, 20, 24) if lum > 0.55 else (250, 250, 245)
    outline = (250, 250, 245) if fill[0] < 128 else (10, 10, 14)
    im = Image.fromarray((bg * 255 + 0.5).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(im)
    face = resolve_font(FONTS[case.font][0])
    backup = resolve_font("Noto Serif CJK SC")  # for hangul and kana the Arphic fonts lack
    y = int(h * 0.12)
    lines = list(case.shown)
    if case.stamp == "dup":
        lines.append(lines[int(rng.integers(len(lines)))])
    for li, text in enumerate(lines):
        size = case.size[min(li, 1)]
        chosen = face if all(face.has(c) for c in text if not c.isspace()) else backup
        font = chosen.pil(size)
        while font.getlength(text) > 0.86 * w:  # fit the width (the Arphic fonts' Latin is wide)
            size -= 2
            font = chosen.pil(size)
        width = font.getlength(text)
        x = int(rng.uniform(0.06 * w, max(0.06 * w + 1, w - width - 0.06 * w)))
        stroke = max(1, size // 22) if case.background in ("noise", "texture", "clutter") else 0
        draw.text((x, y), text, font=font, fill=fill, stroke_width=stroke, stroke_fill=outline)
        y += int(size * 1.45)
    if case.stamp and case.stamp != "dup":
        stamp_font = backup.pil(34)
        layer = Image.new("RGBA", (int(stamp_font.getlength(case.stamp)) + 20, 56), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((10, 6), case.stamp, font=stamp_font, fill=(200, 20, 30, 255))
        layer = layer.rotate(float(rng.uniform(-8, 8)), expand=True, resample=Image.BICUBIC)
        im.paste(layer, (int(w * 0.35), int(h * 0.72)), layer)
    if "rotate" in case.degrade:
        im = im.rotate(float(rng.uniform(-3, 3)), resample=Image.BICUBIC, fillcolor=tuple(int(v * 255) for v in bg[0, 0]))
    if case.degrade == "blur":
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.1))))
    if "jpeg" in case.degrade:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(55, 80)))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255


def fingerprint(cases: list[Case]) -> int:
    """A checksum of the set's definition (changes when the set does)."""
    return zlib.crc32(repr([(c.expected, c.shown, c.font, c.background, c.degrade, c.stamp, c.seed)
                            for c in cases]).encode())
