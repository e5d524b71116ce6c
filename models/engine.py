"""The `hf:` generation engine: continuous batching over a slot pool, with prefix sharing.

One worker thread owns the model. Requests join the running batch between decode
steps (continuous batching, as vLLM does), so a long answer never holds back the
requests that arrive while it is generated, and every running row advances one token
per step in one batched forward pass.

Admission prefills only what is new:

* **Shared prefixes.** Prompts are cut into blocks (`PrefixCache.block_tokens`); rows
  whose prompts start with the same blocks as another running or arriving row form a
  prefix group. The group's prefix is computed (or taken from the prefix cache) once,
  and its keys are read once per step for the whole group (`shared_attention`).
* **Prefix cache.** Every prompt's full blocks are stored (LRU within a byte budget),
  so the next turn of a conversation, or the next record with the same system prompt
  and tools, reuses them instead of recomputing.
* The rest of each prompt is prefilled in passes of rows of similar length.

Rows end on their own (`RowState`): EOS, stop strings, token limits, loops, complete
JSON. A cancelled caller frees its row at the next step. An error fails the rows it
concerns and leaves the engine serving the others.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phalanx.models.grammar import GrammarCompiler
from phalanx.models.hf_generate import GenRequest, GenResult, _cache_argument, _eos_and_pad, prefill_groups
from phalanx.models.prefix_cache import PrefixCache, block_hashes
from phalanx.models.row_state import RowState
from phalanx.models.sampling import next_tokens
from phalanx.models.shared_attention import ForwardPlan, PoolCache, PrefixKV, SlotPool, active_plan, install

ENGINE_VERSION = 1
"""Bumped whenever the engine's attention changes, so remembered self-tests are redone."""
PREFILL_CHUNK = 512
"""Most new tokens per row in one prefill pass (bounds activation memory)."""
IDLE_POOL_BYTES = 1 << 30
"""An idle engine frees its slot pool when it is larger than this."""


@dataclass
class EngineStats:
    """What the engine has done (for benchmarks, tests and `phalanx models` reports)."""

    requests: int = 0
    """Requests finished (successfully or not)."""
    batches: int = 0
    """Admission waves (groups of requests that joined the running batch together)."""
    sizes: list[int] = field(default_factory=list)
    """Rows admitted in each wave."""
    decode_steps: int = 0
    decode_rows: int = 0
    """Sum over decode steps of the rows advanced (average batch = decode_rows / decode_steps)."""
    prefill_passes: int = 0
    prompt_tokens: int = 0
    """Prompt tokens admitted."""
    computed_tokens: int = 0
    """Prompt tokens run through the model (the rest came from a cache or a shared prefix)."""
    cached_tokens: int = 0
    """Prompt tokens whose keys and values were loaded from the prefix cache."""
    shared_tokens: int = 0
    """Prompt tokens served by a prefix another running row had already computed or loaded."""
    admit_s: float = 0.0
    """Seconds spent admitting (prefix lookups, prefills)."""
    decode_s: float = 0.0
    """Seconds spent in decode steps."""

    @property
    def largest(self) -> int:
        """Rows of the largest admission wave so far."""
        return max(self.sizes, default=0)

    @property
    def reuse_rate(self) -> float:
        """Share of prompt tokens not recomputed."""
        return 1.0 - self.computed_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


@dataclass(eq=False)
class _Row:
    request: GenRequest
    future: Future[GenResult]
    state: RowState
    hashes: list[int] = field(default_factory=list)
    slot: int = -1
    prefix: PrefixKV | None = None
    length: int = 0
    """Positions of this row in its slot (its prompt after the shared prefix, then its tokens)."""
    feed: int = 0
    """The token the next decode step feeds."""
    todo: list[int] = field(default_factory=list)
    """Prompt tokens still to prefill."""

    @property
    def prefix_len(self) -> int:
        return self.prefix.length if self.prefix is not None else 0


