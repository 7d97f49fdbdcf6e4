#!/usr/bin/python3
"""PyTorch CPU throughput of M1 for the shapes eqinfo uses (the baseline for
eqinfo's C++ inference).

(a) batched whole-window forward: W windows of T positions each (default
    T=16, W=64: EqualInfoAC windows; and T=1024, W=4: plain-AC blocks).
    bytes/s = positions/s = W*T / time.
(b) incremental generation with the KV cache, one byte per step, for batch 1
    and batch 64, sequences of --gen-lengths bytes from BOS (default 16 and
    256; cache reset per sequence; a run is whole sequences).
    bytes/s = batch * length / time.

FLOP count (reported as GFLOP/s of useful work, multiply-add = 2 FLOPs), per
position that attends over P positions (itself included):
    2 * N_matmul + layers * 4 * heads * head_dim * P
with N_matmul = layers * (4 * d_model * heads * head_dim + 2 * d_model * d_ff)
+ 256 * d_model (q, k, v, o, w1, w2 and lm_head weights; the embedding is a
lookup and norms/rel_bias are negligible), and 4 * heads * head_dim * P for
q.k and p.v. For a causal window of T positions the mean P is (T + 1) / 2, so
per position: 2 * N_matmul + layers * 4 * heads * head_dim * (T + 1) / 2. The
dense forward actually computes the full T x T scores and masks them, so the
hardware does somewhat more than is counted.

Each figure is the median of 5 runs of >= --seconds each, after a warm-up,
under torch.inference_mode().

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_m1.py --threads 1 --json out.json
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))

from eqinfo_m1 import BOS, M1, M1Config  # noqa: E402


def flops_per_position(c: M1Config, attended: float) -> float:
    a = c.heads * c.head_dim
    n_matmul = c.layers * (4 * c.d_model * a + 2 * c.d_model * c.d_ff) + 256 * c.d_model
    return 2.0 * n_matmul + c.layers * 4.0 * a * attended


def measure(fn, units: int, seconds: float, runs: int, sync, warmup=None) -> float:
    """Median over `runs` of units * calls / elapsed, each run >= seconds (and >= 1 call)."""
    warmup = warmup or fn
    t0 = time.perf_counter()
    for i in range(1000):  # warm-up: >= 2 calls and ~seconds/2
        warmup()
        sync()
        if i >= 1 and time.perf_counter() - t0 > seconds / 2:
            break
    rates = []
    for _ in range(runs):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            sync()
            calls += 1
            el = time.perf_counter() - start
            if el >= seconds:
                break
        rates.append(units * calls / el)
    return statistics.median(rates)


def main(argv=None):
    d = M1Config()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=d.layers)
    ap.add_argument("--d-model", type=int, default=d.d_model)
    ap.add_argument("--heads", type=int, default=d.heads)
    ap.add_argument("--head-dim", type=int, default=d.head_dim)
    ap.add_argument("--d-ff", type=int, default=d.d_ff)
    ap.add_argument("--context", type=int, default=d.context)
    ap.add_argument("--windows", default="16x64,1024x4", help="forward shapes TxW, comma-separated")
    ap.add_argument("--gen-batches", default="1,64")
    ap.add_argument("--gen-lengths", default="16,256",
                    help="bytes per generated sequence from BOS (default 16,256; 1024 at batch 64 takes "
                         "~35 s per pass on one core)")
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum seconds per run (5 runs per figure)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    c = M1Config(layers=a.layers, d_model=a.d_model, heads=a.heads, head_dim=a.head_dim, d_ff=a.d_ff,
                 context=a.context)
    model = M1(c, seed=1).to(dev).eval()
    g = torch.Generator().manual_seed(2)
    results = {"config": c.to_dict(), "threads": a.threads, "device": a.device, "torch": torch.__version__,
               "machine": platform.machine(), "seconds": a.seconds, "runs": a.runs,
               "forward": [], "incremental": []}
    print(f"M1 {json.dumps(c.to_dict(), separators=(',', ':'))}  threads={a.threads}  torch {torch.__version__}")

    with torch.inference_mode():
        for shape in a.windows.split(","):
            T, W = (int(v) for v in shape.split("x"))
            if T > c.context:
                print(f"skip T={T}: exceeds context {c.context}")
                continue
            x = torch.randint(0, 256, (W, T), generator=g).to(dev)
            x[:, 0] = BOS
            rate = measure(lambda: model(x), W * T, a.seconds, a.runs, sync)
            gf = rate * flops_per_position(c, (T + 1) / 2) / 1e9
            results["forward"].append({"T": T, "W": W, "bytes_per_s": rate, "gflops": gf})
            print(f"forward     T={T:5d} W={W:3d}   {rate:12.0f} bytes/s   {gf:7.2f} GFLOP/s")

        for L in (int(v) for v in a.gen_lengths.split(",")):
            L = min(L, c.context)
            for B in (int(v) for v in a.gen_batches.split(",")):
                seq = torch.randint(0, 256, (B, L), generator=g).to(dev)
                seq[:, 0] = BOS

                def gen(n=L):
                    cache = model.init_cache(B, capacity=L)
                    for t in range(n):
                        model.step(seq[:, t:t + 1], cache)

                rate = measure(gen, B * L, a.seconds, a.runs, sync, warmup=lambda: gen(min(L, 16)))
                gf = rate * flops_per_position(c, (L + 1) / 2) / 1e9
                results["incremental"].append({"length": L, "batch": B, "bytes_per_s": rate, "gflops": gf})
                print(f"incremental L={L:5d} B={B:3d}   {rate:12.0f} bytes/s   {gf:7.2f} GFLOP/s")

    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
