"""R³ reverse-curriculum RL: start states, the outcome reward, a staged run, and the `r3:` checkpoint.

Runs offline in under a minute on a tiny random Llama (gibberish text, real mechanics):
  1. generate multi-step arithmetic word problems with rationales and write them as GSM8K JSONL;
  2. build the start states of one demonstration (k = 0 .. n-1 gold steps in the prompt);
  3. score completions with R³'s outcome reward (1 correct / 0.2 wrong answer / 0 no answer);
  4. train: a short supervised warm-up, then staged R³ PPO (last step first), and save a checkpoint;
  5. load it with `load_model("r3:DIR")` and ask a question.
The same run from the shell: `phalanx train arithmetic data.jsonl` and
`phalanx train r3 --model hf:DIR --data data.jsonl --out ckpt`.

Usage: python examples/r3_training.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from phalanx.models import Message, build_tiny_checkpoint, load_model
from phalanx.models.trainers import (
    PPOConfig,
    R3Config,
    build_start_states,
    generate_word_problems,
    load_gsm8k_jsonl,
    load_trainable,
    outcome_reward,
    train_r3,
    write_gsm8k_jsonl,
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_gsm8k_jsonl(root / "arithmetic.jsonl", generate_word_problems(8, seed=1))
        demos = load_gsm8k_jsonl(data)
        print(
            f"{len(demos)} demonstrations; the first has {len(demos[0].steps)} steps, answer {demos[0].answer}"
        )

        for state in build_start_states(demos[0]):
            given = state.prompt.split("### Response: ", 1)[1].count("\n")
            print(
                f"start state k={state.k}: {given} gold step(s) in the prompt, target ends {state.target[-8:]!r}"
            )

        gold = demos[0].answer
        for completion in (f"... so the total is {gold}.\n#### {gold}", "#### 99999", "I am not sure."):
            print(f"reward {outcome_reward(completion, gold):.1f} for {completion[-24:]!r}")

        model_dir = build_tiny_checkpoint(root / "tiny")
        lm, tok = load_trainable(f"hf:{model_dir}")
        config = R3Config(
            schedule="staged",
            steps=3,
            steps_per_stage=1,
            sft_steps=2,
            ppo=PPOConfig(batch_size=2, mini_batch_size=2, max_new_tokens=8, learning_rate=1e-4),
        )
        result = train_r3(
            lm,
            tok,
            demos,
            config=config,
            out=root / "r3-ckpt",
            base_model="tiny",
            on_step=lambda s: print(
                f"update {s.step}: stage {s.stage}, mean k {s.mean_k:.1f}, reward {s.mean_score:.2f}, "
                f"pg {s.pg_loss:+.4f}, {s.seconds:.1f}s"
            ),
        )
        model = load_model(f"r3:{result.checkpoint}?device=cpu")
        reply = asyncio.run(model.chat([Message(role="user", content=demos[1].question)]))
        print(f"r3: checkpoint answers; extracted answer: {reply.details['r3']['answer']!r}")


if __name__ == "__main__":
    main()
