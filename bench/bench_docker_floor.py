#!/usr/bin/env python3
"""The Docker engine's own floor: `true` in a container created, started, waited for and removed
through the Docker SDK (Orchard's engine module, its thread pool), n at once, nothing else.

    python bench/bench_docker_floor.py [--sizes 1,8,32] [--image orchard-agent:latest] [--idle-reps 0 --idle 25]

What the docker runner's per-instance cost beyond the local runner (bench_instances.py) can be
compared with: Orchard's part is the difference. Containers have no network, as the runner's
offline containers (`network_disabled`: the engine sets up no network sandbox for them).

`--idle-reps K`: also the engine's first create after `--idle` seconds without a call, K times
with and K times without a container created and removed just before it (what `orchard run`
does as a docker run starts: activities/runners/docker/status.py's warm_up), taking turns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.runners.docker.engine import call, engine, remove_container  # noqa: E402
from activities.runners.docker.status import warm_up  # noqa: E402
from bench.bench_instances import table  # noqa: E402


async def one(image: str, name: str) -> tuple[float, float, float, float]:
    api = (await call(engine)).api
    t0 = time.monotonic()
    created = await call(api.create_container, image, ["true"], name=name, network_disabled=True,
                         host_config=api.create_host_config(network_mode="none", init=True))
    t1 = time.monotonic()
    await call(api.start, created["Id"])
    t2 = time.monotonic()
    await call(api.wait, created["Id"])
    t3 = time.monotonic()
    await remove_container(name)
    return t1 - t0, t2 - t1, t3 - t2, time.monotonic() - t3


async def measure(image: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    marks = await asyncio.gather(*(one(image, f"orchard-floor-{tag}-{i}") for i in range(n)))
    wall = time.monotonic() - started
    create, start, wait, remove = (statistics.median(column) for column in zip(*marks, strict=True))
    return [str(n), f"{wall:.2f}", f"{wall / n:.3f}", f"{create:.3f}", f"{start:.3f}", f"{wait:.3f}", f"{remove:.3f}"]


async def first_create_after_idle(image: str, idle: float, woken: bool) -> float:
    """Seconds the engine takes for a create after `idle` seconds without a call (`woken`: a
    throwaway container created and removed first, as a docker run's start does)."""
    await asyncio.sleep(idle)
    if woken:
        await asyncio.to_thread(warm_up, image)
    api = (await call(engine)).api
    name = f"orchard-floor-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    await call(api.create_container, image, ["true"], name=name, network_disabled=True, host_config=api.create_host_config(network_mode="none"))
    took = time.monotonic() - started
    await remove_container(name)
    return took


async def amain(args: argparse.Namespace) -> None:
    await measure(args.image, 1)  # the engine's first container after a while is slower: not the floor
    rows = [await measure(args.image, n) for n in args.sizes]
    table("The engine's floor: `true` in a container, n at once (seconds; create/start/wait/remove are medians)",
          ["n", "wall", "wall / n", "create", "start", "wait", "remove"], rows)
    if args.idle_reps:
        took: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.idle_reps):
            for woken in (False, True):
                took[woken].append(await first_create_after_idle(args.image, args.idle, woken))
        table(f"The first create after {args.idle:g} s idle (seconds; {args.idle_reps} each, taking turns)", ["", "median", "max", "each"],
              [["as is" if not woken else "woken first", f"{statistics.median(t):.3f}", f"{max(t):.3f}", " ".join(f"{x:.3f}" for x in t)]
               for woken, t in took.items()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,8,32")
    parser.add_argument("--image", default="orchard-agent:latest")
    parser.add_argument("--idle-reps", type=int, default=0)
    parser.add_argument("--idle", type=float, default=25.0)
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