class GenerationEngine:
    """Continuous-batching generation for one transformers causal LM.

    Args:
        model: the loaded model (its attention is switched to phalanx's shared-prefix
            attention; `usable` says whether that worked).
        tokenizer: its tokenizer.
        max_rows: most rows decoded together.
        window_s: how long an idle engine waits after a first request for others.
        prefix_cache: the block store (None: a fresh one of 1 GiB).
        lock: held around every forward pass (a trainer may take it to change weights).
        name: the worker thread's name.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_rows: int = 32,
        window_s: float = 0.005,
        prefix_cache: PrefixCache | None = None,
        lock: threading.Lock | None = None,
        name: str = "phalanx-engine",
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_rows
        self.window_s = window_s
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache()
        self.lock = lock or threading.Lock()
        self.name = name
        self.stats = EngineStats()
        self.pad_id, self.eos_ids = _eos_and_pad(model, tokenizer)
        self.grammar: GrammarCompiler | None = None
        self._arg = _cache_argument(model)
        self.usable = self._arg is not None and install(model)
        cfg = model.config
        text_cfg = getattr(cfg, "get_text_config", lambda: cfg)()
        heads = text_cfg.num_attention_heads
        self._pool = SlotPool(
            text_cfg.num_hidden_layers,
            getattr(text_cfg, "num_key_value_heads", None) or heads,
            getattr(text_cfg, "head_dim", None) or text_cfg.hidden_size // heads,
            next(model.parameters()).dtype,
            next(model.parameters()).device,
        )
        self._rows: list[_Row] = []
        self._prefixes: dict[int, PrefixKV] = {}
        self._waiting: deque[_Row] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._generators: dict[int, Any] = {}
        self._probe: Any = None

    # ------------------------------------------------------------------ public API

    def grammar_compiler(self) -> GrammarCompiler:
        """The model's JSON grammar compiler (built on first use)."""
        if self.grammar is None:
            vocab = self.model.get_output_embeddings().weight.shape[0]
            self.grammar = GrammarCompiler(self.tokenizer, vocab, self.eos_ids)
        return self.grammar

    def submit(self, request: GenRequest) -> Future[GenResult]:
        """Queue `request`; the future resolves with its result (or its error)."""
        future: Future[GenResult] = Future()
        row = _Row(request, future, RowState(self.tokenizer, request, self.eos_ids, request.grammar))
        with self._cv:
            if self._closed:
                raise RuntimeError("this model was closed (aclose); load it again to use it")
            self._waiting.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
                atexit.register(_close_at_exit, weakref.ref(self))
            self._cv.notify()
        return future

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the worker; waiting and running requests fail with `RuntimeError`.

        Args:
            wait_s: how long to wait for the worker thread to finish its current step.
        """
        with self._cv:
            self._closed = True
            self._cv.notify()
        thread = self._thread
        if wait_s > 0 and thread is not None and thread is not threading.current_thread():
            thread.join(wait_s)

    def checked(self) -> str | None:
        """`self_test`, remembered per architecture: None when the engine may serve this model.

        A passed check is written under `PHALANX_HOME/engine-checks/` keyed by the model's
        class, configuration (weights aside), dtype, device type and the torch and
        transformers versions: whether the engine's attention matches is a property of the
        architecture and the libraries, so a later load of such a model skips the check.
        """
        marker = _check_marker(self.model, self._pool.dtype, self._pool.device)
        if marker is not None and marker.is_file():
            return None
        problem = self.self_test()
        if problem is None and marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text("passed\n")
            except OSError:
                pass  # an unwritable home only costs the check next time
        return problem

    def self_test(self) -> str | None:
        """Check that this model computes the same logits through the engine as plainly.

        Runs two prompts that share two blocks twice (computing the shared prefix, then
        loading it from the cache) and compares the first decode step's logits with a
        plain forward pass. Returns None when they agree, else what differed.
        """
        import torch

        from phalanx.models.types import GenerationConfig

        bt = self.prefix_cache.block_tokens
        gen = torch.Generator().manual_seed(0)
        top = max(2, min(len(self.tokenizer), self.model.get_input_embeddings().weight.shape[0]))
        base = torch.randint(1, top, (2 * bt,), generator=gen).tolist()
        prompts = [base + torch.randint(1, top, (n,), generator=gen).tolist() for n in (5, bt + 9)]
        with torch.inference_mode():
            ref = [
                self.model(input_ids=torch.tensor([p], device=self._pool.device)).logits[0, -1]
                for p in prompts
            ]
        saved_cache, saved_stats = self.prefix_cache, self.stats
        self.prefix_cache = PrefixCache(bt, budget_bytes=max(saved_cache.budget_bytes, 1 << 24))
        self.stats = EngineStats()
        worst = 0.0
        try:
            for _ in range(2):
                captured: list[Any] = []
                self._probe = captured.append
                rows = []
                for p in prompts:
                    request = GenRequest(p, GenerationConfig(max_new_tokens=1))
                    rows.append(_Row(request, Future(), RowState(self.tokenizer, request, self.eos_ids)))
                with self.lock:
                    self._admit(rows)
                    self._step()
                for got, want in zip(captured[0], ref, strict=True):
                    scale = max(1.0, float(want.abs().max()))
                    worst = max(worst, float((got.float() - want.float()).abs().max()) / scale)
        except Exception as exc:  # noqa: BLE001 - any failure means "do not use the engine"
            return f"{type(exc).__name__}: {exc}"
        finally:
            self._probe = None
            self.prefix_cache, self.stats = saved_cache, saved_stats
            self._rows, self._prefixes = [], {}
        tolerance = 1e-3 if self._pool.dtype == torch.float32 else 3e-2
        if worst > tolerance:
            return f"logits differ from plain attention by {worst:.2e} (relative; tolerance {tolerance})"
        return None

    def clear_cache(self) -> None:
        """Forget every stored prefix (call after changing the weights)."""
        self.prefix_cache.clear()

    # ------------------------------------------------------------------ worker loop

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._closed and not self._waiting and not self._rows:
                    self._cv.wait()
                if self._closed:
                    break
                idle = not self._rows
            if idle and self.window_s > 0:
                time.sleep(self.window_s)  # let concurrent callers join the first wave
            with self._cv:
                room = self.max_batch_size - len(self._rows)
                new = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            new = [r for r in new if not r.future.cancelled()]
            if new:
                started = time.perf_counter()
                self._guarded(self._admit, new)
                self.stats.admit_s += time.perf_counter() - started
            if self._rows:
                started = time.perf_counter()
                self._guarded(self._step, None)
                self.stats.decode_s += time.perf_counter() - started
            if not self._rows:
                self._release_pool()
        self._fail_all(RuntimeError("model closed while the request was waiting"))

    def _guarded(self, fn: Any, new: list[_Row] | None) -> None:
        try:
            with self.lock:
                if new is None:
                    fn()
                else:
                    fn(new)
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
            victims = list(new) if new is not None else list(self._rows)
            if new is not None:  # a failed admission leaves the running rows as they were
                self._rows = [r for r in self._rows if r not in new]
            else:
                self._rows = []
            for row in victims:
                self._finish(row, exc)
            self._prefixes = {k: p for k, p in self._prefixes.items() if p.users > 0}
            if not isinstance(exc, Exception):
                raise

    def _fail_all(self, exc: BaseException) -> None:
        with self._cv:
            rows = list(self._rows) + list(self._waiting)
            self._rows, self._waiting = [], deque()
        for row in rows:
            self._finish(row, exc)

    def _finish(self, row: _Row, outcome: GenResult | BaseException) -> None:
        self.stats.requests += 1
        self._generators.pop(row.request.uid, None)
        if row.prefix is not None:
            row.prefix.users -= 1
            if row.prefix.users <= 0:
                self._prefixes.pop(row.prefix.chain, None)
        if row.future.done():
            return
        if isinstance(outcome, BaseException):
            row.future.set_exception(outcome)
        else:
            row.future.set_result(outcome)

    def _release_pool(self) -> None:
        pool = self._pool
        if pool.slots * pool.capacity * pool.kv_heads * pool.head_dim * 8 * pool.n_layers > IDLE_POOL_BYTES:
            pool.keys, pool.values, pool.slots, pool.capacity = [], [], 0, 0

    # ------------------------------------------------------------------ admission

    def _admit(self, new: list[_Row]) -> None:
        import torch

        bt = self.prefix_cache.block_tokens
        self.stats.batches += 1
        self.stats.sizes.append(len(new))
        for row in new:
            row.hashes = block_hashes(row.request.input_ids[:-1], bt)
            self.stats.prompt_tokens += len(row.request.input_ids)
            seed = row.request.config.seed
            if row.request.config.sampling and seed is not None:
                self._generators[row.request.uid] = torch.Generator(device=self._pool.device).manual_seed(
                    seed
                )
        shared = self._shared_blocks(new)
        need = 0
        for row, blocks in zip(new, shared, strict=True):
            row.prefix = self._prefix_for(row, blocks) if blocks else None
            if row.prefix is not None:
                row.prefix.users += 1
            need = max(need, len(row.request.input_ids) - row.prefix_len + row.state.limit + 1)
        first = len(self._rows)
        self._pool.reserve(first + len(new), need)
        for i, row in enumerate(new):
            row.slot = first + i
            self._load_private(row)
        self._rows.extend(new)
        self._prefill(new)
        for row in new:
            self._store_prompt(row)

    def _shared_blocks(self, new: list[_Row]) -> list[int]:
        """Per new row: leading blocks it shares with another running or arriving row."""
        counts: dict[int, int] = {}
        for row in [*new, *self._rows]:
            for h in row.hashes:
                counts[h] = counts.get(h, 0) + 1
        out = []
        for row in new:
            n = 0
            for i, h in enumerate(row.hashes):
                if counts[h] >= 2 or h in self._prefixes:
                    n = i + 1
                else:
                    break
            out.append(n)
        return out

    def _prefix_for(self, row: _Row, blocks: int) -> PrefixKV:
        """The shared prefix of `row`'s first `blocks` blocks: live, cached, or computed now."""
        import torch

        hashes = row.hashes[:blocks]
        chain = hashes[-1]
        live = self._prefixes.get(chain)
        if live is not None:
            self.stats.shared_tokens += live.length
            return live
        bt = self.prefix_cache.block_tokens
        length = blocks * bt
        cached = self.prefix_cache.match(hashes)
        have = self.prefix_cache.gather(hashes[:cached]) if cached else None
        if have is None:
            cached = 0
        layers = have or []
        if cached < blocks:
            base = PrefixKV(have, cached * bt) if have is not None else None
            fresh = self._compute_scratch(row.request.input_ids[cached * bt : length], base)
            self.prefix_cache.store(hashes[cached:], fresh)
            if have is None:
                layers = [(k.unsqueeze(0), v.unsqueeze(0)) for k, v in fresh]
            else:
                layers = [
                    (torch.cat([hk, k.unsqueeze(0)], dim=2), torch.cat([hv, v.unsqueeze(0)], dim=2))
                    for (hk, hv), (k, v) in zip(have, fresh, strict=True)
                ]
            self.stats.computed_tokens += length - cached * bt
        self.stats.cached_tokens += cached * bt
        prefix = PrefixKV(layers, length, chain=chain)
        self._prefixes[chain] = prefix
        return prefix

    def _compute_scratch(self, ids: list[int], base: PrefixKV | None) -> list[tuple[Any, Any]]:
        """Keys and values of `ids` following `base`, per layer `(kv_heads, n, head_dim)`."""
        import torch

        pool = SlotPool(
            self._pool.n_layers, self._pool.kv_heads, self._pool.head_dim, self._pool.dtype, self._pool.device
        )
        pool.reserve(1, len(ids))
        done = 0
        offset = base.length if base is not None else 0
        while done < len(ids):
            chunk = ids[done : done + PREFILL_CHUNK]
            t = len(chunk)
            write = torch.arange(done, done + t, device=pool.device).unsqueeze(0)
            plan = ForwardPlan(
                pool=pool,
                slots=None,
                write_pos=write,
                kv_len=done + t,
                mask=_causal_mask([done], t, done + t, pool.dtype, pool.device),
                groups=[(torch.zeros(1, dtype=torch.long, device=pool.device), base)]
                if base is not None
                else [],
            )
            self._forward(torch.tensor([chunk], device=pool.device), write + offset, plan)
            done += t
        return pool.export(0, 0, len(ids))

    def _load_private(self, row: _Row) -> None:
        """Put the cached blocks after the shared prefix into the row's slot; queue the rest."""
        bt = self.prefix_cache.block_tokens
        ids = row.request.input_ids
        start_block = row.prefix_len // bt
        cached = self.prefix_cache.match(row.hashes)
        loaded = 0
        if cached > start_block:
            kv = self.prefix_cache.gather(row.hashes[start_block:cached])
            if kv is not None:
                self._pool.load(row.slot, 0, kv)
                loaded = (cached - start_block) * bt
        self.stats.cached_tokens += loaded
        row.length = loaded
        row.todo = ids[row.prefix_len + loaded : -1]
        row.feed = ids[-1]
        self.stats.computed_tokens += len(row.todo) + 1

    def _prefill(self, new: list[_Row]) -> None:
        import torch

        rows = sorted((r for r in new if r.todo), key=lambda r: len(r.todo))
        device = self._pool.device
        for group in prefill_groups([len(r.todo) for r in rows]):
            members = [rows[i] for i in group]
            while any(r.todo for r in members):
                t = min(PREFILL_CHUNK, max(len(r.todo) for r in members))
                ids = torch.full((len(members), t), self.pad_id, dtype=torch.long)
                for i, r in enumerate(members):
                    part = r.todo[:t]
                    ids[i, : len(part)] = torch.tensor(part, dtype=torch.long)
                starts = [r.length for r in members]
                steps = torch.arange(t).unsqueeze(0)
                write = torch.tensor(starts).unsqueeze(1) + steps
                positions = write + torch.tensor([r.prefix_len for r in members]).unsqueeze(1)
                kv_len = max(starts) + t
                plan = ForwardPlan(
                    pool=self._pool,
                    slots=torch.tensor([r.slot for r in members], device=device),
                    write_pos=write.to(device),
                    kv_len=kv_len,
                    mask=_causal_mask(starts, t, kv_len, self._pool.dtype, device),
                    groups=_groups(members, device),
                )
                self._forward(ids.to(device), positions.to(device), plan)
                self.stats.prefill_passes += 1
                for r in members:
                    n = min(t, len(r.todo))
                    r.length += n
                    r.todo = r.todo[n:]

    def _store_prompt(self, row: _Row) -> None:
        """Store the row's prompt blocks after its shared prefix (for its next turn)."""
        bt = self.prefix_cache.block_tokens
        first = row.prefix_len // bt
        if not self.prefix_cache.enabled or len(row.hashes) <= first:
            return
        kv = self._pool.export(row.slot, 0, (len(row.hashes) - first) * bt)
        self.prefix_cache.store(row.hashes[first:], kv)

    # ------------------------------------------------------------------ decoding

    def _step(self) -> None:
        import torch

        self._drop_cancelled()
        rows = self._rows
        if not rows:
            return
        device = self._pool.device
        lengths = torch.tensor([r.length for r in rows])
        kv_len = int(lengths.max()) + 1
        plan = ForwardPlan(
            pool=self._pool,
            slots=None,
            write_pos=lengths.unsqueeze(1).to(device),
            kv_len=kv_len,
            mask=_causal_mask([r.length for r in rows], 1, kv_len, self._pool.dtype, device),
            groups=_groups(rows, device),
        )
        ids = torch.tensor([[r.feed] for r in rows], device=device)
        positions = torch.tensor([[r.prefix_len + r.length] for r in rows], device=device)
        logits = self._forward(ids, positions, plan, logits=True)
        if self._probe is not None:
            self._probe(logits)
        self.stats.decode_steps += 1
        self.stats.decode_rows += len(rows)
        with torch.inference_mode():
            tokens = next_tokens(logits, [r.state for r in rows], self.grammar, self._generators)
        for row, token in zip(rows, tokens, strict=True):
            row.length += 1
            row.feed = token
            row.state.push(token)
        for row in [r for r in rows if r.state.done]:
            self._retire(row, row.state.result())

    def _drop_cancelled(self) -> None:
        for row in [r for r in self._rows if r.future.cancelled()]:
            self._retire(row, None)

    def _retire(self, row: _Row, result: GenResult | None) -> None:
        rows = self._rows
        slot = rows.index(row)
        last = rows[-1]
        if last is not row:
            self._pool.move(last.slot, slot, last.length)
            last.slot = slot
            rows[slot] = last
        rows.pop()
        self._finish(row, result if result is not None else RuntimeError("cancelled"))

    def _forward(self, ids: Any, positions: Any, plan: ForwardPlan, logits: bool = False) -> Any:
        import torch

        assert self._arg is not None
        with torch.inference_mode(), active_plan(plan):
            out = self.model(
                input_ids=ids,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{self._arg: PoolCache(plan)},
            )
        return out.logits[:, -1, :] if logits else None


