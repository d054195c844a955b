"""Finding a Z-Image-Turbo checkpoint on disk, validating it cheaply, and downloading it on request.

Search order: the recipe's ``engine.model``, then ``$ZPIPE_MODEL``, then the Hugging Face cache entry of
``Tongyi-MAI/Z-Image-Turbo``. Nothing here downloads unless :func:`pull` is called.

Two layouts are understood:

* **diffusers** (the Hub repo): ``transformer/``, ``text_encoder/``, ``vae/``, ``tokenizer/``,
  ``scheduler/``, each with its config and safetensors (sharded with an index or single).
* **comfyui** split files: a folder with ``diffusion_models/*.safetensors``, ``text_encoders/qwen_3_4b*.safetensors``,
  ``vae/ae*.safetensors`` (ComfyUI's ``models/`` folder), plus a Qwen ``tokenizer.json`` (ComfyUI ships its
  tokenizer inside its code, so put one at ``tokenizer/tokenizer.json`` or ``text_encoders/tokenizer.json``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zpipe.engine.base import EngineError

if TYPE_CHECKING:
    from zpipe.engine.zimage.configs import Networks

REPO_ID = "Tongyi-MAI/Z-Image-Turbo"
ENV_VAR = "ZPIPE_MODEL"
PULL_PATTERNS = ["*.json", "*.safetensors", "tokenizer/*"]  # never the pickle duplicates


@dataclass(frozen=True)
class ModelSpec:
    """Where the pieces of one checkpoint are. Configs are raw dicts (None: infer from shapes); the
    networks' configs made from them are :attr:`networks`."""

    root: Path
    layout: str  # "diffusers" | "comfyui"
    source: str  # "recipe" | "env" | "hf-cache" | "path"
    dit: tuple[Path, ...]
    text_encoder: tuple[Path, ...]
    vae: tuple[Path, ...]
    tokenizer: Path
    configs: dict[str, Any] = field(default_factory=dict, compare=False)

    def files(self) -> list[Path]:
        return [*self.dit, *self.text_encoder, *self.vae, self.tokenizer]

    @functools.cached_property
    def networks(self) -> Networks:
        """The three networks' configs, read once (headers and config.json, no torch): discovery checks
        them, the engine plans memory and loads with them."""
        from zpipe.engine.zimage.configs import read_networks

        return read_networks(self)


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EngineError(f"{path}: file not found; the model folder is incomplete") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise EngineError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EngineError(f"{path}: not a config (a JSON object); download it again")
    return data


def _diffusers_spec(root: Path, source: str) -> ModelSpec:
    from zpipe.engine.zimage.files import shard_files

    configs = {
        "dit": _json(root / "transformer" / "config.json"),
        "text_encoder": _json(root / "text_encoder" / "config.json"),
        "vae": _json(root / "vae" / "config.json"),
    }
    sched = root / "scheduler" / "scheduler_config.json"
    if sched.is_file():
        configs["scheduler"] = _json(sched)
    tok = root / "tokenizer" / "tokenizer.json"
    if not tok.is_file():
        raise EngineError(f"{tok}: file not found; the model folder is incomplete")
    return ModelSpec(
        root=root, layout="diffusers", source=source,
        dit=tuple(shard_files(root / "transformer", "diffusion_pytorch_model")),
        text_encoder=tuple(shard_files(root / "text_encoder", "model")),
        vae=tuple(shard_files(root / "vae", "diffusion_pytorch_model")),
        tokenizer=tok, configs=configs,
    )


def _one(folder: Path, patterns: tuple[str, ...], what: str) -> Path:
    from zpipe.engine.zimage.files import PICKLE_SUFFIXES, refuse_pickle

    for pattern in patterns:
        hits = sorted(folder.glob(pattern))
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            names = ", ".join(h.name for h in hits)
            raise EngineError(f"{folder}: several {what} files match {pattern!r} ({names}); keep one")
    for p in sorted(folder.glob("*")):
        if p.suffix.lower() in PICKLE_SUFFIXES:
            refuse_pickle(p)
    raise EngineError(f"{folder}: no {what} safetensors file found")


