"""Prompt -> Qwen token ids: the chat template of the reference pipelines, then ``tokenizer.json``.

The reference applies Qwen3's chat template to ``[{"role": "user", "content": prompt}]`` with
``add_generation_prompt=True, enable_thinking=True``, which renders exactly ``TEMPLATE`` below, and
tokenizes with ``max_length=512, truncation=True``. Qwen's tokenizer adds no BOS/EOS, and the template
tokens count towards the 512.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
MAX_TOKENS = 512


def chat_prompt(prompt: str) -> str:
    return TEMPLATE.format(prompt=prompt)


class PromptTokenizer:
    def __init__(self, path: str | Path, max_tokens: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        self.path = Path(path)
        self.tok = Tokenizer.from_file(str(self.path))
        self.max_tokens = max_tokens

    def __call__(self, prompts: list[str]) -> list[list[int]]:
        encs = self.tok.encode_batch([chat_prompt(p) for p in prompts], add_special_tokens=True)
        return [e.ids[: self.max_tokens] for e in encs]
