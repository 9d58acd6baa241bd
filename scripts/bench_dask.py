"""Benchmark the Dask backend against the in-memory core, side by side.

Measures, on a LocalCluster of worker processes on 127.0.0.1:

1. seconds per EM iteration (D=8, K=8, full covariances) in memory and on the
   cluster for growing N, from identical initial parameters;
2. the scheduler overhead of one iteration (a tiny array: one block, then many blocks);
3. the throughput of :func:`gmmseg.distributed.map_files` on a dummy per-file task
   (read an image with Pillow, compute its histogram) in process, on 1 and on 2 workers;

then prints the cost model ``T_iter = t_round_trip + n_blocks * t_task + ceil(n_blocks / n_workers) * t_block(rows)``
with the measured constants and what it predicts for 10^9 rows on 100 workers.

Usage::

    python scripts/bench_dask.py            # about 3-5 minutes on 2 cores
    python scripts/bench_dask.py --quick    # smaller N, for a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

D, K = 8, 8


def _initial(rng: np.random.Generator) -> dict:
    return {
        "weights_init": np.full(K, 1.0 / K),
        "means_init": rng.normal(0, 3, (K, D)),
        "precisions_init": np.stack([np.eye(D)] * K),
    }


def _cluster_data(n: int, block_rows: int, seed: int):
    import dask.array as da

    rng = da.random.default_rng(seed)
    labels = rng.integers(0, K, size=(n, 1), chunks=(block_rows, 1))
    return rng.normal(size=(n, D), chunks=(block_rows, D)) + 3.0 * labels


def _per_iteration_memory(X: np.ndarray, init: dict, iterations: int, n_threads: int | None) -> float:
    from threadpoolctl import threadpool_limits

    from gmmseg import GaussianMixture

    # one thread means one core: keep BLAS single-threaded too, as on a Dask worker
    blas = threadpool_limits(1, user_api="blas") if n_threads == 1 else contextlib.nullcontext()
    with warnings.catch_warnings(), blas:
        warnings.simplefilter("ignore")
        model = GaussianMixture(K, tol=0.0, max_iter=iterations, n_threads=n_threads, **init).fit(X)
    return model.fit_seconds_ / model.n_iter_


def _per_iteration_cluster(Xd, init: dict, iterations: int, client) -> tuple[float, float]:
    """Seconds per iteration, and the compute time of the busiest worker's E-step tasks per iteration."""
    from distributed import get_task_stream

    from gmmseg.distributed import fit_mixture

    with warnings.catch_warnings(), get_task_stream(client=client) as stream:
        warnings.simplefilter("ignore")
        model = fit_mixture(Xd, K, tol=0.0, max_iter=iterations, client=client, **init)
    busy: dict[str, float] = {}
    for task in stream.data:
        if "_estep_task" in str(task["key"]):
            seconds = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
            busy[task["worker"]] = busy.get(task["worker"], 0.0) + seconds
    return model.fit_seconds_ / model.n_iter_, max(busy.values()) / model.n_iter_


def _histogram(path: str) -> int:
    """The dummy per-file task: decode an image, return the peak of its luminance histogram."""
    from PIL import Image

    with Image.open(path) as image:
        hist = image.convert("L").histogram()
    return int(np.argmax(hist))


def _make_images(folder: Path, count: int, size: tuple[int, int]) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(count):
        path = folder / f"image{i:03d}.jpg"
        Image.fromarray(np.roll(base, i, axis=1)).save(path, quality=90)
        paths.append(str(path))
    return paths


