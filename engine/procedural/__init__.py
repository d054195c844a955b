"""The procedural engine: CPU-only, weightless, deterministic, seamlessly tiling textures.

It is the embedded default when no model weights are configured. A prompt is read for a material
family (stone, brick, wood, ...), variant words (mossy, cracked, wet, ...), colour words and scale
words; the texture is built from periodic noise (fBm, Worley cells, domain warps) and per-family
palettes, so it wraps exactly at the requested size. Poster requests get text-friendly backgrounds.
"""

from zpipe.engine.procedural.engine import ProceduralEngine

__all__ = ["ProceduralEngine"]
