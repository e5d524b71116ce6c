"""`ray:SPEC?replicas=N`: any model spec served as N replica actors on a Ray cluster (optional extra).

Each replica is a Ray actor that loads the inner SPEC once (`hf:DIR`, `scripted:NAME`, ...)
and serves `chat` calls concurrently on its own event loop, so a backend that batches
concurrent calls (`hf:` micro-batching) keeps doing so inside every replica. The driver
sends each call to the replica with the fewest calls in flight.

Options (after `?`, mixed freely with the inner spec's own options, which are passed on):
`replicas` (default 1), `num_cpus` (CPUs reserved per replica, default 1), `num_gpus`
(default 0), `address` (a Ray cluster such as `127.0.0.1:6379`; default: the cluster this
process is already connected to, or `RAY_ADDRESS`, else a local one started on loopback).

Example: `ray:hf:smollm2-135m-instruct?max_batch=8&replicas=2`.
Install with `pip install 'phalanx[ray]'`; Ray is imported only when a `ray:` model is loaded.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

from phalanx.models.base import TokenCallback, load_model, register_backend
from phalanx.models.errors import ModelSpecError, ModelUnavailable
from phalanx.models.hf_options import split_options
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message

INSTALL_HINT = "install the extra with `pip install 'phalanx[ray]'`"
RAY_OPTIONS = {"replicas": int, "num_cpus": float, "num_gpus": float, "address": str}
"""Spec options read by `ray:` itself (all others go to the inner spec)."""


def import_ray(what: str) -> Any:
    """The `ray` module, or `ModelUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ModelUnavailable(f"{what}: Ray is not installed; {INSTALL_HINT}") from exc
    return ray


def connect(address: str | None, what: str) -> Any:
    """Connect this process to a Ray cluster (once) and return `ray`.

    Args:
        address: `HOST:PORT` of a running cluster; None joins the one this process is already
            connected to, else `RAY_ADDRESS`, else starts a local one.
        what: names the caller in error messages.

    Raises:
        ModelUnavailable: Ray is missing or the cluster cannot be reached.
    """
    ray = import_ray(what)
    _check_reachable(address, what)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
        where = address or "a local cluster"
        raise ModelUnavailable(
            f"{what}: cannot reach the Ray cluster at {where} ({str(exc).splitlines()[0]}); start it with "
            "`ray start --head --node-ip-address=127.0.0.1` or fix the address"
        ) from exc
    return ray


def _check_reachable(address: str | None, what: str) -> None:
    """Fail fast on a `HOST:PORT` nobody listens on (`ray.init` would retry for minutes)."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return  # None, "auto", "local", "ray://...": Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ModelUnavailable(
            f"{what}: no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head --node-ip-address=127.0.0.1 --port=6379` or fix the address"
        ) from None


def ray_options(target: str) -> tuple[str, dict[str, Any]]:
    """`SPEC?replicas=2&max_batch=8` -> `("SPEC?max_batch=8", {"replicas": 2})`.

    Raises:
        ModelSpecError: a bad value of a `ray:` option, or no inner spec.
    """
    head, options = split_options(target)
    mine: dict[str, Any] = {}
    for key, kind in RAY_OPTIONS.items():
        if key in options:
            value = options.pop(key)
            try:
                mine[key] = kind(value)
            except ValueError:
                raise ModelSpecError(f"ray: option {key}={value!r} in {target!r} is not a number") from None
    if mine.get("replicas", 1) < 1 or mine.get("num_cpus", 1) < 0 or mine.get("num_gpus", 0) < 0:
        raise ModelSpecError(f"ray: options of {target!r}: replicas must be >= 1, num_cpus/num_gpus >= 0")
    if not head:
        raise ModelSpecError(f"ray:{target}: give the model to serve, e.g. ray:hf:DIR?replicas=2")
    inner = head + ("?" + "&".join(f"{k}={v}" for k, v in options.items()) if options else "")
    return inner, mine


class ModelReplica:
    """One replica: the inner model loaded once inside a Ray actor (async: calls overlap)."""

    def __init__(self, spec: str) -> None:
        # A load error is kept and raised by `describe`, so the driver sees the real cause
        # (e.g. ModelSpecError) rather than Ray's "actor died in its constructor".
        self.error: Exception | None = None
        self.model: Any = None
        try:
            self.model = load_model(spec)
        except Exception as exc:  # noqa: BLE001 - surfaced by describe()
            self.error = exc

    def describe(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "name": self.model.name,
            "supports_tools": self.model.supports_tools,
            "supports_json_schema": getattr(self.model, "supports_json_schema", False),
        }

    async def chat(self, messages: list[dict], tools: Any, config: dict, json_mode: Any) -> dict:
        resp = await self.model.chat(
            [Message.model_validate(m) for m in messages],
            tools=tools,
            config=GenerationConfig.model_validate(config),
            json_mode=json_mode,
        )
        return resp.model_dump(mode="json")

    async def chat_stream(
        self, messages: list[dict], tools: Any, config: dict, json_mode: Any
    ) -> AsyncIterator[Any]:
        # Text pieces as they come, then the full response as a dict (streamed to the caller).
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        call = asyncio.ensure_future(
            self.model.chat(
                [Message.model_validate(m) for m in messages],
                tools=tools,
                config=GenerationConfig.model_validate(config),
                json_mode=json_mode,
                on_token=pieces.put_nowait,
            )
        )
        call.add_done_callback(lambda _f: pieces.put_nowait(None))
        while (piece := await pieces.get()) is not None:
            yield piece
        yield (await call).model_dump(mode="json")

    async def aclose(self) -> None:
        if self.model is not None:
            await self.model.aclose()


