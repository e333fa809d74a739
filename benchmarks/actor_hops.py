"""What a message pays to cross four components, live and in replay.

    uv run python benchmarks/actor_hops.py [--rounds N] [--replay-messages N]

Live: one message goes venue → algo → router → risk (each forwarding with ``ctx.send``); the last
puts it on a ``SimpleQueue`` the driver waits on. One message at a time, timed with
``perf_counter_ns`` from ``send`` to its return to the driver; ~20k after a warm-up. Beside it, in
the same process and interleaved block by block, two references run the same hand-offs:

* raw floor: 4 plain threads passing the message through ``queue.SimpleQueue``s;
* pykka default: 4 ``pykka.ThreadingActor``s with pykka's own ``queue.Queue`` inbox.

Replay: the same 4-component chain on ``ReplayRuntime`` with trivial handlers; N messages of a
non-journaled type are sent to the first, then ``run()``; deliveries per second of ``run()``.

Goals: live p50 ≤ 1.3 × raw floor p50; replay ≥ 1,000,000 deliveries/s.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, ClassVar

import pykka

from node.component import Component
from node.messages import Message
from node.runtime.live import LiveRuntime
from node.runtime.replay import ReplayRuntime

CHAIN = ("venue", "algo", "router", "risk")


class Probe(Message, frozen=True, kw_only=True):
    """A benchmark-only message: not journaled, like market data."""

    journaled: ClassVar[bool] = False
    n: int = 0


# --------------------------------------------------------------------------------------------
# Live runtime


class Forward(Component):
    def __init__(self, name: str, next_address: str) -> None:
        super().__init__(name)
        self.next_address = next_address

    def on_message(self, message: Message) -> None:
        self.ctx.send(self.next_address, message)


class Exit(Component):
    """The last hop: hands the message back to the driver thread."""

    def __init__(self, name: str, out: queue.SimpleQueue[Any]) -> None:
        super().__init__(name)
        self.out = out

    def on_message(self, message: Message) -> None:
        self.out.put(message)


class Chain:
    name = ""

    def round_trip(self, message: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LiveChain(Chain):
    name = "tradenode live"

    def __init__(self) -> None:
        self.out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.rt = LiveRuntime()
        for here, there in itertools.pairwise(CHAIN):
            self.rt.add(Forward(here, there))
        self.rt.add(Exit(CHAIN[-1], self.out))
        self.rt.start([])
        self._send = self.rt.send
        self._get = self.out.get

    def round_trip(self, message: Any) -> None:
        self._send("venue", message)
        self._get()

    def close(self) -> None:
        self.rt.stop()


class RawChain(Chain):
    name = "raw threads + SimpleQueue"

    def __init__(self) -> None:
        self.queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(5)]
        self.threads = [
            threading.Thread(
                target=self._hop, args=(self.queues[i], self.queues[i + 1]), daemon=True
            )
            for i in range(4)
        ]
        for t in self.threads:
            t.start()
        self._put = self.queues[0].put
        self._get = self.queues[-1].get

    @staticmethod
    def _hop(inbox: queue.SimpleQueue[Any], outbox: queue.SimpleQueue[Any]) -> None:
        get, put = inbox.get, outbox.put
        while True:
            message = get()
            if message is None:
                put(None)
                return
            put(message)

    def round_trip(self, message: Any) -> None:
        self._put(message)
        self._get()

    def close(self) -> None:
        self._put(None)
        self._get()
        for t in self.threads:
            t.join()


class PykkaHop(pykka.ThreadingActor):
    """Plain pykka: default ``queue.Queue`` inbox, ``tell`` to the next actor."""

    def __init__(self, forward: Callable[[Any], None]) -> None:
        super().__init__()
        self.forward = forward

    def on_receive(self, message: Any) -> None:
        self.forward(message)


class PykkaChain(Chain):
    name = "pykka default (queue.Queue)"

    def __init__(self) -> None:
        self.out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        forward: Callable[[Any], None] = self.out.put
        self.refs = []
        for _ in CHAIN:
            ref = PykkaHop.start(forward)
            self.refs.append(ref)
            forward = ref.tell
        self._first = self.refs[-1].tell  # the last started is the first hop
        self._get = self.out.get

    def round_trip(self, message: Any) -> None:
        self._first(message)
        self._get()

    def close(self) -> None:
        for ref in self.refs:
            ref.stop()


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def bench_live(rounds: int, per_round: int, warmup: int) -> dict[str, dict[str, float]]:
    chains: list[Chain] = [RawChain(), PykkaChain(), LiveChain()]
    samples: dict[str, list[int]] = {c.name: [] for c in chains}
    message = Probe(n=1)
    clock = time.perf_counter_ns
    try:
        for chain in chains:
            for _ in range(warmup):
                chain.round_trip(message)
        for _ in range(rounds):  # interleaved blocks: drift hits all three alike
            for chain in chains:
                out = samples[chain.name]
                trip = chain.round_trip
                for _ in range(per_round):
                    t0 = clock()
                    trip(message)
                    out.append(clock() - t0)
    finally:
        for chain in chains:
            chain.close()
    result = {}
    for name, ns in samples.items():
        ns.sort()
        result[name] = {
            "n": len(ns),
            "p50": percentile(ns, 0.50),
            "p99": percentile(ns, 0.99),
            "mean": statistics.fmean(ns) / 1000,
        }
    return result


# --------------------------------------------------------------------------------------------
# Replay runtime


class Sink(Component):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.count = 0

    def on_message(self, message: Message) -> None:
        self.count += 1


def bench_replay(messages: int, repeats: int) -> dict[str, float]:
    """Deliveries per second of ``run()``: by the wall clock, and by this thread's CPU time
    (the latter is what the code costs, less what other processes on the machine took)."""
    wall_rates, cpu_rates = [], []
    for _ in range(repeats):
        rt = ReplayRuntime()
        for here, there in itertools.pairwise(CHAIN):
            rt.add(Forward(here, there))
        sink = Sink(CHAIN[-1])
        rt.add(sink)
        rt.start([])
        probe = Probe(n=1)
        send = rt.send
        for _ in range(messages):
            send("venue", probe)
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        delivered = rt.run()
        wall, cpu = time.perf_counter_ns() - w0, time.thread_time_ns() - c0
        assert delivered == 4 * messages and sink.count == messages, (delivered, sink.count)
        wall_rates.append(delivered / (wall / 1e9))
        cpu_rates.append(delivered / (cpu / 1e9))
    return {
        "deliveries": 4 * messages,
        "wall_median": statistics.median(wall_rates),
        "wall_best": max(wall_rates),
        "cpu_median": statistics.median(cpu_rates),
    }


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"CPython {platform.python_version()}, pykka {version('pykka')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved blocks (live)")
    parser.add_argument("--per-round", type=int, default=2000, help="round trips per block")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--replay-messages", type=int, default=200_000)
    parser.add_argument("--replay-repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    gc.collect()
    live = bench_live(args.rounds, args.per_round, args.warmup)
    print(f"\nlive: one message through 4 hops, {args.rounds * args.per_round} round trips each")
    print(f"  {'':30} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    for name, r in live.items():
        print(f"  {name:30} {r['p50']:8.1f} {r['p99']:8.1f} {r['mean']:8.1f}")
    raw = live[RawChain.name]
    ours = live[LiveChain.name]
    ratio50, ratio99 = ours["p50"] / raw["p50"], ours["p99"] / raw["p99"]
    verdict = "meets" if ratio50 <= 1.3 else "MISSES"
    print(f"  live/raw: p50 {ratio50:.2f}x, p99 {ratio99:.2f}x ({verdict} the 1.3x p50 goal)")

    replay = bench_replay(args.replay_messages, args.replay_repeats)
    verdict = "meets" if replay["wall_median"] >= 1_000_000 else "MISSES"
    print(
        f"\nreplay: {args.replay_messages} messages x 4 hops = {replay['deliveries']} deliveries,"
        f" {args.replay_repeats} runs:\n"
        f"  wall clock: median {replay['wall_median'] / 1e6:.2f} M/s, best "
        f"{replay['wall_best'] / 1e6:.2f} M/s ({verdict} the 1 M/s goal)\n"
        f"  thread CPU time: median {replay['cpu_median'] / 1e6:.2f} M/s"
    )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