def _comfy_spec(root: Path, source: str) -> ModelSpec:
    tok = next((p for p in (root / "tokenizer" / "tokenizer.json", root / "text_encoders" / "tokenizer.json",
                            root / "tokenizer.json") if p.is_file()), None)
    if tok is None:
        raise EngineError(f"{root}: no Qwen tokenizer.json (looked in tokenizer/, text_encoders/ and the folder "
                          "itself); copy tokenizer/tokenizer.json from Tongyi-MAI/Z-Image-Turbo there")
    return ModelSpec(
        root=root, layout="comfyui", source=source,
        dit=(_one(root / "diffusion_models", ("*z_image*.safetensors", "*.safetensors"), "diffusion model"),),
        text_encoder=(_one(root / "text_encoders", ("qwen_3_4b*.safetensors", "*.safetensors"), "text encoder"),),
        vae=(_one(root / "vae", ("ae*.safetensors", "*.safetensors"), "VAE"),),
        tokenizer=tok,
    )


def spec_at(path: str | Path, source: str = "path") -> ModelSpec:
    """Read the layout of the checkpoint folder at ``path`` (no weights are read)."""
    root = Path(path).expanduser()
    if root.is_file():
        from zpipe.engine.zimage.files import refuse_pickle

        refuse_pickle(root)
        raise EngineError(f"{root}: engine.model must be a folder (diffusers layout or ComfyUI models/ folder), "
                          "not a single file")
    if not root.is_dir():
        raise EngineError(f"{root}: model folder not found")
    if (root / "transformer").is_dir() or (root / "model_index.json").is_file():
        return _diffusers_spec(root, source)
    if (root / "diffusion_models").is_dir():
        return _comfy_spec(root, source)
    raise EngineError(f"{root}: not a Z-Image model folder (expected transformer/ (diffusers layout) or "
                      "diffusion_models/ (ComfyUI layout))")


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def hf_cache_snapshot() -> Path | None:
    """The snapshot folder of REPO_ID in the HF cache that ``refs/main`` points to (else the newest)."""
    repo = hf_cache_dir() / ("models--" + REPO_ID.replace("/", "--"))
    snaps = repo / "snapshots"
    if not snaps.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file() and (snaps / ref.read_text().strip()).is_dir():
        return snaps / ref.read_text().strip()
    candidates = sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def candidates(options: dict | None = None) -> list[tuple[str, Path]]:
    options = options or {}
    out: list[tuple[str, Path]] = []
    if options.get("model"):
        out.append(("recipe", Path(str(options["model"])).expanduser()))
    if os.environ.get(ENV_VAR):
        out.append(("env", Path(os.environ[ENV_VAR]).expanduser()))
    snap = hf_cache_snapshot()
    if snap is not None:
        out.append(("hf-cache", snap))
    return out


def find_model(options: dict | None = None) -> ModelSpec:
    """The first configured checkpoint, validated. A configured path that is broken is an error, not skipped:
    silently falling through to another model would give different images."""
    found = candidates(options)
    if not found:
        raise EngineError(
            f"no Z-Image-Turbo weights configured: set engine.model in the recipe, or ${ENV_VAR}, or run "
            f"`zpipe models pull` to download {REPO_ID} into the Hugging Face cache"
        )
    source, path = found[0]
    spec = spec_at(path, source)
    validate(spec)
    return spec


class NotZImageModel(EngineError):
    """Well-formed weights of another model: the folder is not a Z-Image checkpoint (invalid input)."""


# Keys that every Z-Image checkpoint has (after the layouts' prefixes are removed): a folder of another
# model's safetensors fails here, at discovery, not with a KeyError halfway through loading.
SIGNATURES = {
    "transformer": (("model.diffusion_model.", "diffusion_model."),
                    ("cap_embedder.1.weight", "layers.0.attention.", ("x_embedder.weight", "all_x_embedder.2-1."))),
    "text encoder": (("model.",), ("embed_tokens.weight", "layers.0.self_attn.q_norm.weight")),
    "VAE": (("first_stage_model.", "vae."), ("encoder.conv_in.weight", "decoder.conv_in.weight")),
}


def validate(spec: ModelSpec) -> None:
    """Cheap checks: every file exists, its safetensors header parses and fits the file size, and each
    component holds the keys of a Z-Image checkpoint."""
    from zpipe.engine.zimage.files import read_header

    for what, files in (("transformer", spec.dit), ("text encoder", spec.text_encoder), ("VAE", spec.vae)):
        keys: set[str] = set()
        for f in files:
            keys.update(k for k in read_header(f)[0] if k != "__metadata__")
        _check_signature(what, files, keys)
    if not spec.tokenizer.is_file():
        raise EngineError(f"{spec.tokenizer}: file not found")
    _check_configs(spec)


