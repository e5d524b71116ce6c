"""Sandbox throughput: phalanx's warm pool vs `docker exec`, cold `docker run` and llm-sandbox.

Prints ONE JSON line. Every figure is for the trivial program `print(1+1)` on the
same image (phalanx's `default` recipe), measured in this run, sequentially and
with 4 concurrent clients:

  phalanx_exec_per_s   DockerSandbox(pool_size=4): one forked process per execution
  docker_exec_per_s    one `docker exec python3 -c ...` per execution into a warm container
                       (the docker SDK's exec_run, as AutoGen / llm-sandbox / MPLSandbox do)
  docker_run_per_s     a cold `docker run --rm` per execution
  llm_sandbox_per_s    llm-sandbox's SandboxSession.run in one session (it calls `python`,
                       so it runs on the same image plus a python -> python3 symlink)

Usage: python benchmarks/sandbox_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

CODE = "print(1+1)"
CLIENTS = 4


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] * 1000


def summarize(prefix: str, lat: list[float], elapsed: float) -> dict:
    return {
        f"{prefix}_per_s": round(len(lat) / elapsed, 2),
        f"{prefix}_p50_ms": round(pct(lat, 0.5), 2),
        f"{prefix}_p95_ms": round(pct(lat, 0.95), 2),
    }


def bench_threads(call: Callable[[], None], n: int, clients: int) -> tuple[list[float], float]:
    """Run `call` n times over `clients` threads; per-call latencies and total wall time."""
    lat: list[float] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for _ in range(k):
            t = time.perf_counter()
            call()
            d = time.perf_counter() - t
            with lock:
                lat.append(d)

    per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, per))
    return lat, time.perf_counter() - start


async def bench_phalanx(image: str, n: int) -> dict:
    from phalanx.sandbox import ExecRequest, Limits, open_sandbox

    sb = open_sandbox("docker", image=image, pool_size=CLIENTS)
    req = ExecRequest(code=CODE, limits=Limits(timeout_s=10))
    try:
        await sb.warm_up()
        # Let every container come up, then warm each one.
        await asyncio.gather(*(sb.execute(req) for _ in range(CLIENTS * 4)))
        out: dict = {}
        for clients, tag in ((1, "seq"), (CLIENTS, "c4")):
            lat: list[float] = []

            async def client(k: int, lat: list[float] = lat) -> None:
                for _ in range(k):
                    t = time.perf_counter()
                    r = await sb.execute(req)
                    lat.append(time.perf_counter() - t)
                    assert r.stdout == "2\n", r

            start = time.perf_counter()
            await asyncio.gather(*(client(n // clients) for _ in range(clients)))
            out.update(summarize(f"phalanx_{tag}", lat, time.perf_counter() - start))
        return out
    finally:
        await sb.aclose()


def bench_docker_exec(client, image_ref: str, n: int) -> dict:
    containers = [
        client.containers.run(
            image_ref,
            ["sleep", "infinity"],
            detach=True,
            network_mode="none",
            labels={"phalanx.sandbox": "bench"},
        )
        for _ in range(CLIENTS)
    ]
    try:
        out: dict = {}
        for clients, tag in ((1, "seq"), (CLIENTS, "c4")):
            slots = iter(range(10**9))
            local = threading.local()

            def call(local=local, slots=slots) -> None:
                if not hasattr(local, "c"):
                    local.c = containers[next(slots) % len(containers)]
                res = local.c.exec_run(["python3", "-c", CODE])
                assert res.output == b"2\n", res

            call()
            lat, el = bench_threads(call, n, clients)
            out.update(summarize(f"docker_exec_{tag}", lat, el))
        return out
    finally:
        for c in containers:
            c.remove(force=True)


def bench_docker_run(client, image_ref: str, n: int) -> dict:
    def call() -> None:
        out = client.containers.run(image_ref, ["python3", "-c", CODE], remove=True, network_mode="none")
        assert out == b"2\n", out

    out: dict = {}
    for clients, tag in ((1, "seq"), (CLIENTS, "c4")):
        lat, el = bench_threads(call, n, clients)
        out.update(summarize(f"docker_run_{tag}", lat, el))
    return out


def bench_llm_sandbox(client, image_ref: str, n: int) -> dict:
    """llm-sandbox on our image (+ `python` symlink, which it invokes); null with a reason on failure."""
    try:
        from llm_sandbox import SandboxSession
    except Exception as exc:  # not installed
        return {"llm_sandbox_per_s": None, "llm_sandbox_note": f"llm-sandbox unavailable: {exc}"}
    tag = "phalanx-bench-llm-sandbox:" + image_ref.split(":")[-1]
    try:
        client.images.get(tag)
    except Exception:
        c = client.containers.run(
            image_ref,
            ["ln", "-s", "/usr/bin/python3", "/usr/local/bin/python"],
            detach=True,
            network_mode="none",
        )
        c.wait()
        c.commit(*tag.split(":"))
        c.remove(force=True)
    try:
        out: dict = {}
        with SandboxSession(
            lang="python",
            image=tag,
            client=client,
            keep_template=True,
            skip_environment_setup=True,
            # The image's default command (python3) would exit at once; keep the session's container up.
            runtime_configs={
                "network_mode": "none",
                "labels": {"phalanx.sandbox": "bench"},
                "command": ["sleep", "infinity"],
            },
        ) as session:
            r = session.run(CODE)
            if r.stdout.strip() != "2":
                return {"llm_sandbox_per_s": None, "llm_sandbox_note": f"unexpected output {r.stdout!r}"}
            lat: list[float] = []
            start = time.perf_counter()
            for _ in range(n):
                t = time.perf_counter()
                session.run(CODE)
                lat.append(time.perf_counter() - t)
            out.update(summarize("llm_sandbox_seq", lat, time.perf_counter() - start))
        out["llm_sandbox_note"] = "one SandboxSession, sequential (a session is not shared across threads)"
        return out
    except Exception as exc:
        return {
            "llm_sandbox_per_s": None,
            "llm_sandbox_note": f"llm-sandbox failed offline: {type(exc).__name__}: {exc}"[:300],
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="default")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = ap.parse_args()
    n_ph, n_ex, n_run, n_llm = (40, 8, 4, 4) if args.quick else (400, 60, 12, 30)

    from phalanx.sandbox.docker.client import connect
    from phalanx.sandbox.docker.image import resolve_image

    client = connect(pool_connections=32)
    image_ref = resolve_image(client, args.image)
    res: dict = {"benchmark": "sandbox_throughput", "program": CODE, "image": image_ref, "clients": CLIENTS}
    res.update(asyncio.run(bench_phalanx(args.image, n_ph)))
    res.update(bench_docker_exec(client, image_ref, n_ex))
    res.update(bench_docker_run(client, image_ref, n_run))
    res.update(bench_llm_sandbox(client, image_ref, n_llm))

    res["phalanx_exec_per_s"] = res["phalanx_seq_per_s"]
    res["docker_exec_per_s"] = res["docker_exec_seq_per_s"]
    res["docker_run_per_s"] = res["docker_run_seq_per_s"]
    res.setdefault("llm_sandbox_per_s", res.get("llm_sandbox_seq_per_s"))
    res["p50_ms"] = res["phalanx_seq_p50_ms"]
    res["p95_ms"] = res["phalanx_seq_p95_ms"]
    res["speedup_vs_docker_exec"] = round(res["phalanx_seq_per_s"] / res["docker_exec_seq_per_s"], 2)
    res["speedup_vs_docker_exec_c4"] = round(res["phalanx_c4_per_s"] / res["docker_exec_c4_per_s"], 2)
    if res.get("llm_sandbox_per_s"):
        res["speedup_vs_llm_sandbox"] = round(res["phalanx_seq_per_s"] / res["llm_sandbox_per_s"], 2)
    res["targets"] = {
        "speedup_vs_docker_exec>=20": res["speedup_vs_docker_exec"] >= 20,
        "p50_ms<=5": res["p50_ms"] <= 5,
    }
    res["load_avg_1m"] = round(__import__("os").getloadavg()[0], 2)
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
