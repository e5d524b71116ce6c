"""R³ smoke run on a real model: a few staged R³ updates on generated arithmetic, accuracy before and after.

Prints one JSON line. Pipeline as in the official code (methods.md Part A, R³ §1-4): a short
supervised warm-up on the demonstrations (step 1, so the model writes the `#### n` answer line),
then staged R³ PPO (start states with only the last step left first). Held-out accuracy
(greedy, plain question and "last step left") is measured on the base model, after the
warm-up, and after R³; `noise_2se` is twice the standard error of a difference of two
accuracies on the held-out set, the bar a change must clear to mean anything.

Usage: python benchmarks/r3_smoke.py [--model hf:smollm2-135m-instruct] [--steps 6] ...
Run it under the CPU lock on a shared machine: flock /work/notes/cpu.lock python benchmarks/r3_smoke.py
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch

from phalanx.models.trainers import (
    PPOConfig,
    R3Config,
    evaluate_accuracy,
    generate_word_problems,
    load_trainable,
    sft_warmup,
    train_r3,
)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hf:smollm2-135m-instruct")
    ap.add_argument("--train", type=int, default=32, help="training demonstrations")
    ap.add_argument("--heldout", type=int, default=16, help="held-out problems")
    ap.add_argument("--sft-steps", type=int, default=12)
    ap.add_argument("--steps", type=int, default=4, help="R³ PPO updates")
    ap.add_argument("--steps-per-stage", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--max-new-tokens", type=int, default=48, help="sampled tokens per R³ episode")
    ap.add_argument("--eval-tokens", type=int, default=96, help="greedy tokens per held-out question")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    demos = generate_word_problems(args.train + args.heldout, seed=args.seed)
    train, heldout = demos[: args.train], demos[args.train :]
    lm, tok = load_trainable(args.model)

    def note(text: str) -> None:  # progress on stderr; stdout carries only the JSON line
        print(f"[r3_smoke] {text}", file=sys.stderr, flush=True)

    def accuracy() -> dict[str, float]:
        full = evaluate_accuracy(lm, tok, heldout, max_new_tokens=args.eval_tokens)
        last = evaluate_accuracy(lm, tok, heldout, max_new_tokens=min(args.eval_tokens, 32), k_from_end=1)
        return {"question": round(full, 4), "last_step_left": round(last, 4)}

    t0 = time.perf_counter()
    base = accuracy()
    t_eval = time.perf_counter() - t0
    note(f"base accuracy {base} in {t_eval:.0f}s")
    t0 = time.perf_counter()
    sft_losses = sft_warmup(lm, tok, train, steps=args.sft_steps, batch_size=8, seed=args.seed)
    t_sft = time.perf_counter() - t0
    after_sft = accuracy()
    note(f"warm-up {t_sft:.0f}s, loss {sft_losses[:1]} -> {sft_losses[-1:]}; accuracy {after_sft}")
    cfg = R3Config(
        schedule="staged",
        steps=args.steps,
        steps_per_stage=args.steps_per_stage,
        stage_threshold=0.8,
        ppo=PPOConfig(
            batch_size=args.batch_size,
            mini_batch_size=args.batch_size,
            learning_rate=args.lr,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
        ),
        seed=args.seed,
    )
    result = train_r3(
        lm,
        tok,
        train,
        config=cfg,
        on_step=lambda s: note(
            f"R3 update {s.step}: stage {s.stage} reward {s.mean_score:.2f} {s.seconds:.0f}s"
        ),
    )
    after_r3 = accuracy()

    n = len(heldout)
    p = max(after_sft["question"], after_r3["question"], 1.0 / n)
    noise = 2 * math.sqrt(2 * p * (1 - p) / n) if p < 1 else 2 * math.sqrt(2 * (1 / n) * (1 - 1 / n) / n)
    delta = after_r3["question"] - after_sft["question"]
    delta_last = after_r3["last_step_left"] - after_sft["last_step_left"]
    record = {
        "benchmark": "r3_smoke",
        "model": args.model,
        "train_demos": args.train,
        "heldout": n,
        "sft_steps": args.sft_steps,
        "sft_loss_first_last": [round(sft_losses[0], 3), round(sft_losses[-1], 3)] if sft_losses else None,
        "sft_seconds": round(t_sft, 1),
        "r3_steps": args.steps,
        "batch_size": args.batch_size,
        "reward_per_step": [round(s.mean_score, 3) for s in result.steps],
        "stage_per_step": [s.stage for s in result.steps],
        "seconds_per_step": round(sum(s.seconds for s in result.steps) / len(result.steps), 2),
        "eval_seconds": round(t_eval, 1),
        "accuracy_base": base,
        "accuracy_after_sft": after_sft,
        "accuracy_after_r3": after_r3,
        "delta_r3_question": round(delta, 4),
        "delta_r3_last_step_left": round(delta_last, 4),
        "noise_2se": round(noise, 4),
        "above_noise": abs(delta) > noise or abs(delta_last) > noise,
    }
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
