"""Qwen3 encoder parity against transformers' Qwen3Model, and tokenizer + chat template parity."""

from __future__ import annotations

import pytest
import torch
from zimage_kit import randomize, rel_err

from zpipe.engine.zimage.bench import QWEN_PRETOKENIZE, write_tokenizer
from zpipe.engine.zimage.configs import Qwen3Config
from zpipe.engine.zimage.text_encoder import Qwen3Encoder
from zpipe.engine.zimage.tokenizer import PromptTokenizer, chat_prompt

transformers = pytest.importorskip("transformers")

SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, vocab_size=1000, rms_norm_eps=1e-6)
MHA = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
           num_key_value_heads=2, head_dim=16, vocab_size=500, rms_norm_eps=1e-6)


def build(kw, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.Qwen3Config(rope_theta=1e6, tie_word_embeddings=True, **kw)
    ref = transformers.Qwen3Model(cfg).eval()
    randomize(ref, seed)
    ours = Qwen3Encoder(Qwen3Config.from_dict(cfg.to_dict())).eval()
    sd = ref.state_dict()
    last = kw["num_hidden_layers"] - 1
    unused = [k for k in sd if k.startswith(f"layers.{last}.") or k == "norm.weight"]
    for k in unused:
        del sd[k]
    ours.load_state_dict(sd, strict=True)
    return ref, ours


@pytest.mark.parametrize("kw", [SMALL, MHA])
def test_encoder_matches_hidden_states_minus_2(kw):
    ref, ours = build(kw)
    g = torch.Generator().manual_seed(0)
    lens = [5, 17, 11]
    ids = torch.zeros(3, max(lens), dtype=torch.long)
    mask = torch.zeros(3, max(lens), dtype=torch.long)
    toks = []
    for i, n in enumerate(lens):
        t = torch.randint(0, kw["vocab_size"], (n,), generator=g)
        ids[i, :n], mask[i, :n] = t, 1
        toks.append(t.tolist())
    with torch.no_grad():
        hs = ref(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-2]
    got = ours.encode(toks)
    for i, n in enumerate(lens):
        assert got[i].shape == (n, kw["hidden_size"])
        assert rel_err(got[i], hs[i][mask[i].bool()]) <= 1e-4



def test_the_tokenizer_writer_splits_as_qwen_does():
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    assert QWEN_PRETOKENIZE == PRETOKENIZE_REGEX

@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    write_tokenizer(d)
    return d


PROMPTS = ["a seamless stone wall texture", "", "Poster: 'WINTER' 山水画 façade, 12345!\n  two  spaces",
           "qz ÿ 山 " * 300]


def test_tokenizer_matches_transformers_chat_template(tok_dir):
    ref = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    texts = [ref.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=True) for p in PROMPTS]
    assert texts == [chat_prompt(p) for p in PROMPTS]
    enc = ref(texts, padding="max_length", max_length=512, truncation=True)
    want = [[t for t, m in zip(ids, mask) if m] for ids, mask in zip(enc["input_ids"], enc["attention_mask"])]
    got = PromptTokenizer(tok_dir / "tokenizer.json")(PROMPTS)
    assert got == want
    assert len(got[3]) == 512  # the long prompt is cut at 512 tokens, template included
    im_start = ref.convert_tokens_to_ids("<|im_start|>")
    assert got[0][0] == im_start and got[1][0] == im_start
