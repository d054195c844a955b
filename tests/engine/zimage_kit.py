"""Helpers for the Z-Image tests: error metrics, random init, tiny checkpoints in the real on-disk formats."""

from __future__ import annotations

import torch


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|: a relative error that is not fooled by near-zero entries."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-12))


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter a random value, including norm weights and pad tokens that default to 1 or 0."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if p.ndim == 1 and ("norm" in name or name.endswith("cap_embedder.0.weight")):
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        elif "pad_token" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            fan_in = p.shape[1] if p.ndim > 1 else p.shape[0]
            p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


# A subset of Qwen3's chat template that renders user turns, the generation prompt and the
# enable_thinking switch exactly as the full template does.
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}{%- endif %}"
)
CORPUS = [
    "a seamless stone wall texture, moss between bricks, photorealistic, 4k",
    "poster of a red fox in the snow with the title 'WINTER' in bold letters",
    "weathered wooden planks, top-down view, tileable, high detail",
    "Ein altes Schloss im Nebel. 山水画, 中国风. Ünïcödé façade; numbers 12345 and symbols #@!",
]


def make_tokenizer(folder, vocab_size: int = 400) -> None:
    """Write tokenizer/tokenizer.json (+ tokenizer_config.json) built like Qwen's: byte-level BPE, NFC,
    the Qwen pre-tokenizer split, and the special tokens <|endoftext|>, <|im_start|>, <|im_end|>."""
    import json
    from pathlib import Path

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": 131072,
        "chat_template": QWEN3_CHAT_TEMPLATE, "add_prefix_space": False,
    }))
