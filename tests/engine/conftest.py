"""The Z-Image engine on the tiny checkpoint (the checkpoint fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def engine(diffusers_ckpt):
    """The Z-Image engine on the tiny diffusers-layout checkpoint, CPU fp32 (the parity reference's precision)."""
    from zpipe.engine.zimage.engine import ZImageEngine

    return ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32"})
