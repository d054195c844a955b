"""Reading a prompt: which material family, which variants, which colours, what scale.

The family is the *last* material noun ("stone brick wall" is brick, "marble tiles" are tiles); other
material words become modifiers ("moss on cobblestone" is mossy cobblestone). Adjectives such as
"mossy" or "rusty" name a family only when the prompt has no material noun at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zpipe.engine.procedural.palettes import COLOUR_WORDS

FAMILIES = (
    "stone", "cobblestone", "brick", "wood", "plank", "metal", "rust", "marble",
    "sand", "dirt", "grass", "moss", "concrete", "tiles", "lava", "ice", "snow",
)

# noun -> family
NOUNS: dict[str, str] = {}
# adjective -> family (used when no noun is present)
ADJECTIVES: dict[str, str] = {}

_VOCAB = {
    "stone": ("stone stones rock rocks granite slate basalt boulder boulders cliff cliffs limestone "
              "sandstone bedrock flint quartzite shale", "stony rocky"),
    "cobblestone": ("cobblestone cobblestones cobble cobbles flagstone flagstones pavers paver sett setts "
                    "paving cobblestoned", "cobbled"),
    "brick": ("brick bricks brickwork masonry block blocks ashlar", "bricked"),
    "wood": ("wood woods timber lumber log logs bark trunk oak pine walnut mahogany birch cherry ebony "
             "maple teak", "wooden woody"),
    "plank": ("plank planks floorboard floorboards board boards parquet deck decking "
              "crate floorboarding", "planked"),
    "metal": ("metal metals steel iron aluminium aluminum chrome tin copper brass bronze titanium "
              "plate", "metallic brushed"),
    "rust": ("rust corrosion patina", "rusty rusted corroded oxidized oxidised"),
    "marble": ("marble", "marbled"),
    "sand": ("sand sands dune dunes desert beach", "sandy"),
    "dirt": ("dirt soil mud earth ground dust clay gravel pebbles pebble shingle", "muddy earthy dusty"),
    "grass": ("grass grasses lawn turf meadow", "grassy"),
    "moss": ("moss mosses lichen", "mossy"),
    "concrete": ("concrete cement asphalt tarmac plaster stucco pavement", "cemented"),
    "tiles": ("tile tiles ceramic porcelain mosaic checkerboard checker", "tiled checkered chequered"),
    "lava": ("lava magma", "molten volcanic"),
    "ice": ("ice glacier frost", "icy frozen"),
    "snow": ("snow snowfield snowdrift snowdrifts", "snowy"),
}
for _fam, (_nouns, _adjs) in _VOCAB.items():
    for _w in _nouns.split():
        NOUNS[_w] = _fam
    for _w in _adjs.split():
        ADJECTIVES[_w] = _fam

# Wood species and metals also tint (see palettes.HUES); these nouns carry a colour.
NOUN_COLOURS = {
    "walnut": "walnut", "mahogany": "mahogany", "cherry": "cherry", "oak": "oak", "pine": "pine",
    "birch": "birch", "ebony": "ebony", "copper": "copper", "brass": "brass", "bronze": "bronze",
    "sandstone": "sandstone", "asphalt": "charcoal", "tarmac": "charcoal", "slate": "dark",
    "basalt": "charcoal", "limestone": "cream", "clay": "orange",
}

# variant -> words
_VARIANTS = {
    "mossy": "mossy overgrown moss lichen",
    "cracked": "cracked cracks crack broken crackled fractured shattered",
    "wet": "wet damp rainy soaked puddles puddle glistening",
    "weathered": "weathered worn old aged ancient eroded faded distressed",
    "polished": "polished glossy shiny smooth lacquered varnished",
    "dirty": "dirty grimy grime stained filthy muddy",
    "rusty": "rusty rusted corroded rust",
    "snowy": "snowy snow",
    "rough": "rough coarse jagged rugged",
}
VARIANT_WORDS: dict[str, str] = {}
for _v, _words in _VARIANTS.items():
    for _w in _words.split():
        VARIANT_WORDS[_w] = _v

# a family's own variant is no variant ("mossy moss", "rusty rust", "snowy snow")
_OWN_VARIANT = {"moss": "mossy", "rust": "rusty", "snow": "snowy"}

SCALE_WORDS = {
    "large": 1.5, "big": 1.5, "huge": 2.0, "giant": 2.0, "massive": 2.0, "wide": 1.4,
    "small": 0.65, "tiny": 0.5, "fine": 0.7, "mini": 0.5, "narrow": 0.7,
}

# Words that ask for no baked light: the texture is an albedo/base colour map (relief stays readable
# through cavity darkening only).
FLAT_LIGHT_WORDS = frozenset("albedo basecolor unlit flat even diffuse".split())
# Words that are understood and deliberately change nothing ("clean" is the plain variant).
NEUTRAL_WORDS = frozenset("clean plain new pristine default basic standard natural".split())

# Words that pick a style inside a family (metal "panels", tiles "hexagonal", ...).
STYLE_WORDS = frozenset(
    "plates panel panels hull tread diamond floorplate scifi sci fi riveted rivets "
    "hexagonal hex hexagon hexagons subway metro strata layered sedimentary speckled terrazzo "
    "dry dried parched drought dead straw hay".split()
)

# Words common in texture prompts that carry no material meaning; they are neither matched nor a
# reason to call a prompt "not understood".
FILLER = frozenset(
    "a an the of on in with and or texture textures seamless tileable tiling able floor ground pbr material "
    "surface pattern 4k 8k 2k hd hq high quality detailed photo photorealistic realistic top down "
    "topdown view closeup close up game asset background wall walls diffuse albedo map style orthographic "
    "lighting lit highly very ultra resolution render rendering photograph sharp pbr".split()
)


@dataclass
class Parsed:
    family: str
    understood: bool
    matched: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    scale: float = 1.0
    unknown: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # every token, for family-specific styles
    flat_light: bool = False  # "albedo", "flat even lighting": little baked directional light

    def info(self) -> dict:
        out: dict = {"family": self.family, "understood": self.understood, "matched": list(self.matched)}
        if self.variants:
            out["variants"] = list(self.variants)
        if self.colours:
            out["colours"] = list(self.colours)
        if self.scale != 1.0:
            out["scale"] = self.scale
        if self.flat_light:
            out["lighting"] = "flat"
        if self.unknown:
            out["ignored"] = list(dict.fromkeys(self.unknown))
        if not self.understood:
            out["fallback"] = f"no material word recognised; made a generic {self.family} texture"
        return out


def tokens(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def _family(words: list[str]) -> str | None:
    """The last material noun wins; without one, the last adjective that implies a family."""
    nouns = [NOUNS[w] for w in words if w in NOUNS]
    adjs = [ADJECTIVES[w] for w in words if w in ADJECTIVES]
    return (nouns or adjs or [None])[-1]


def _variant(w: str, family: str | None) -> str | None:
    """The variant a word asks for. A noun of another family used as a modifier ("moss on stone") is one
    too; the family's own noun, or its own variant ("mossy moss"), is not."""
    v = VARIANT_WORDS.get(w)
    if v is None or v == _OWN_VARIANT.get(family or "") or (w in NOUNS and NOUNS[w] == family):
        return None
    return v


