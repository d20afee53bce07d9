"""Make the real-engine rehearsal's model locally: a tiny dense Llama and its tokenizer, no hub access.

    python make_tiny_model.py DEST

Run inside the vLLM image at build time (transformers, tokenizers and torch come with vLLM). The
shape is what vLLM's CPU backend serves (shared/notes/real-vllm-on-cpu.md): LlamaForCausalLM, 2
layers, hidden 256, 4 attention heads of head_dim 64 (the CPU attention supports 32, 64, 80 and up),
2 KV heads; a byte-level BPE tokenizer trained here on a fixed text, with a chat template. Seeded:
the same inputs make the same weights. The weights are random: the text it writes is noise, which
is all a rehearsal needs (every token still goes through prefill, the KV hand-off and decode).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB = 1024
MAX_POSITIONS = 4096
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for part in m['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus() -> list[str]:
    words = ("prefill decode router engine cache transfer token model layer node host port rank "
             "data parallel tensor expert batch request stream health metric latency throughput "
             "the a of to and in is it that for on with as by this be are from at or an").split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(12)) for i in range(400)]
    lines += ["".join(chr(c) for c in range(32, 127))] * 4          # every printable ASCII character
    lines += [f"{n} {n * 17} {n * 31 % 97}" for n in range(200)]
    return lines


def main(dest: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="</s>", model_max_length=MAX_POSITIONS)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(dest)

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                         max_position_embeddings=MAX_POSITIONS, bos_token_id=fast.bos_token_id,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         tie_word_embeddings=False, torch_dtype="float32")
    model = LlamaForCausalLM(config)
    model.save_pretrained(dest, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    (dest / "pdcompose-tiny-model.json").write_text(json.dumps(
        {"architecture": "LlamaForCausalLM", "parameters": params, "vocab": len(fast),
         "max_position_embeddings": MAX_POSITIONS}, indent=1) + "\n")
    print(f"tiny model: {params:,} parameters, vocab {len(fast)}, at {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