class RayChatModel:
    """A `ChatModel` whose calls go to the least busy of N replica actors on a Ray cluster.

    Args:
        spec: the inner model spec every replica loads.
        replicas: how many replica actors (spread over the cluster's nodes).
        num_cpus: CPUs Ray reserves for each replica.
        num_gpus: GPUs Ray reserves for each replica (a GPU backend then sees just its own).
        address: Ray cluster address (see the module docstring).
        start_timeout_s: how long the replicas may take to be placed and load the model.

    Raises:
        ModelUnavailable: Ray missing, cluster unreachable, or a replica could not start.
        ModelSpecError: the inner spec is bad (raised by the replicas).
    """

    def __init__(
        self,
        spec: str,
        *,
        replicas: int = 1,
        num_cpus: float = 1,
        num_gpus: float = 0,
        address: str | None = None,
        start_timeout_s: float = 600,
    ) -> None:
        ray = connect(address, f"ray:{spec}")
        _check_resources(ray, spec, num_cpus, num_gpus)
        actor = ray.remote(ModelReplica).options(
            num_cpus=num_cpus, num_gpus=num_gpus, scheduling_strategy="SPREAD", max_concurrency=1000
        )
        self._ray = ray
        self._replicas = [actor.remote(spec) for _ in range(replicas)]
        self._in_flight = [0] * replicas
        self._alive = [True] * replicas
        self._turn = itertools.count()
        try:
            infos = ray.get([r.describe.remote() for r in self._replicas], timeout=start_timeout_s)
        except ray.exceptions.RayTaskError as exc:
            self._kill()
            raise _cause(exc) from None
        except ray.exceptions.GetTimeoutError:
            self._kill()
            raise ModelUnavailable(
                f"ray:{spec}: the replicas did not load within {start_timeout_s:.0f} s (no node with "
                f"{num_cpus} free CPUs and {num_gpus} free GPUs?); free resources or lower them"
            ) from None
        except ray.exceptions.RayError as exc:
            self._kill()
            raise ModelUnavailable(f"ray:{spec}: a replica could not start: {exc}") from exc
        info = infos[0]
        self.nodes: list[str] = [i["node"] for i in infos]
        """The Ray node id each replica runs on."""
        self.calls_per_replica = [0] * replicas
        """Calls sent to each replica so far (how the load was spread)."""
        self.name = f"ray:{info['name']}"
        self.supports_tools: bool = info["supports_tools"]
        self.supports_json_schema: bool = info["supports_json_schema"]
        self.spec = spec

    @property
    def replicas(self) -> int:
        """Replicas still alive."""
        return sum(self._alive)

    def _pick(self) -> int:
        alive = [i for i, ok in enumerate(self._alive) if ok]
        if not alive:
            raise ModelUnavailable(f"{self.name}: every replica was lost (nodes down?); reload the model")
        # Least in flight; ties rotate so idle replicas share the first calls.
        start = next(self._turn)
        return min(alive, key=lambda i: (self._in_flight[i], (i - start) % len(self._alive)))

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Answer on the least busy replica; a call whose replica dies runs again on another."""
        args = (
            [m.model_dump() for m in messages],
            tools,
            (config or GenerationConfig()).model_dump(),
            json_mode,
        )
        while True:
            i = self._pick()
            self._in_flight[i] += 1
            self.calls_per_replica[i] += 1
            try:
                return await self._call(self._replicas[i], args, on_token)
            except self._ray.exceptions.RayTaskError as exc:
                raise _cause(exc) from None
            except (self._ray.exceptions.RayActorError, self._ray.exceptions.ObjectLostError):
                self._alive[i] = False  # that replica (or its node) is gone; try the next one
            finally:
                self._in_flight[i] -= 1

    async def _call(self, replica: Any, args: tuple, on_token: TokenCallback | None) -> ChatResponse:
        if on_token is None:
            return ChatResponse.model_validate(await replica.chat.remote(*args))
        last: Any = None
        async for ref in replica.chat_stream.remote(*args):
            last = await ref
            if isinstance(last, str):
                on_token(last)
        return ChatResponse.model_validate(last)

    def _kill(self) -> None:
        for r in self._replicas:
            self._ray.kill(r)

    async def aclose(self) -> None:
        """Close every replica's model and end the actors."""
        alive = [r for r, ok in zip(self._replicas, self._alive, strict=True) if ok]
        await asyncio.gather(*(r.aclose.remote() for r in alive), return_exceptions=True)
        self._kill()
        self._alive = [False] * len(self._alive)


def _check_resources(ray: Any, spec: str, num_cpus: float, num_gpus: float) -> None:
    """Refuse a replica no node could ever hold (Ray would wait for it forever)."""
    for name, need in (("CPU", num_cpus), ("GPU", num_gpus)):
        most = max((n["Resources"].get(name, 0) for n in ray.nodes() if n.get("Alive")), default=0)
        if need > most:
            raise ModelUnavailable(
                f"ray:{spec}: a replica asks for {need:g} {name}s but the largest node has {most:g}; "
                f"lower num_{name.lower()}s or add such a node"
            )


def _cause(exc: Any) -> Exception:
    """The exception a replica raised (Ray wraps it in a `RayTaskError`)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else ModelUnavailable(str(exc))


@register_backend("ray")
def _load(target: str) -> RayChatModel:
    spec, options = ray_options(target)
    return RayChatModel(spec, **options)
