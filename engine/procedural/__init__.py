"""The procedural engine: CPU-only, weightless, deterministic, seamlessly tiling textures.

It is the embedded default when no model weights are configured (``engine: auto`` falls back to it)
and can be named explicitly (``engine: procedural``). numpy only; a 1024x1024 texture takes a few
hundred milliseconds on one core.

Prompts are read word by word (see :mod:`.families`):

- **family**: the last material noun wins ("stone brick wall" is brick). Families: stone, cobblestone,
  brick, wood, plank, metal, rust, marble, sand, dirt, grass, moss, concrete, tiles, lava, ice, snow,
  with synonyms (rock, granite, slate, pavers, timber, floorboards, steel, sand dunes, soil, mud,
  gravel, lawn, asphalt, ceramic, magma, glacier, ...).
- **styles** inside a family: granite grains; slate/sandstone/limestone beds; metal "panels"/"riveted"
  and "diamond tread"; "hexagonal", "subway" and "checkered" tiles; "stone bricks" (grey blocks);
  "marble tiles"/"slate tiles"; dried "cracked mud"; "gravel".
- **variants**: mossy, cracked, wet, weathered (old, worn), polished (glossy, smooth), dirty, rusty,
  snowy, rough; "clean" is the plain texture.
- **colours**: red, green, blue, yellow, orange, brown, purple, pink, teal, gold, beige, ... and tones
  grey/gray, black, white, dark, light, pale, muted, vivid; wood species (oak, walnut, ...) and
  metals (copper, brass, ...) tint too.
- **scale**: large/big/huge, small/tiny/fine.
- **lighting**: "albedo", "flat", "unlit", "diffuse" keep baked directional light low (cavity
  darkening only), as suits a base-colour map.

A prompt without a material word still gives a texture (generic stone, tinted by any colour words)
and its info says ``understood: False`` with a ``fallback`` note. Requests with ``kind="poster"`` get
text-friendly backgrounds (:mod:`.poster`).

Every texture is periodic on its own size by construction (see :mod:`.noise`), on both axes, for any
size, square or not. The same request gives the same bytes on any machine.

Engine options (the recipe's ``engine:`` mapping): ``shading`` (0..2, default 1: strength of the baked
relief light) and ``scale`` (0.25..4, default 1: feature size multiplier).

``Generated.info`` (recorded in the manifest): ``family``, ``understood``, ``matched`` (the words that
counted), and when present ``variants``, ``colours``, ``scale``, ``lighting``, ``ignored`` (words it
did not use), ``fallback``; posters: ``kind``, ``style``, ``palette``, ``understood``, ``matched`` and
``text_colour`` (the text colour that reads best on the background).
"""

from zpipe.engine.procedural.engine import ProceduralEngine

__all__ = ["ProceduralEngine"]