def _throughput(paths: list[str], client) -> float:
    from gmmseg.distributed import map_files

    started = time.perf_counter()
    outcomes = map_files(_histogram, paths, client=client)
    seconds = time.perf_counter() - started
    assert all(isinstance(o, int) for _, o in outcomes), outcomes[:3]
    return len(paths) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--iterations", type=int, default=3, help="EM iterations timed per size")
    args = parser.parse_args()
    sizes = [100_000, 400_000] if args.quick else [100_000, 1_000_000, 4_000_000]
    n_images = 24 if args.quick else 64

    from gmmseg.distributed import get_client

    rng = np.random.default_rng(0)
    init = _initial(rng)
    rows = []
    print(f"EM per iteration, D={D}, K={K}, full covariances, {args.iterations} iterations timed", flush=True)
    with get_client("local:2") as client:
        n_workers = len(client.scheduler_info()["workers"])
        for n in sizes:
            block_rows = min(500_000, math.ceil(n / 2))
            Xd = _cluster_data(n, block_rows, seed=1).persist()
            distributed_wait(Xd)
            X = Xd.compute()
            t_mem = _per_iteration_memory(X, init, args.iterations, None)
            t_mem1 = _per_iteration_memory(X, init, args.iterations, 1)
            t_cluster, t_busiest = _per_iteration_cluster(Xd, init, args.iterations, client)
            rows.append((n, Xd.numblocks[0], block_rows, t_mem, t_mem1, t_cluster, t_busiest))
            print(f"  N={n:>10,d} done", flush=True)
            del Xd, X
        # scheduler overhead: an iteration on a tiny array, one block and many blocks
        tiny_one = _cluster_data(1_000, 1_000, seed=2).persist()
        tiny_many = _cluster_data(6_400, 100, seed=2).persist()
        distributed_wait(tiny_one)
        distributed_wait(tiny_many)
        t_round_trip = min(_per_iteration_cluster(tiny_one, init, 10, client)[0] for _ in range(2))
        t_many = min(_per_iteration_cluster(tiny_many, init, 10, client)[0] for _ in range(2))
        n_many = tiny_many.numblocks[0]
        t_task = max(0.0, (t_many - t_round_trip) / (n_many - 1))

    with tempfile.TemporaryDirectory() as folder:
        paths = _make_images(Path(folder), n_images, (1024, 768))
        throughput = {"in process": _throughput(paths, None)}
        for workers in (1, 2):
            with get_client(f"local:{workers}") as client:
                _throughput(paths[:4], client)  # warm the workers (imports)
                throughput[f"{workers} worker(s)"] = _throughput(paths, client)

    print()
    print(f"EM iteration time (s), LocalCluster of {n_workers} single-threaded worker processes")
    print(
        f"{'N rows':>12} {'blocks':>6} {'rows/block':>10} {'memory 2 thr':>13} {'memory 1 thr':>13} "
        f"{'cluster':>9} {'cluster/mem':>11} {'busiest worker':>15} {'overhead':>9}"
    )
    for n, blocks, block_rows, t_mem, t_mem1, t_cluster, t_busiest in rows:
        print(
            f"{n:>12,d} {blocks:>6d} {block_rows:>10,d} {t_mem:>13.4f} {t_mem1:>13.4f} "
            f"{t_cluster:>9.4f} {t_cluster / t_mem:>11.2f} {t_busiest:>15.4f} {t_cluster - t_busiest:>9.4f}"
        )
    print("  busiest worker = compute time of the E-step tasks of the most loaded worker (task stream)")
    print("  overhead = cluster - busiest worker: scheduling, tree reduction, round trip, client M-step")
    print()
    print("Scheduler overhead per EM iteration")
    print(f"  round trip, 1 block of 1,000 rows     {t_round_trip * 1e3:8.1f} ms")
    print(f"  {n_many} blocks of 100 rows                {t_many * 1e3:8.1f} ms")
    print(f"  per extra block (task + tree add)     {t_task * 1e3:8.2f} ms")
    print()
    print(f"map_files throughput, {n_images} JPEG images 1024x768, Pillow decode + histogram")
    for name, value in throughput.items():
        print(f"  {name:<14} {value:8.1f} images/s")

    # cost model: T = t_rt + n_blocks * t_task + ceil(n_blocks / n_workers) * rows_per_block * t_row
    n_big, blocks_big, _, _, t_mem1_big, _, busiest_big = rows[-1]
    t_row_memory = t_mem1_big / n_big  # one core in this process
    t_row_worker = busiest_big / (math.ceil(blocks_big / n_workers) * (n_big / blocks_big))  # on a worker, as loaded
    print()
    print(
        "Cost model per iteration: T = t_rt + n_blocks * t_task + ceil(n_blocks / n_workers) * rows_per_block * t_row"
    )
    print(
        f"  measured t_rt = {t_round_trip * 1e3:.1f} ms, t_task = {t_task * 1e3:.2f} ms, "
        f"t_row = {t_row_memory * 1e9:.0f} ns (one core, in process) / {t_row_worker * 1e9:.0f} ns (on a worker)"
    )
    for n, blocks, block_rows, _, _, t_cluster, _ in rows:
        model = t_round_trip + blocks * t_task + math.ceil(blocks / n_workers) * block_rows * t_row_worker
        print(f"  N={n:>10,d}: model {model:.4f} s, measured {t_cluster:.4f} s")
    big_rows, big_workers, block = 10**9, 100, 1_000_000
    n_blocks = big_rows // block
    for label, t_row in (("in-process t_row", t_row_memory), ("worker t_row", t_row_worker)):
        compute = math.ceil(n_blocks / big_workers) * block * t_row
        predicted = t_round_trip + n_blocks * t_task + compute
        print(
            f"  10^9 rows, {big_workers} workers, {n_blocks} blocks of {block:,d} rows, {label}: "
            f"{t_round_trip:.3f} + {n_blocks * t_task:.3f} + {compute:.3f} = {predicted:.2f} s per iteration "
            f"({predicted * 100 / 60:.1f} min for 100 iterations)"
        )


def distributed_wait(collection) -> None:
    from distributed import wait

    wait(collection)


if __name__ == "__main__":
    main()