def _close_at_exit(ref: weakref.ReferenceType[GenerationEngine]) -> None:
    # A worker thread still inside torch when the interpreter tears down aborts the process
    # ("terminate called without an active exception"): stop it first.
    engine = ref()
    if engine is not None:
        engine.close(wait_s=10.0)


def _check_marker(model: Any, dtype: Any, device: Any) -> Path | None:
    """Where a passed self-test of this architecture is remembered (None: nowhere to keep it)."""
    try:
        import torch
        import transformers

        from phalanx.models.store.cache import model_home

        config = model.config.to_dict()
        for volatile in ("_name_or_path", "_commit_hash", "transformers_version", "torch_dtype", "dtype"):
            config.pop(volatile, None)
        key = json.dumps(
            [
                type(model).__name__,
                config,
                str(dtype),
                getattr(device, "type", str(device)),
                torch.__version__,
                transformers.__version__,
                ENGINE_VERSION,
            ],
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return model_home() / "engine-checks" / f"{type(model).__name__}-{digest}"
    except Exception:  # noqa: BLE001 - a config that does not serialise is simply checked every time
        return None


def _causal_mask(starts: list[int], t: int, kv_len: int, dtype: Any, device: Any) -> Any:
    """`(rows, 1, t, kv_len)` additive mask: query j of a row starting at s sees positions <= s + j."""
    import torch

    cols = torch.arange(kv_len, device=device).view(1, 1, 1, kv_len)
    limit = torch.tensor(starts, device=device).view(-1, 1, 1, 1) + torch.arange(t, device=device).view(
        1, 1, t, 1
    )
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(cols <= limit, zero, torch.tensor(float("-inf"), dtype=dtype, device=device))


def _groups(rows: list[_Row], device: Any) -> list[tuple[Any, PrefixKV]]:
    import torch

    members: dict[int, list[int]] = {}
    prefixes: dict[int, PrefixKV] = {}
    for i, row in enumerate(rows):
        if row.prefix is not None:
            members.setdefault(id(row.prefix), []).append(i)
            prefixes[id(row.prefix)] = row.prefix
    return [(torch.tensor(idx, device=device), prefixes[key]) for key, idx in members.items()]
