"""Text-to-image, img2img and inpainting with the Z-Image components, in phases.

Per batch (one image size): encode every prompt, run the DiT for every step, then decode in micro-batches.
With ``phased=True`` the text encoder and the DiT take turns on the device (:mod:`.residency`): prompts are
encoded while the DiT is off it, the encoder's copy is dropped, then the DiT is placed. :meth:`encode_groups`
encodes the prompts of many batches in one such phase (the engine's ``prepare``), so that the two swap once
per chunk of jobs rather than once per batch. Each image's randomness comes
from its own CPU generator seeded with its seed, drawn exactly like diffusers with a CPU generator, so an
image never depends on its batch mates.

Latent math follows the reference pipelines (``docs/z-image.md``: sampler, text-to-image, img2img): latents
and the Euler update in fp32, DiT input cast to the model dtype, VAE latents z = x / 0.3611 + 0.1159.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from zpipe.engine.zimage.attention import backend_order, sdpa_context
from zpipe.engine.zimage.dit import ZImageDiT
from zpipe.engine.zimage.residency import Residency
from zpipe.engine.zimage.sampler import img2img_start, sample_euler, zimage_schedule
from zpipe.engine.zimage.text_encoder import Qwen3Encoder
from zpipe.engine.zimage.tokenizer import PromptTokenizer
from zpipe.engine.zimage.vae import AutoencoderKL

log = logging.getLogger(__name__)


@dataclass
class BatchItem:
    """One image of a batch. ``init`` (3, H, W) and ``mask`` (H, W) are float tensors in [0, 1]."""

    prompt: str
    seed: int
    init: torch.Tensor | None = None
    mask: torch.Tensor | None = None


@dataclass
class Timings:
    """Seconds and peak device memory (bytes, CUDA only) per phase of the last call."""

    seconds: dict[str, float] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)


def latent_size(height: int, width: int, factor: int) -> tuple[int, int]:
    return 2 * (height // (2 * factor)), 2 * (width // (2 * factor))


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float32 in [0, 1] -> (B, H, W, 3) uint8, rounded as the exporters round
    (``zpipe.texture.formats.to_uint``: x * 255 + 0.5, clipped, truncated; the same float32 operations, one
    at a time, so the same bytes)."""
    return images.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class ZImagePipeline:
    def __init__(
        self,
        dit: ZImageDiT,
        text_encoder: Qwen3Encoder,
        tokenizer: PromptTokenizer,
        vae: AutoencoderKL,
        device: str | torch.device = "cpu",
        *,
        shift: float = 3.0,
        phased: bool = False,
        vae_batch: int = 1,
        vae_tile: int = 128,
        prompt_cache: int = 256,
        seam_jitter: bool = False,
        text_batch: int = 16,
        attention: str = "auto",
    ) -> None:
        self.dit, self.text_encoder, self.tokenizer, self.vae = dit, text_encoder, tokenizer, vae
        self.device = torch.device(device)
        self.shift = shift
        self.residency = Residency(self.device, {"text_encoder": text_encoder, "dit": dit, "vae": vae}, phased)
        self.vae_batch = max(1, vae_batch)
        self.vae_tile = vae_tile  # latents larger than this (latent pixels per side) decode in tiles
        self.seam_jitter = seam_jitter
        self.text_batch = max(1, text_batch)
        backend_order(self.device.type, None, attention)  # a wrong name fails here, not at the first batch
        self.attention = attention  # SDPA kernel order (.attention): every phase that attends runs under it
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.cache_size = prompt_cache  # caption features kept (host memory); the engine chunks prepare by it
        self.timings = Timings()

    # ---- phases ----

    def _phase(self, name: str, fn: Callable[[], object]):
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        start = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize(self.device)
            self.timings.peak_bytes[name] = torch.cuda.max_memory_allocated(self.device)
        self.timings.seconds[name] = time.perf_counter() - start
        return out

    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """Caption features (L_i, hidden) per prompt, on the host, cached by prompt text."""
        return self.encode_groups([prompts])[0]

    @torch.no_grad()
    def encode_groups(self, groups: Sequence[Sequence[str]]) -> list[list[torch.Tensor]]:
        """:meth:`encode_prompts` of each group in turn, in one text-encoder phase: phased, the encoder is
        placed once for all of them (and only if a prompt is not cached). A group's new prompts are encoded
        together, exactly as a call of :meth:`encode_prompts` with that group would, so the features, and
        the images made from them, are the same bytes however the groups are handed in.

        Features are kept on the host: a chunk's worth of them never takes device memory, and the DiT
        copies a batch's own (a few MB) when it prepares that batch."""
        out: list[list[torch.Tensor]] = []
        te = None
        try:
            for prompts in groups:
                todo = list(dict.fromkeys(p for p in prompts if p not in self._cache))
                fresh = {}
                if todo:
                    if te is None:  # phased: the DiT leaves the device first, once for all the groups
                        te = self.residency.use("text_encoder")
                    with sdpa_context(self.device, self.attention):
                        fresh = dict(zip(todo, self._encode(te, todo), strict=True))
                feats = [fresh[p] if p in fresh else self._cache[p] for p in prompts]
                for p, f in zip(prompts, feats, strict=True):  # least recently used prompts leave first
                    self._cache[p] = f
                    self._cache.move_to_end(p)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                out.append(feats)
        finally:
            if te is not None:
                self.residency.release("text_encoder")  # phased: free the encoder before the DiT comes
        return out

    def _encode(self, te: Qwen3Encoder, prompts: list[str]) -> list[torch.Tensor]:
        """Features of ``prompts`` on the host, in micro-batches of similar lengths (little padding,
        bounded activation memory)."""
        tokens = self.tokenizer(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(tokens[i]))
        feats: list[torch.Tensor] = [None] * len(prompts)  # type: ignore[list-item]
        for start in range(0, len(order), self.text_batch):
            part = order[start : start + self.text_batch]
            for i, f in zip(part, te.encode([tokens[i] for i in part]), strict=True):
                feats[i] = f.to("cpu", copy=True)  # not a view that keeps the padded batch
        return feats

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, generators: list[torch.Generator], tile: str) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> model latents (B, 16, h, w) fp32, sampling the posterior with each
        image's own generator (the reference's ``latent_dist.sample(generator)``)."""
        vae = self.vae
        out = []
        with vae.wrapping(tile):
            for i, g in enumerate(generators):
                x = images[i : i + 1].to(self.device, vae.dtype) * 2 - 1
                mean, logvar = vae.encode_moments(x)
                eps = torch.randn(mean.shape, generator=g, dtype=torch.float32).to(self.device, mean.dtype)
                z = mean + torch.exp(0.5 * logvar) * eps
                out.append(vae.to_model_latents(z).float())
        return torch.cat(out)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tile: str = "none") -> torch.Tensor:
        """Model latents (B, 16, h, w) -> images (B, 3, H, W) float32 in [0, 1], in micro-batches; latents
        larger than ``vae_tile`` on a side decode one image at a time in overlapping tiles."""
        vae = self.vae
        out = []
        if max(latents.shape[-2:]) > self.vae_tile:
            for z in latents.split(1):
                img = vae.decode_tiled(vae.from_model_latents(z.to(vae.dtype)), self.vae_tile, self.vae_tile // 4,
                                       tile)
                out.append((img.float() / 2 + 0.5).clamp(0, 1))
            return torch.cat(out)
        with vae.wrapping(tile):
            for chunk in latents.split(self.vae_batch):
                img = vae.decode(vae.from_model_latents(chunk.to(vae.dtype)))
                out.append((img.float() / 2 + 0.5).clamp(0, 1))
        return torch.cat(out)

    def _model(self, cond, shifts: list[list[tuple[int, int]]] | None):
        dit = self.dit
        step = 0

        def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            nonlocal step
            k, step = step, step + 1
            if shifts is None:
                return dit(x.to(dit.dtype), t, cond)
            # Seam jitter: roll each image by its own offset, predict, roll back (torus only).
            rolled = torch.stack([torch.roll(x[i], shifts[i][k], dims=(1, 2)) for i in range(x.shape[0])])
            pred = dit(rolled.to(dit.dtype), t, cond)
            back = [torch.roll(pred[i], (-shifts[i][k][0], -shifts[i][k][1]), dims=(1, 2)) for i in range(len(pred))]
            return torch.stack(back)

        return model

    @torch.no_grad()
    def __call__(self, items: Sequence[BatchItem], height: int, width: int, steps: int = 8, tile: str = "none",
                 strength: float = 1.0) -> torch.Tensor:
        """Images (B, 3, H, W) float32 in [0, 1], one per item; all items share size, steps and mode."""
        final = self.latents(items, height, width, steps, tile, strength)
        return self._phase("vae_decode", lambda: self.decode(final, tile)).cpu()

    @torch.no_grad()
    def images(self, items: Sequence[BatchItem], height: int, width: int, steps: int = 8, tile: str = "none",
               strength: float = 1.0) -> torch.Tensor:
        """:meth:`__call__` as (B, H, W, 3) uint8 on the host, quantised on the device (:func:`to_uint8`), so
        that a quarter of the bytes leave it."""
        final = self.latents(items, height, width, steps, tile, strength)
        return self._phase("vae_decode", lambda: to_uint8(self.decode(final, tile))).cpu()

    @torch.no_grad()
    def latents(self, items: Sequence[BatchItem], height: int, width: int, steps: int = 8, tile: str = "none",
                strength: float = 1.0) -> torch.Tensor:
        """The denoised latents (B, 16, H/8, W/8) of :meth:`__call__`, before the VAE decodes them."""
        self.timings = Timings()
        f = self.vae.cfg.downscale
        h, w = latent_size(height, width, f)
        if h * f != height or w * f != width:
            raise ValueError(f"size {width}x{height} must be a multiple of {2 * f}")
        if h == 0 or w == 0:
            raise ValueError(f"size {width}x{height} is too small")
        caps = self._phase("text_encoder", lambda: self.encode_prompts([j.prompt for j in items]))
        gens = [torch.Generator("cpu").manual_seed(j.seed) for j in items]
        schedule = zimage_schedule(steps, self.shift)
        x0 = mask = None
        if items[0].init is not None:
            init = torch.stack([j.init for j in items])
            x0 = self._phase("vae_encode", lambda: self.encode_images(init, gens, tile))
            schedule = schedule.tail(img2img_start(steps, strength))
        # The noise comes after the posterior sample in each image's generator (diffusers' order).
        noise = torch.cat([torch.randn((1, 16, h, w), generator=g, dtype=torch.float32) for g in gens])
        noise = noise.to(self.device)
        schedule = schedule.to(self.device)
        if items[0].mask is not None:
            m = torch.stack([j.mask for j in items])[:, None].float()  # (B, 1, H, W)
            m = (m >= 0.5).float()  # binarised like the reference (1 = repaint)
            mask = F.interpolate(m, size=(h, w), mode="nearest").to(self.device)  # (B, 1, h, w)
        latents = noise if x0 is None else schedule.sigmas[0] * noise + (1 - schedule.sigmas[0]) * x0

        def after_step(k: int, x: torch.Tensor) -> torch.Tensor:
            # Inpainting: keep the known region, re-noised to the next sigma (exactly x0 after the last step).
            s = schedule.sigmas[k + 1]
            known = s * noise + (1 - s) * x0
            return (1 - mask) * known + mask * x

        def denoise():
            if schedule.steps == 0:
                return latents.float()
            self.residency.use("dit")
            with sdpa_context(self.device, self.attention):
                cond = self.dit.prepare(caps, (h // 2, w // 2), tile)
                shifts = self._jitter(items, schedule.steps, h, w, tile) if self.seam_jitter and tile != "none" else None
                return sample_euler(self._model(cond, shifts), latents, schedule,
                                    after_step=after_step if mask is not None else None)

        return self._phase("dit", denoise)

    @staticmethod
    def _jitter(items, steps: int, h: int, w: int, tile: str) -> list[list[tuple[int, int]]]:
        """Per image and step, a roll offset in whole DiT tokens (2 latent pixels) on the tiled axes,
        drawn from the image's seed so that it does not depend on the batch."""
        out = []
        for j in items:
            g = torch.Generator("cpu").manual_seed(j.seed ^ 0x5EA3)
            rows = torch.randint(0, h // 2, (steps,), generator=g).tolist() if "y" in tile else [0] * steps
            cols = torch.randint(0, w // 2, (steps,), generator=g).tolist() if "x" in tile else [0] * steps
            out.append([(2 * r, 2 * c) for r, c in zip(rows, cols, strict=True)])
        return out
