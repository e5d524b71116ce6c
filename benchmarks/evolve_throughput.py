"""Self-evolving benchmark throughput: micro-batched concurrency vs one-at-a-time, tiny `hf:` model.

Evolves 200 embedded arithmetic instances x 3 modes (paraphrase, noise, polarity) through the
full checkpointed graph with a tiny random Llama (`phalanx.models.tiny`) as generator and
verifier, once with `concurrency=1` (one model call at a time) and once with `concurrency=128`
(concurrent agent calls batched into one `generate` by the `hf:` backend). The random model
writes garbage, so each (instance, mode) ends after its generator call with a
`Generator error` (pre-filter off, no re-asks); both arms do exactly the same calls.
Replies are capped at `max_new_tokens=48`; torch uses one CPU thread (more threads thrash on a
small shared machine). One-at-a-time throughput does not depend on how many instances are
queued, so to keep the run under three minutes the sequential arm's rate is measured on the
first 100 instances (x 3 modes); the batched arm runs all 200. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from phalanx.agents.selfevolve import EvolveSettings, evolve_dataset, load_embedded, parse_modes
from phalanx.models import load_model
from phalanx.models.tiny import build_tiny_checkpoint

N_INSTANCES = 200
MODES = "paraphrase,noise,polarity"
MAX_NEW_TOKENS = 48
CONCURRENT = 128
THREADS = 1
SEQUENTIAL_INSTANCES = 100


def _run(model, instances, modes, out: Path, concurrency: int) -> tuple[float, int]:
    settings = EvolveSettings(prefilter=False, max_reasks=0, max_new_tokens=MAX_NEW_TOKENS)
    started = time.perf_counter()
    summary = asyncio.run(
        evolve_dataset(instances, modes, model, model, out, concurrency=concurrency, settings=settings)
    )
    return time.perf_counter() - started, summary.written


def main() -> None:
    import torch

    # One intra-op thread for both arms: the comparison is batching, not thread count, and
    # torch's default thread pool thrashes on a small shared machine.
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ckpt = build_tiny_checkpoint(root / "tiny")
        model = load_model(f"hf:{ckpt}?device=cpu&max_batch={CONCURRENT}&window_ms=20")
        instances = load_embedded("arithmetic", n=N_INSTANCES)
        modes = parse_modes(MODES)
        _run(model, instances[:4], modes, root / "warmup", 4)
        seq_s, seq_n = _run(model, instances[:SEQUENTIAL_INSTANCES], modes, root / "sequential", 1)
        before = model.batcher.stats.batches if hasattr(model, "batcher") else 0
        par_s, par_n = _run(model, instances, modes, root / "batched", CONCURRENT)
        stats = getattr(model, "batcher", None)
        sizes = stats.stats.sizes[before:] if stats else []
    units = N_INSTANCES * len(modes)
    print(
        json.dumps(
            {
                "benchmark": "evolve_throughput",
                "instances": N_INSTANCES,
                "sequential_instances": SEQUENTIAL_INSTANCES,
                "modes": len(modes),
                "units": units,
                "records_sequential": seq_n,
                "records_batched": par_n,
                "max_new_tokens": MAX_NEW_TOKENS,
                "concurrency": CONCURRENT,
                "sequential_instances_per_s": round(SEQUENTIAL_INSTANCES / seq_s, 2),
                "batched_instances_per_s": round(N_INSTANCES / par_s, 2),
                "sequential_s": round(seq_s, 2),
                "batched_s": round(par_s, 2),
                "mean_batch_size": round(sum(sizes) / len(sizes), 1) if sizes else None,
                "speedup": round((N_INSTANCES / par_s) / (SEQUENTIAL_INSTANCES / seq_s), 2),
                "target_speedup": 3.0,
                "torch_threads": THREADS,
            }
        )
    )


if __name__ == "__main__":
    main()
