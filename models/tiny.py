"""Tiny randomly initialised Llama-family checkpoints, for tests, examples and benchmarks.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on a few lines of
text in memory, the weights are random. The checkpoint is a normal
`save_pretrained` directory, so it exercises the real `hf:` loading code.
"""

from __future__ import annotations

from pathlib import Path

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    '{"type": "answer", "content": "yes"} {"name": "python", "arguments": {"code": "print(1)"}}',
    "user assistant system tool function call arguments content instruction response",
    "0123456789 + - * / = ( ) [ ] { } : ; , . ? ! ' \" \n",
    "Alice is the mother of Bob. Who is the grandmother of Carol? The needle is hidden here.",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] or '' }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE `PreTrainedTokenizerFast` with chat template and pad/eos tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|pad|>",
        additional_special_tokens=specials[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_tiny_checkpoint(
    path: str | Path,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_position_embeddings: int = 4096,
    seed: int = 0,
    initializer_range: float = 0.02,
) -> Path:
    """Write a tiny random Llama checkpoint + tokenizer to `path` and return it.

    Args:
        path: directory to create (parents included).
        vocab_size: BPE vocabulary size (the model's embedding matches it).
        hidden_size, num_layers, num_heads, num_kv_heads: model shape.
        max_position_embeddings: longest sequence the rotary embedding covers.
        seed: torch seed for the random weights (same seed, same model).
        initializer_range: std of the random weights. The transformers default (0.02)
            makes a tiny random model repeat one token whatever the prompt; tests that
            compare outputs across prompts (batched vs one-by-one) use a larger value
            so different prompts give different continuations.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
