"""Does freezing the core linguistic region reduce forgetting? A tiny model and two synthetic languages.

Zhang et al. 2024 (§5) further pre-train LLaMA-2 on Chinese with the core region frozen
and find English perplexity rises less than without freezing. Here, on a CPU: a tiny
random Llama is pre-trained on two synthetic "languages" A and B (first-order Markov
chains over a shared vocabulary with different transition tables, so learning more B
disturbs A), its core region is found (top `--fraction` per block matrix of
Σ_{A,B} |grad ⊙ param|), and from the same pre-trained weights it is further trained on
B only: with nothing frozen, with the core region frozen, and with a random region of
the same size frozen. `forgetting_ratio` = (A perplexity increase with the core frozen) /
(increase with nothing frozen), averaged over `--seeds` runs; below 1 means freezing the
core region reduced forgetting. Prints one JSON line.

Usage: python benchmarks/region_forgetting.py [--seeds 1] [--pretrain-steps 200] [--further-steps 100]
       [--fractions 0.01,0.05] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

VOCAB, SEQ = 48, 32


def markov_language(low: int, high: int, seed: int) -> torch.Tensor:
    """A transition table over tokens [low, high): each token has 3 likely successors."""
    g = torch.Generator().manual_seed(seed)
    table = torch.full((VOCAB, VOCAB), 1e-3)
    for token in range(VOCAB):
        successors = torch.randint(low, high, (3,), generator=g)
        table[token, successors] += torch.tensor([6.0, 3.0, 1.0])
    table[:, :low] = table[:, high:] = 0
    return table / table.sum(dim=1, keepdim=True)


def sample(table: torch.Tensor, low: int, high: int, count: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(count):
        token = int(torch.randint(low, high, (1,), generator=g))
        block = [token]
        for _ in range(SEQ - 1):
            token = int(torch.multinomial(table[token], 1, generator=g))
            block.append(token)
        blocks.append(block)
    return blocks


def tiny_model(seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=SEQ,
    )
    return LlamaForCausalLM(config).float()


def one_seed(seed: int, args: argparse.Namespace, fractions: list[float]) -> dict:
    from phalanx.models.trainers import (
        FreezeTrainSettings,
        perplexity,
        score_languages,
        select_region,
        train_region_frozen,
    )

    lang_a, lang_b = markov_language(0, 32, 100 + seed), markov_language(16, VOCAB, 200 + seed)
    a_train, b_train = sample(lang_a, 0, 32, 256, seed), sample(lang_b, 16, VOCAB, 256, seed + 1)
    a_eval = sample(lang_a, 0, 32, 32, seed + 2)
    mixed = [block for pair in zip(a_train, b_train, strict=True) for block in pair]
    model = tiny_model(seed)
    pre = FreezeTrainSettings(steps=args.pretrain_steps, batch_size=16, learning_rate=3e-3, seed=seed)
    train_region_frozen(model, mixed, None, pre)
    scores = score_languages(model, {"A": a_train[:32], "B": b_train[:32]}, batch_size=8)
    before = perplexity(model, a_eval)
    further = FreezeTrainSettings(steps=args.further_steps, batch_size=16, learning_rate=3e-3, seed=seed)

    def increase(mask) -> float:
        trained = copy.deepcopy(model)
        result = train_region_frozen(trained, b_train, mask, further)
        assert mask is None or result.region_intact
        return perplexity(trained, a_eval) - before

    row = {"a_ppl_before": before, "increase": {"none": increase(None)}}
    for fraction in fractions:
        row["increase"][f"core-{fraction}"] = increase(select_region(scores, fraction=fraction))
        row["increase"][f"random-{fraction}"] = increase(
            select_region(scores, fraction=fraction, selection="random", seed=seed)
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--pretrain-steps", type=int, default=200)
    parser.add_argument("--further-steps", type=int, default=100)
    parser.add_argument("--fractions", default="0.01,0.05")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fractions = [float(f) for f in args.fractions.split(",")]
    began = time.perf_counter()
    runs = [one_seed(seed, args, fractions) for seed in range(args.seeds)]
    variants = list(runs[0]["increase"])
    mean = {v: statistics.mean(r["increase"][v] for r in runs) for v in variants}
    ratio = {v: mean[v] / mean["none"] for v in variants if v != "none"}
    first = fractions[0]
    print(
        json.dumps(
            {
                "benchmark": "region_forgetting",
                "model": "tiny llama (2 layers, hidden 64, vocab 48)",
                "seeds": args.seeds,
                "pretrain_steps": args.pretrain_steps,
                "further_steps_on_b": args.further_steps,
                "a_ppl_before": round(statistics.mean(r["a_ppl_before"] for r in runs), 3),
                "a_ppl_increase": {v: round(x, 3) for v, x in mean.items()},
                "a_ppl_increase_per_seed": {v: [round(r["increase"][v], 3) for r in runs] for v in variants},
                "ratio_vs_no_freeze": {v: round(x, 3) for v, x in ratio.items()},
                "forgetting_ratio": round(ratio[f"core-{first}"], 3),
                "random_forgetting_ratio": round(ratio[f"random-{first}"], 3),
                "fraction": first,
                "seconds": round(time.perf_counter() - began, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
