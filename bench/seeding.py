"""Benchmark: each patient's seed sequence, NumPy's object per patient against one vectorised pass.

Run ``python bench/seeding.py [--n-patients 10000] [--n-words 30]``. A
population draws patient ``i``'s deviates from
``SeedSequence(seed, spawn_key=(i,)).generate_state``;
:func:`mscsim.population.seeds.spawned_states` computes the same bits for all
patients at once. Both run here on the same ids, with a plain loop of
Python-integer arithmetic as the hand-written baseline; the script checks the
bits agree and prints the times. Not a test: it measures and prints.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from mscsim.population.seeds import spawned_states

SEED = 1


def numpy_objects(ids: np.ndarray, n_words: int) -> np.ndarray:
    """The library: one ``SeedSequence`` per patient."""
    return np.array(
        [
            np.random.SeedSequence(SEED, spawn_key=(int(i),)).generate_state(n_words, np.uint64)
            for i in ids
        ]
    )


def plain_loop(ids: np.ndarray, n_words: int) -> np.ndarray:
    """The hand-written baseline: the same hashing in Python integers, patient by patient."""
    mask = 0xFFFFFFFF

    def hashed(value: int, const: int, mult: int) -> tuple[int, int]:
        value ^= const
        const = (const * mult) & mask
        value = (value * const) & mask
        return value ^ (value >> 16), const

    def mixed(x: int, y: int) -> int:
        r = (0xCA01F9DD * x - 0x4973F715 * y) & mask
        return r ^ (r >> 16)

    out = np.empty((ids.size, n_words), dtype=np.uint64)
    for row, pid in enumerate(ids.tolist()):
        entropy = [SEED, 0, 0, 0, pid & mask] + ([pid >> 32] if pid >> 32 else [])
        const = 0x43B0D7E5
        pool = []
        for i in range(4):
            v, const = hashed(entropy[i], const, 0x931E8875)
            pool.append(v)
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    v, const = hashed(pool[src], const, 0x931E8875)
                    pool[dst] = mixed(pool[dst], v)
        for src in range(4, len(entropy)):
            for dst in range(4):
                v, const = hashed(entropy[src], const, 0x931E8875)
                pool[dst] = mixed(pool[dst], v)
        const = 0x8B51F9DD
        halves = []
        for i in range(2 * n_words):
            v, const = hashed(pool[i % 4], const, 0x58F38DED)
            halves.append(v)
        out[row] = [lo | (hi << 32) for lo, hi in zip(halves[0::2], halves[1::2], strict=True)]
    return out


def timed(function: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--n-words", type=int, default=30)
    args = parser.parse_args()
    ids = np.arange(args.n_patients, dtype=np.int64)
    runs = {
        "numpy SeedSequence per patient": lambda: numpy_objects(ids, args.n_words),
        "plain Python loop": lambda: plain_loop(ids, args.n_words),
        "mscsim spawned_states": lambda: spawned_states(SEED, ids, args.n_words),
    }
    times, results = {}, {}
    for name, run in runs.items():
        times[name], results[name] = timed(run)
    reference = results["numpy SeedSequence per patient"]
    same = all(np.array_equal(r, reference) for r in results.values())
    print(
        f"seed sequences of {args.n_patients} patients, {args.n_words} words each "
        f"(bits {'agree' if same else 'DIFFER'}):"
    )
    fastest = times["mscsim spawned_states"]
    for name, seconds in times.items():
        print(f"  {name:32s} {seconds * 1e3:8.1f} ms  ({seconds / fastest:5.1f}x mscsim)")
    raise SystemExit(0 if same else 1)


if __name__ == "__main__":
    main()