def _check_configs(spec: ModelSpec) -> None:
    """The networks' configurations (config.json, or inferred from tensor shapes) must read: weights with
    the right names but not the right shapes are not a Z-Image model either."""
    try:
        spec.networks  # noqa: B018 - read (once) to check; the engine plans and loads with them
    except EngineError:
        raise
    except (KeyError, ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
        raise NotZImageModel(f"{spec.root}: not a Z-Image model: its configuration cannot be read from the "
                             f"weights ({type(exc).__name__}: {exc}); point engine.model (or $ZPIPE_MODEL) at a "
                             "Z-Image-Turbo checkpoint") from None


def _check_signature(what: str, files: tuple[Path, ...], keys: set[str]) -> None:
    prefixes, required = SIGNATURES[what]
    names = set()
    for k in keys:
        for prefix in prefixes:
            if k.startswith(prefix):
                k = k[len(prefix):]
                break
        names.add(k)
    for need in required:
        options = need if isinstance(need, tuple) else (need,)
        if not any(n == o or (o.endswith(".") and n.startswith(o)) for o in options for n in names):
            where = files[0] if len(files) == 1 else files[0].parent
            raise NotZImageModel(f"{where}: not a Z-Image model: the {what} has no {options[0]!r} weights; "
                                 "point engine.model (or $ZPIPE_MODEL) at a Z-Image-Turbo checkpoint")


def fingerprint(spec: ModelSpec, loras: list[tuple[Path, float]] = ()) -> str:
    """sha256 over every weight file's name, size and safetensors header, the tokenizer, and the LoRAs."""
    from zpipe.engine.zimage.files import file_fingerprint

    h = hashlib.sha256(b"zimage-weights-v1")
    for role, files in (("dit", spec.dit), ("te", spec.text_encoder), ("vae", spec.vae)):
        for f in files:
            h.update(role.encode() + b":" + file_fingerprint(f))
    h.update(b"tokenizer:" + hashlib.sha256(spec.tokenizer.read_bytes()).digest())
    for path, scale in loras:
        # LoRAs are small and often retrained in place with identical headers: hash their content
        h.update(b"lora:" + _content_digest(Path(path)) + f":{float(scale)!r}".encode())
    return h.hexdigest()


def _content_digest(path: Path) -> bytes:
    try:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.digest()
    except OSError as exc:
        raise EngineError(f"{path}: cannot read the LoRA file ({exc.strerror or exc})") from None


def list_models(options: dict | None = None) -> list[dict[str, Any]]:
    """Every candidate checkpoint with its status, for ``zpipe models``."""
    rows = []
    for source, path in candidates(options):
        row: dict[str, Any] = {"source": source, "path": str(path)}
        try:
            spec = spec_at(path, source)
            validate(spec)
            size = sum(f.stat().st_size for f in spec.files())
            row.update(layout=spec.layout, ok=True, problem=None, bytes=size)
        except EngineError as exc:
            row.update(layout=None, ok=False, problem=str(exc), bytes=None, foreign=isinstance(exc, NotZImageModel))
        rows.append(row)
    return rows


def pull(local_dir: str | Path | None = None, revision: str | None = None) -> Path:
    """Download REPO_ID (safetensors only) with huggingface_hub: progress bars, resumable, into the HF cache
    unless ``local_dir`` is given. Returns the folder."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise EngineError("`zpipe models pull` needs huggingface_hub: pip install 'zpipe[hub]'") from None
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = snapshot_download(
            REPO_ID, revision=revision, allow_patterns=PULL_PATTERNS,
            local_dir=str(local_dir) if local_dir else None,
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        local = "copy a downloaded checkpoint folder to this machine and set $ZPIPE_MODEL (or engine.model) to it"
        if constants.HF_HUB_OFFLINE:
            raise EngineError(f"cannot download {REPO_ID}: HF_HUB_OFFLINE is set and it is not in the Hugging Face "
                              f"cache; {local}, or unset HF_HUB_OFFLINE on a machine with network") from None
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"cannot download {REPO_ID} from the Hugging Face Hub ({cause}); without network, "
                          f"{local}; if it is in the Hugging Face cache already, set HF_HUB_OFFLINE=1") from None
    return Path(path)
