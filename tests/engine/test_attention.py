"""The attention kernel order per device (``engine.attention``), on the CPU: the choice for each GPU
generation, the flags it sets while the engine's phases run, and clean fallbacks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zpipe.engine.base import EngineError, Request
from zpipe.engine.zimage.attention import backend_order, sdpa_context
from zpipe.engine.zimage.engine import ZImageEngine


@pytest.mark.parametrize("capability, first", [((9, 0), "cudnn"), ((8, 0), "flash"), ((8, 9), "flash"),
                                               ((10, 0), "flash"), ((12, 0), "flash")])
def test_cudnn_first_on_hopper_only(capability, first):
    order = backend_order("cuda", capability)
    assert order[0] == first and order[-1] == "math" and sorted(order) == ["cudnn", "efficient", "flash", "math"]


def test_cpu_mps_and_a_forced_choice():
    assert backend_order("cpu") == ["flash", "math"]
    assert backend_order("mps") is None  # PyTorch's own order
    assert backend_order("cuda", (9, 0), "flash") == ["flash", "cudnn", "efficient", "math"]
    assert backend_order("cpu", None, "math") == ["math", "flash"]
    assert backend_order("mps", None, "math")[0] == "math"
    with pytest.raises(ValueError, match="attention 'fa3'"):
        backend_order("cuda", (9, 0), "fa3")


def _flags() -> dict[str, object]:
    """The kernels SDPA may use now, and the one it tries first (PyTorch's priority order)."""
    from torch.nn.attention import SDPBackend

    b = torch.backends.cuda
    first = torch._C._get_sdp_priority_order()[0]
    names = {SDPBackend.MATH.value: "math", SDPBackend.FLASH_ATTENTION.value: "flash",
             SDPBackend.EFFICIENT_ATTENTION.value: "efficient", SDPBackend.CUDNN_ATTENTION.value: "cudnn"}
    return {"flash": b.flash_sdp_enabled(), "efficient": b.mem_efficient_sdp_enabled(), "math": b.math_sdp_enabled(),
            "cudnn": b.cudnn_sdp_enabled(), "first": names.get(first, first)}


def test_the_context_enables_the_order_and_restores_the_flags():
    before = _flags()
    with sdpa_context("cpu"):
        assert _flags() == {"flash": True, "efficient": False, "math": True, "cudnn": False, "first": "flash"}
    assert _flags() == before


@pytest.mark.parametrize("choice", ["auto", "cudnn", "efficient", "math"])
def test_every_choice_runs_on_the_cpu_with_and_without_a_mask(choice):
    """cuDNN and memory-efficient kernels do not exist on the CPU: the order passes to the next kernel."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 50, 16, generator=g) for _ in range(3))
    mask = torch.ones(2, 1, 1, 50, dtype=torch.bool)
    mask[1, ..., 40:] = False
    for m in (None, mask):
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        with sdpa_context("cpu", choice):
            got = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        assert (got - want).abs().max() <= 1e-5


def test_the_engine_attends_under_its_order(diffusers_ckpt):
    seen = []
    for choice, want in (("auto", {"flash": True, "math": True, "efficient": False, "cudnn": False, "first": "flash"}),
                         ("math", {"flash": True, "math": True, "efficient": False, "cudnn": False, "first": "math"})):
        eng = ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "dtype": "fp32",
                                         "attention": choice})
        pipe = eng.pipeline
        for net in (pipe.text_encoder, pipe.dit):
            net.register_forward_pre_hook(lambda m, a: seen.append(_flags()))
        eng.generate([Request("stone", 32, 32, 1)])
        assert seen and all(f == want for f in seen), seen
        seen.clear()
    with pytest.raises(EngineError, match="engine.attention 'fa3': choose one of auto, cudnn"):
        ZImageEngine.from_options({"model": str(diffusers_ckpt), "device": "cpu", "attention": "fa3"})


def test_a_kernel_that_fails_at_run_time_is_left_out_and_the_call_runs_again(monkeypatch):
    """cuDNN can accept inputs and then find no execution plan (diffusers#9704): SDPA raises. The engine
    drops cuDNN for the rest of the process and runs the call with the next kernel of its order."""
    from zpipe.engine.zimage import attention
    from zpipe.engine.zimage.layers import sdpa

    monkeypatch.setattr(attention, "_failed", set())
    real = F.scaled_dot_product_attention
    calls = []

    def flaky(*args, **kwargs):
        calls.append(torch.backends.cuda.cudnn_sdp_enabled())
        if len(calls) == 1:
            raise RuntimeError("cuDNN Frontend error: [cudnn_frontend] Error: No execution plans support the graph.")
        return real(*args, **kwargs)

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 20, 8, generator=g) for _ in range(3))
    want = real(q, k, v)
    monkeypatch.setattr(F, "scaled_dot_product_attention", flaky)
    cudnn_before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        assert torch.equal(sdpa(q, k, v, None), want)
        assert calls == [cudnn_before, False] and attention._failed == {"cudnn"}
        assert "cudnn" not in backend_order("cuda", (9, 0)) and backend_order("cuda", (9, 0), "cudnn")[0] == "flash"
    finally:
        torch.backends.cuda.enable_cudnn_sdp(cudnn_before)

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(F, "scaled_dot_product_attention", broken)
    with pytest.raises(RuntimeError, match="out of memory"):  # not a kernel to leave out: the error stands
        sdpa(q, k, v, None)
