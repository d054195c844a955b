"""Texture processing: wrap-aware resampling, PBR map derivation, seam repair, texture file formats."""