def _understood(w: str, family: str | None) -> bool:
    return (w in NOUNS or w in ADJECTIVES or w in COLOUR_WORDS or w in SCALE_WORDS or w in STYLE_WORDS
            or w in NEUTRAL_WORDS or w in FLAT_LIGHT_WORDS
            or (w in VARIANT_WORDS and VARIANT_WORDS[w] != _OWN_VARIANT.get(family or "")))


def parse(prompt: str) -> Parsed:
    words = tokens(prompt)
    family = _family(words)
    matched: list[str] = []
    variants: list[str] = []
    colours: list[str] = []
    unknown: list[str] = []
    scale = 1.0
    for w in words:
        v = _variant(w, family)
        if v is not None and v not in variants:
            variants.append(v)
        colour = w if w in COLOUR_WORDS else NOUN_COLOURS.get(w)
        if colour:
            colours.append(colour)
        scale *= SCALE_WORDS.get(w, 1.0)
        if _understood(w, family):
            if w not in matched:
                matched.append(w)
        elif w not in FILLER and len(w) > 1:
            unknown.append(w)

    # "rusty metal" is the rust family; "mossy moss" is just moss
    if family == "metal" and "rusty" in variants:
        family = "rust"
        variants.remove("rusty")
    understood = family is not None
    return Parsed(
        family=family or "stone",
        understood=understood,
        matched=matched,
        variants=variants,
        colours=colours,
        scale=float(min(3.0, max(0.3, scale))),
        unknown=unknown,
        words=words,
        flat_light=any(w in FLAT_LIGHT_WORDS for w in words),
    )
