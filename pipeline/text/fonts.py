"""Font resolution and glyph coverage for typesetting.

A font is given as

* nothing: the default CJK font, Noto Sans CJK SC, face 2 of ``NotoSansCJK-Regular.ttc`` shipped by
  the ``noto-cjk-sans-otc`` package (a zpipe dependency, so it works after ``pip install`` alone);
* a file path (``.ttf``, ``.otf``, ``.ttc``, ``.otc``), optionally ``path#N`` to pick face N of a
  collection;
* a family or full name (``"Noto Sans CJK SC"``, ``"DejaVu Sans"``), looked up among the bundled
  faces and then the system font folders.

Typesetting uses a chain: the chosen font, then the fallback fonts in order (by default the bundled
CJK font). Each character is drawn with the first font in the chain whose cmap has it (checked with
fontTools); a character no font covers is a :class:`FontCoverageError` that lists the characters
and the fonts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DEFAULT_FAMILY = "Noto Sans CJK SC"
TRADITIONAL_FAMILY = "Noto Sans CJK TC"  # in the same bundled collection; the default for zh-Hant lines
BUNDLED_PACKAGE = "noto_cjk_sans_otc"
BUNDLED_FILE = "NotoSansCJK-Regular.ttc"
BUNDLED_SC_INDEX = 2
FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")


class FontError(ValueError):
    """A font problem the user can fix (bad path, unknown family); the message names the fix."""


class FontCoverageError(FontError):
    """Characters that no font in the chain can draw."""

    def __init__(self, missing: Sequence[str], fonts: Sequence[FontFace]):
        self.missing = list(missing)
        self.fonts = list(fonts)
        chars = ", ".join(f'"{c}" U+{ord(c):04X}' for c in self.missing)
        names = ", ".join(f.describe() for f in self.fonts)
        noun = "font" if len(self.fonts) == 1 else "fonts"
        verb = "has" if len(self.fonts) == 1 else "have"
        count = "1 character" if len(self.missing) == 1 else f"{len(self.missing)} characters"
        super().__init__(
            f"{noun} {names} {verb} no glyphs for {count}: {chars}; add a font that covers them to "
            "`fallback_fonts`, choose another `font`, or change the text"
        )


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    name: str

    def describe(self) -> str:
        return f'"{self.name}" ({self.path}#{self.index})' if self.path.lower().endswith((".ttc", ".otc")) \
            else f'"{self.name}" ({self.path})'

    def label(self) -> str:
        """Name, file without the folder and font version (for manifests: the same on every machine
        with the same font, different when the font changes)."""
        version = _version(self.path, self.index)
        return f"{self.name} ({Path(self.path).name}#{self.index}{', ' + version if version else ''})"

    def has(self, ch: str) -> bool:
        return ord(ch) in _cmap(self.path, self.index)

    def pil(self, size: int):
        """A Pillow FreeType font at ``size`` px (cached)."""
        return _pil_font(self.path, self.index, int(size))


@cache
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


@cache
def _version(path: str, index: int) -> str:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return (font["name"].getDebugName(5) or "").split(";")[0].strip()


@lru_cache(maxsize=512)  # the ink checks draw a few sizes of each of dozens of faces
def _pil_font(path: str, index: int, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=index)


def _face_names(path: str) -> list[tuple[int, str, str, str]]:
    """(index, family, full name, PostScript name) of every face in a font file."""
    from fontTools.ttLib import TTCollection, TTFont

    out = []
    if path.lower().endswith((".ttc", ".otc")):
        coll = TTCollection(path, lazy=True)
        fonts = list(coll.fonts)
    else:
        coll = None
        fonts = [TTFont(path, lazy=True)]
    try:
        for i, font in enumerate(fonts):
            name = font["name"]
            fam = name.getDebugName(16) or name.getDebugName(1) or ""
            out.append((i, fam, name.getDebugName(4) or "", name.getDebugName(6) or ""))
    finally:
        (coll or fonts[0]).close()
    return out


def bundled_font_path() -> Path:
    """Where ``noto-cjk-sans-otc`` put its .ttc; FontError with the fix when it is missing."""
    import importlib.util

    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FontError(
            f"the default CJK font ({DEFAULT_FAMILY}) comes from the noto-cjk-sans-otc package, which is not "
            "installed: run `pip install noto-cjk-sans-otc`, or set `font:` to a .ttf/.otf/.ttc file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise FontError(
            f"the noto-cjk-sans-otc package has no {BUNDLED_FILE} at {path}: reinstall it with "
            "`pip install --force-reinstall noto-cjk-sans-otc`, or set `font:` to a .ttf/.otf/.ttc file"
        )
    return path


@cache
def default_font() -> FontFace:
    """Noto Sans CJK SC from the bundled collection, verified by its name table."""
    path = str(bundled_font_path())
    faces = _face_names(path)
    for index, fam, _full, _ in faces:
        if index == BUNDLED_SC_INDEX and fam == DEFAULT_FAMILY:
            return FontFace(path, index, fam)
    for index, fam, _full, _ in faces:  # a future build may order the faces differently
        if fam == DEFAULT_FAMILY:
            return FontFace(path, index, fam)
    raise FontError(f"{path} has no {DEFAULT_FAMILY} face (faces: {', '.join(f[1] for f in faces)}); "
                    "reinstall noto-cjk-sans-otc or set `font:` to a CJK font file")


def system_font_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("ZPIPE_FONT_PATH", "").split(os.pathsep) if p]
    home = Path.home()
    if sys.platform == "darwin":
        dirs += [home / "Library/Fonts", Path("/Library/Fonts"), Path("/System/Library/Fonts")]
    elif sys.platform == "win32":
        dirs += [Path(os.environ.get("WINDIR", "C:/Windows")) / "Fonts",
                 Path(os.environ.get("LOCALAPPDATA", "")) / "Microsoft/Windows/Fonts"]
    else:
        dirs += [home / ".local/share/fonts", home / ".fonts", Path("/usr/local/share/fonts"),
                 Path("/usr/share/fonts")]
    return [d for d in dirs if d.is_dir()]


@cache
def _catalogue() -> tuple[tuple[str, int, str, str, str], ...]:
    """(path, index, family, full, postscript) for the bundled faces and every system font file."""
    entries = []
    try:
        bundled = str(bundled_font_path())
        entries += [(bundled, i, fam, full, ps) for i, fam, full, ps in _face_names(bundled)]
    except FontError:
        pass
    for d in system_font_dirs():
        for root, _, files in os.walk(d):
            for fn in sorted(files):
                if fn.lower().endswith(FONT_EXTENSIONS):
                    path = os.path.join(root, fn)
                    try:
                        entries += [(path, i, fam, full, ps) for i, fam, full, ps in _face_names(path)]
                    except Exception:  # unreadable or broken font files are skipped
                        continue
    return tuple(entries)


def _open_path(path_spec: str) -> FontFace:
    path, _, idx = path_spec.partition("#")
    p = Path(path).expanduser()
    if not p.is_file():
        raise FontError(
            f"font file not found: {p}; give an existing .ttf/.otf/.ttc file, or a family name "
            f"such as {DEFAULT_FAMILY!r}"
        )
    try:
        faces = _face_names(str(p))
    except Exception as exc:
        raise FontError(f"{p} is not a font file fontTools can read ({exc}); use a .ttf/.otf/.ttc font") from None
    try:
        index = int(idx) if idx else 0
    except ValueError:
        raise FontError(f"font face index in {path_spec!r} must be an integer, e.g. {path}#2") from None
    if not 0 <= index < len(faces):
        raise FontError(f"{p} has {len(faces)} face(s), so face #{index} does not exist; use #0…#{len(faces) - 1}")
    return FontFace(str(p), index, faces[index][2] or faces[index][1] or p.stem)


@cache
def resolve_font(spec: str | None = None) -> FontFace:
    """A font path (``path`` or ``path#N``), a family/full/PostScript name, or None for the default."""
    if spec is None or not str(spec).strip():
        return default_font()
    spec = str(spec).strip()
    if os.sep in spec or "/" in spec or spec.partition("#")[0].lower().endswith(FONT_EXTENSIONS):
        return _open_path(spec)
    want = spec.casefold()
    if want == DEFAULT_FAMILY.casefold():
        return default_font()
    cat = _catalogue()
    for key in (3, 2, 4):  # full name, then family, then PostScript name
        for entry in cat:
            if entry[key].casefold() == want:
                return FontFace(entry[0], entry[1], entry[3] or entry[2])
    bundled = default_font().path  # the families a user always has come first
    families = sorted({(e[0] != bundled, e[2]) for e in cat})
    families = list(dict.fromkeys(name for _, name in families))
    shown = ", ".join(families[:12]) + (", …" if len(families) > 12 else "")
    raise FontError(
        f"no font named {spec!r} is installed (known families: {shown or 'none'}); "
        "give a .ttf/.otf/.ttc file path instead, or install the font"
    )


def resolve_chain(font: str | None = None, fallbacks: Iterable[str] | None = None) -> list[FontFace]:
    """The font chain: ``font`` then ``fallbacks`` (default: the bundled CJK font), duplicates removed."""
    chain = [resolve_font(font)]
    for spec in ([DEFAULT_FAMILY] if fallbacks is None else list(fallbacks)):
        face = resolve_font(spec)
        if face not in chain:
            chain.append(face)
    return chain


def missing_chars(text: str, chain: Sequence[FontFace]) -> list[str]:
    """Characters of ``text`` (whitespace aside) that no font in ``chain`` has, in first-seen order."""
    seen: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and ch not in seen and not any(f.has(ch) for f in chain):
            seen[ch] = None
    return list(seen)


def check_coverage(texts: Iterable[str], chain: Sequence[FontFace]) -> None:
    """Raise FontCoverageError listing every character of ``texts`` the chain cannot draw."""
    missing = missing_chars("".join(texts), chain)
    if missing:
        raise FontCoverageError(missing, chain)


def font_for(ch: str, chain: Sequence[FontFace]) -> FontFace:
    """The first font in the chain that has ``ch`` (whitespace: the first font)."""
    if ch.isspace():
        return chain[0]
    for face in chain:
        if face.has(ch):
            return face
    raise FontCoverageError([ch], chain)


def lang_default(lang: str | None) -> str | None:
    """The font spec a line in ``lang`` uses when the recipe names no font: Traditional Chinese gets
    the Traditional face of the bundled collection, everything else the default (None)."""
    return TRADITIONAL_FAMILY if lang == "zh-Hant" else None


@cache
def bold_of(face: FontFace) -> FontFace | None:
    """The installed Bold weight of ``face``'s family (e.g. Noto Sans CJK SC Bold from the Debian
    package fonts-noto-cjk), or None when only the regular weight is installed."""
    try:
        family = _face_names(face.path)[face.index][1]
    except Exception:  # an unreadable file has no bold sibling to find
        return None
    want = f"{family} bold".casefold()
    for path in _bold_files():
        try:
            faces = _face_names(path)
        except Exception:  # unreadable or broken font files are skipped
            continue
        for index, fam, full, _ps in faces:
            if full.casefold() == want or (fam.casefold() == family.casefold() and full.casefold().endswith(" bold")):
                return FontFace(path, index, full)
    return None


@cache
def _bold_files() -> tuple[str, ...]:
    """Font files in the system folders whose file name says Bold (only these are opened)."""
    out = []
    for d in system_font_dirs():
        for root, _, names in os.walk(d):
            out += [os.path.join(root, fn) for fn in sorted(names)
                    if fn.lower().endswith(FONT_EXTENSIONS) and "bold" in fn.lower()]
    return tuple(out)


def coverage_problem(texts: Iterable[str], font: str | None = None,
                     fallbacks: Iterable[str] | None = None) -> str | None:
    """For recipe validation: the message of the font or coverage error typesetting ``texts`` with
    ``font`` + ``fallbacks`` would raise, or None when every character can be drawn."""
    try:
        check_coverage(list(texts), resolve_chain(font or None, fallbacks))
    except FontError as exc:
        return str(exc)
    return None
