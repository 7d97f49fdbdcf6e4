"""The M2 experiment's report (experiment.py is the command, experiment_run.py the run): the
table against the paper's, the findings computed from the numbers, the plots, the samples."""

from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from training.common import REPO
from training.m2.experiment_common import (fmt_hms, fmt_si, machine_info, parse_method, read_json, read_jsonl,
                                           rel)
from training.m2.shards import EXAMPLE_BYTES

# "stays at the uniform baseline" / "learns": bits/byte at least this fraction below it
LEARN_MARGIN = 0.02


# --------------------------------------------------------------------------- the paper's numbers
# ../shared/docs/method.md: Table 12 (bytes/token), Table 3 (uniform bits/byte), Table 15
# (M2 bits/byte at 25m / 113m / 403m / 2b, FLOPs/byte where the paper gives it).

PAPER_SIZES = ("25m", "113m", "403m", "2b")
PAPER_25M_PARAMS = 25.2e6    # non-embedding, gated MLP (the paper's size names count it so; model.py)
PAPER = {
    "bytes": dict(bpt=1.0, uniform=8.000, bpb=(1.29, 1.16, 1.08, 1.03), flops={"25m": 50e6, "2b": 4.0e9}),
    "spm": dict(bpt=4.28, uniform=3.497, bpb=(1.12, 1.01, 0.94, 0.87), flops={"25m": 11.7e6, "2b": 935e6}),
    "ac256": dict(bpt=5.49, uniform=1.457, bpb=(1.46, 1.46, 1.46, 1.46)),
    "ac65k": dict(bpt=10.98, uniform=1.457),
    "staticac256": dict(bpt=1.73, uniform=4.624, bpb=(4.61, 4.61, 4.61, 4.61)),
    "staticac65k": dict(bpt=3.46, uniform=4.624),
    "gzip256": dict(bpt=2.23, uniform=3.587, bpb=(2.34, 1.93, 1.69, 1.56)),
    "gzip65k": dict(bpt=4.47, uniform=3.587),
    "eq16_256": dict(bpt=2.66, uniform=3.008, bpb=(1.47, 1.23, 1.09, 0.99), flops={"25m": 24.8e6, "2b": 1.51e9}),
    "eq16_65k": dict(bpt=5.31, uniform=3.008, bpb=(1.25, 1.12, 1.02, 0.94), flops={"25m": 15.4e6, "2b": 759e6}),
    "eq32_256": dict(bpt=3.49, uniform=2.292), "eq32_65k": dict(bpt=6.97, uniform=2.292),
    "eq64_256": dict(bpt=4.16, uniform=1.923), "eq64_65k": dict(bpt=8.33, uniform=1.923),
    "eq128_256": dict(bpt=4.61, uniform=1.735), "eq128_65k": dict(bpt=9.22, uniform=1.735),
}


# --------------------------------------------------------------------------- report

def aggregate(results: List[dict]) -> Dict[Tuple[str, str], dict]:
    """(method, size) -> mean/std of bits/byte over seeds and the run's other numbers."""
    groups: Dict[Tuple[str, str], List[dict]] = {}
    for r in results:
        groups.setdefault((r["method"], r["size"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        bpb = np.array([r["eval"]["bits_per_byte"] for r in rs], dtype=float)
        e0 = rs[0]["eval"]
        out[k] = {"runs": rs, "seeds": [r["seed"] for r in rs], "n": len(rs), "mean": float(bpb.mean()),
                  "std": float(bpb.std(ddof=1)) if len(rs) > 1 else None,
                  "uniform": e0.get("uniform_bits_per_byte"), "flops": e0.get("flops_per_byte"),
                  "flops_m2": e0.get("flops_per_byte_m2"), "bpt": e0.get("bytes_per_token"),
                  "m2_params": e0.get("m2_non_embedding_parameters"), "tokens": rs[0]["tokens_seen"],
                  "bytes_seen": rs[0].get("bytes_seen_est"), "epochs": rs[0].get("epochs"),
                  "acc_pos": [np.mean([r["eval"]["accuracy_by_window_position"][i] for r in rs])
                              for i in range(len(e0.get("accuracy_by_window_position") or []))],
                  "finite": bool(np.isfinite(bpb).all())}
    return out


def interp_log(xs: List[float], ys: List[float], x: float) -> float:
    """Piecewise linear in log x through the points, constant beyond the ends."""
    pts = sorted(zip(xs, ys))
    if x <= pts[0][0]:
        return pts[0][1]
    if x >= pts[-1][0]:
        return pts[-1][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0)) if x1 > x0 else 0.0
            return y0 + t * (y1 - y0)
    return pts[-1][1]


def findings(agg: Dict[Tuple[str, str], dict], sizes: List[str]) -> List[str]:
    """One line per claim of the paper, true/false from our numbers (or n/a)."""
    lines = []

    def g(m, s):
        return agg.get((m, s))

    def num(m, s):
        a = g(m, s)
        return f"{a['mean']:.3f}" if a else "–"

    def pp(m, i=0):
        p = PAPER.get(m, {}).get("bpb")
        return f"{p[i]:.2f}" if p else "–"

    def verdict(ok: Optional[bool]) -> str:
        return "n/a" if ok is None else ("**true**" if ok else "**false**")

    def below(a) -> float:
        return 1.0 - a["mean"] / a["uniform"]

    def vs_uniform(a) -> str:
        x = 100 * below(a)
        return f"{x:.2f}% below" if x >= 0 else f"{-x:.2f}% above"

    have_sizes = lambda m: [s for s in sizes if g(m, s)]  # noqa: E731
    # 1, 2: AC and StaticAC stay at their uniform baseline
    for m in ("ac256", "staticac256", "ac65k", "staticac65k"):
        ss = have_sizes(m)
        if not ss:
            continue
        ok = all(below(g(m, s)) < LEARN_MARGIN for s in ss)
        detail = "; ".join(f"{s}: {g(m, s)['mean']:.3f} vs uniform {g(m, s)['uniform']:.3f} "
                           f"({vs_uniform(g(m, s))})" for s in ss)
        pu = PAPER[m]["uniform"]
        lines.append(f"{verdict(ok)}: {parse_method(m).label} stays at its uniform baseline (less than "
                     f"{100 * LEARN_MARGIN:.0f}% below it) at every size — {detail}. Paper: {pp(m)} vs {pu:.3f} "
                     f"at 25m "
                     f"to 2b.")
    # 3: EqualInfoAC[b=16, v=256] learns below its uniform baseline and improves with size
    m = "eq16_256"
    ss = have_sizes(m)
    if ss:
        ok = all(below(g(m, s)) >= LEARN_MARGIN for s in ss)
        detail = "; ".join(f"{s}: {g(m, s)['mean']:.3f} vs uniform {g(m, s)['uniform']:.3f} "
                           f"({vs_uniform(g(m, s))})" for s in ss)
        lines.append(f"{verdict(ok)}: EqualInfoAC[b=16, v=256] learns: at least {100 * LEARN_MARGIN:.0f}% below its "
                     f"uniform baseline at every size — {detail}. Paper: 1.47 (25m) vs 3.008.")
        if len(ss) > 1:
            means = [g(m, s)["mean"] for s in ss]
            ok = all(b < a for a, b in zip(means, means[1:]))
            lines.append(f"{verdict(ok)}: EqualInfoAC[b=16, v=256] improves with size — "
                         + " → ".join(f"{s} {x:.3f}" for s, x in zip(ss, means))
                         + ". Paper: 1.47 → 1.23 → 1.09 → "
                         "0.99 (25m → 2b).")
        else:
            lines.append("n/a: EqualInfoAC[b=16, v=256] improves with size (one size only).")
    # 4: GZip learns but is worse than Bytes, SentencePiece and EqualInfoAC[b=16]
    m = "gzip256"
    ss = have_sizes(m)
    if ss:
        learns = all(below(g(m, s)) >= LEARN_MARGIN for s in ss)
        others = [o for o in ("bytes", "spm", "eq16_256") if any(g(o, s) for s in ss)]
        worse = all(g(m, s)["mean"] > g(o, s)["mean"] for s in ss for o in others if g(o, s))
        detail = "; ".join(f"{s}: GZip {g(m, s)['mean']:.3f} (uniform {g(m, s)['uniform']:.3f}), "
                           + ", ".join(f"{parse_method(o).label} {num(o, s)}" for o in others) for s in ss)
        lines.append(f"{verdict(learns and worse)}: GZip[v=256] learns (at least {100 * LEARN_MARGIN:.0f}% below its "
                     f"uniform baseline: {'yes' if learns else 'no'}) but is worse than "
                     f"{', '.join(parse_method(o).label for o in others) or '–'} ({'yes' if worse else 'no'}) — "
                     f"{detail}. Paper (25m): GZip {pp('gzip256')} vs Bytes {pp('bytes')}, SentencePiece {pp('spm')}, "
                     f"EqualInfoAC[b=16, v=256] {pp('eq16_256')}.")
    # 5: SentencePiece is best per parameter (lowest bits/byte at every size)
    if have_sizes("spm"):
        oks = []
        for s in have_sizes("spm"):
            best = min((a["mean"], k[0]) for k, a in agg.items() if k[1] == s)
            oks.append(best[1] == "spm")
        parts = []
        for s in have_sizes("spm"):
            oth = [(a["mean"], k[0]) for k, a in agg.items() if k[1] == s and k[0] != "spm"]
            if oth:
                b, bm = min(oth)
                parts.append(f"{s}: SentencePiece {num('spm', s)}, best other {parse_method(bm).label} {b:.3f}")
        lines.append(f"{verdict(all(oks))}: SentencePiece has the lowest bits/byte at every model size (best per "
                     f"non-embedding parameter, as the paper counts them) — {'; '.join(parts)}. Paper (25m): "
                     f"1.12, next EqualInfoAC[b=16, v=65k] 1.25.")
    # 6: EqualInfoAC[b=16, v=65k] beats Bytes per FLOP
    if have_sizes("eq16_65k") and have_sizes("bytes"):
        bx = [g("bytes", s)["flops"] for s in have_sizes("bytes")]
        by = [g("bytes", s)["mean"] for s in have_sizes("bytes")]
        bx2 = [g("bytes", s)["flops_m2"] for s in have_sizes("bytes")]
        parts, oks, oks2 = [], [], []
        for s in have_sizes("eq16_65k"):
            a = g("eq16_65k", s)
            if a["flops"] is None:
                continue
            ref = interp_log(bx, by, a["flops"])
            ref2 = interp_log(bx2, by, a["flops_m2"])
            oks.append(a["mean"] < ref)
            oks2.append(a["mean"] < ref2)
            parts.append(f"{s}: {a['mean']:.3f} at {fmt_si(a['flops'])} FLOPs/byte vs Bytes {ref:.3f} at the same "
                         f"FLOPs/byte (M2 alone: {fmt_si(a['flops_m2'])}, Bytes {ref2:.3f})")
        if oks:
            lines.append(f"{verdict(all(oks))}: EqualInfoAC[b=16, v=65k] beats Bytes per FLOP (lower bits/byte than "
                         f"the Bytes curve at the same FLOPs/byte, M1 included; the Bytes curve is piecewise linear in "
                         f"log FLOPs between its sizes and flat beyond them) — {'; '.join(parts)}; counting M2's "
                         f"FLOPs "
                         f"only: **{'true' if all(oks2) else 'false'}**. Paper: 1.25 at 15.4M vs Bytes 1.29 at 50M "
                         f"(25m).")
    # 7: Fig. 10: the first token of a window is predicted best
    for m in [k for k in sorted({k[0] for k in agg}) if k.startswith("eq")]:
        ss = [s for s in have_sizes(m) if len(g(m, s)["acc_pos"]) > 1]
        if not ss:
            continue
        ok = all(g(m, s)["acc_pos"][0] > max(g(m, s)["acc_pos"][1:]) for s in ss)
        detail = "; ".join(f"{s}: " + " / ".join(f"{x:.3f}" for x in g(m, s)["acc_pos"]) for s in ss)
        lines.append(f"{verdict(ok)}: {parse_method(m).label}: the first token of a window is predicted more "
                     f"accurately than the later ones (accuracy by window position, final evaluation) — {detail}. "
                     f"Paper (Fig. 8/10): learning proceeds left to right within a window.")
    return lines


def make_plots(agg, results, cfg_rec: dict, plot_dir: str, logs: Dict[str, List[dict]]) -> Dict[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(plot_dir, exist_ok=True)
    files = {}
    methods = list(dict.fromkeys(r["method"] for r in results))
    sizes = cfg_rec["sizes"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    col = {m: colors[i % len(colors)] for i, m in enumerate(methods)}

    # Fig. 3: bits/byte vs FLOPs/byte
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for m in methods:
        pts = [(agg[(m, s)]["flops"], agg[(m, s)]["mean"], agg[(m, s)]["std"] or 0.0, agg[(m, s)]["uniform"])
               for s in sizes if (m, s) in agg and agg[(m, s)]["flops"]]
        if not pts:
            continue
        x, y, e, u = zip(*pts)
        ax.errorbar(x, y, yerr=e, marker="o", color=col[m], label=parse_method(m).label, capsize=3)
        ax.plot(x, u, linestyle=":", marker="x", color=col[m], alpha=0.6)
        p = PAPER.get(m, {})
        if p.get("flops"):
            px = [p["flops"][s] for s in PAPER_SIZES if s in p["flops"]]
            py = [p["bpb"][PAPER_SIZES.index(s)] for s in PAPER_SIZES if s in p["flops"]]
            ax.plot(px, py, linestyle="--", marker="o", mfc="none", color=col[m], alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs/byte (M2, plus M1 for AC and EqualInfoAC)")
    ax.set_ylabel("bits/byte (eval)")
    ax.set_title("M2 bits/byte vs FLOPs/byte (Fig. 3 style)\nfilled: ours (sizes " + ", ".join(sizes)
                 + "); x/dotted: uniform baseline; hollow/dashed: paper 25m and 2b", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    files["fig3"] = os.path.join(plot_dir, "bpb_vs_flops.png")
    fig.savefig(files["fig3"], dpi=110)
    plt.close(fig)

    # Fig. 10: accuracy by window position over training
    eq = [m for m in methods if parse_method(m).family == "eq" and parse_method(m).window_bits
          // parse_method(m).token_bits > 1]
    if eq:
        fig, axes = plt.subplots(1, len(eq), figsize=(6.5 * len(eq), 4.5), squeeze=False)
        for ax, m in zip(axes[0], eq):
            for si, s in enumerate(sizes):
                rs = [r for r in results if r["method"] == m and r["size"] == s and r["seed"] == 0]
                if not rs:
                    continue
                log = [l for l in logs.get(rs[0]["hash"], []) if l.get("valid_accuracy_by_window_position")]
                if not log:
                    continue
                x = [l["tokens_seen"] for l in log]
                acc = np.array([l["valid_accuracy_by_window_position"] for l in log], dtype=float)
                for pos in range(acc.shape[1]):
                    ax.plot(x, acc[:, pos], marker=".", linestyle=["-", "--", ":", "-."][pos % 4],
                            color=colors[si % len(colors)], label=f"{s}, token {pos + 1} of the window")
            ax.axhline(1 / 256, color="grey", linewidth=0.8, linestyle=":", label="chance (1/256)")
            ax.set_xlabel("training tokens seen")
            ax.set_ylabel("eval accuracy")
            ax.set_title(f"{parse_method(m).label}: accuracy by position in the window (Fig. 10 style)", fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        files["fig10"] = os.path.join(plot_dir, "window_accuracy.png")
        fig.savefig(files["fig10"], dpi=110)
        plt.close(fig)

    # learning curves (largest size, seed 0)
    fig, ax = plt.subplots(figsize=(8.5, 5))
    s = sizes[-1]
    for m in methods:
        rs = [r for r in results if r["method"] == m and r["size"] == s and r["seed"] == 0]
        if not rs:
            continue
        log = [l for l in logs.get(rs[0]["hash"], []) if l.get("valid_bits_per_byte") is not None]
        if not log:
            continue
        ax.plot([max(1, l["tokens_seen"]) for l in log], [l["valid_bits_per_byte"] for l in log], marker=".",
                color=col[m], label=parse_method(m).label)
        ax.axhline(log[-1]["valid_uniform_bits_per_byte"], color=col[m], linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens seen")
    ax.set_ylabel("eval bits/byte")
    ax.set_title(f"learning curves, {s}, seed 0 (dotted: uniform baselines; periodic points on the first "
                 f"{cfg_rec['eval_examples']} eval examples, the last on all)", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["curves"] = os.path.join(plot_dir, "learning_curves.png")
    fig.savefig(files["curves"], dpi=110)
    plt.close(fig)
    return files


def opt(x: Optional[float], spec: str) -> str:
    return "–" if x is None else format(x, spec)


def _text_block(s: str, limit: int = 700) -> str:
    s = "".join(c if (c in "\n\t" or c.isprintable()) else "\ufffd" for c in s)
    if len(s) > limit:
        s = s[:limit] + " […]"
    return "```text\n" + s.replace("```", "`\u200b``") + "\n```"


def write_report(out: str, report_out: str) -> str:
    exp = read_json(os.path.join(out, "experiment.json"))
    if exp is None:
        raise SystemExit(f"experiment: {out}/experiment.json missing: nothing to report")
    cfg = exp["config"]
    all_results = read_jsonl(os.path.join(out, "results.jsonl"))
    plan = set(exp.get("plan") or [])
    latest: Dict[Tuple[str, str, int], dict] = {}
    for r in all_results:
        if plan and r["hash"] not in plan:
            continue
        latest[(r["method"], r["size"], r["seed"])] = r
    results = list(latest.values())
    if not results:
        raise SystemExit(f"experiment: no results in {out}/results.jsonl")
    order = {m: i for i, m in enumerate(cfg["methods"])}
    results.sort(key=lambda r: (order.get(r["method"], 99), cfg["sizes"].index(r["size"])
                                if r["size"] in cfg["sizes"] else 99, r["seed"]))
    agg = aggregate(results)
    logs = {r["hash"]: read_jsonl(os.path.join(REPO, r["dir"], "log.jsonl") if not os.path.isabs(r["dir"])
                                  else os.path.join(r["dir"], "log.jsonl")) for r in results}
    plot_dir = os.path.splitext(report_out)[0]
    plots = make_plots(agg, results, cfg, plot_dir, logs)
    rd = os.path.dirname(os.path.abspath(report_out))
    relp = lambda p: os.path.relpath(p, rd)  # noqa: E731
    sessions = exp.get("sessions", [])
    wall = sum(s.get("wall_s", 0) for s in sessions)
    cpu_train = sum((r.get("train_s") or 0) + (r.get("eval_s") or 0) for r in results)
    shards_s = sum(s.get("shards_s", 0) for s in sessions)
    mach = sessions[-1]["machine"] if sessions else machine_info()
    loads = [s["machine"].get("load") for s in sessions if s.get("machine", {}).get("load")]
    d = exp["data"]
    models = exp.get("models", {})
    L = []
    L.append("# M2 over compressed tokens: the learnability experiment (paper Table 15, Fig. 3, Fig. 10)")
    L.append("")
    smoke = " **SMOKE CONFIGURATION: a pipeline check, not a result.**" if cfg.get("smoke") else ""
    L.append(f"Generated by `{exp.get('command', 'python3 -m training.m2.experiment')}` (report: `/usr/bin/python3 "
             f"-m training.m2.experiment --report --out {rel(out)} --report-out {rel(report_out)}`). Do not edit "
             f"by hand.{smoke}")
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append(f"- **Machine:** {mach.get('cpu')}, {mach.get('cores')} cores, {mach.get('os')}, Python "
             f"{mach.get('python')}, torch {mach.get('torch')} (CPU). Load average at the session starts: "
             f"{', '.join(str(l[0]) for l in loads) or '–'} (other jobs shared the machine; times are pessimistic).")
    stopped = sum(1 for s in sessions if s.get("interrupted"))
    L.append(f"- **Wall time:** {fmt_hms(wall)} over {len(sessions)} session(s)"
             f"{f' ({stopped} stopped and continued by the next)' if stopped else ''} (shards {fmt_hms(shards_s)}); CPU "
             f"time of the M2 runs (training + evaluation, 1 thread each) {cpu_train / 3600:.2f} h; "
             f"{cfg['jobs']} run(s) at a time on {cfg['threads']} thread(s)"
             + (f"; estimated before the first session: {fmt_hms(sessions[0]['estimate_wall_s'])} wall, "
                f"{sessions[0]['estimate_cpu_s'] / 3600:.2f} CPU-hours" if sessions and "estimate_wall_s" in sessions[0]
                else "") + ".")
    L.append(f"- **Data:** training text: the first {d['train']['bytes']:,} bytes of `{d['train']['source']}` "
             f"(cut at a document boundary); evaluation: the first {d['eval']['bytes']:,} bytes of "
             f"`{d['eval']['source']}` ({math.ceil(d['eval']['bytes'] / cfg['example_bytes'])} examples of up to "
             f"{cfg['example_bytes']:,} bytes). Every method's examples are the same {cfg['example_bytes']:,}-byte "
             f"pieces{'' if cfg['example_bytes'] == EXAMPLE_BYTES else ' (the paper: 10,240)'}, each encoded on "
             f"its own.")
    if "m1" in models:
        m1 = models["m1"]
        L.append(f"- **M1:** `{rel(m1['path'])}` (SHA-256 `{m1['sha256'][:16]}`, "
                 f"{fmt_si(m1.get('non_embedding_parameters'))} non-embedding parameters, config "
                 f"`{json.dumps(m1.get('config'), separators=(',', ':'))}`)"
                 + (f"; its AC code on the eval text: {agg[('ac256', cfg['sizes'][0])]['uniform']:.3f} bits/byte "
                    f"(the paper's M1: 1.457)" if ("ac256", cfg["sizes"][0]) in agg else "") + ".")
    if "spm" in models:
        L.append(f"- **SentencePiece:** `{rel(models['spm']['path'])}` ({models['spm']['vocab_size']:,} pieces); "
                 f"**StaticAC:** `eqinfo train-unigram` on the training text; **GZip:** zlib level 6, header and "
                 f"checksum kept, each example on its own.")
    budget = (f"the same **{cfg['tokens']:,} training tokens** per run" if not cfg.get("budget_minutes") else
              f"**{cfg['budget_minutes']} CPU minutes** per run (compute-matched: tokens differ per run)")
    L.append(f"- **Budget:** {budget} (the paper trains every M2 for the same number of steps and tokens; the "
             f"issue asks for the same token budget at every size), batch {cfg['batch_size']} x {cfg['seq_len']} "
             f"tokens, AdamW lr {cfg['lr']} (5% warmup, cosine to 10%), z-loss 1e-4, {cfg['mlp']} MLP, untied "
             f"embeddings; sizes {', '.join(cfg['sizes'])} (training/m2/model.py presets; the paper's smallest is "
             f"25m); seeds {cfg['seeds']} for {cfg['sizes'][0]}, {cfg['seeds_larger']} for larger sizes.")
    L.append("- **Metrics** (training/m2/evaluate.py): bits/byte = token NLL / ln 2 / true bytes over every token "
             "of every eval example; uniform = log2(v) x tokens/bytes; FLOPs/byte = 2 x M2 non-embedding params / "
             "(bytes/token) + 2 x M1 non-embedding params for AC and EqualInfoAC.")
    L.append("")
    L.append("## Results (paper Table 15 beside ours)")
    L.append("")
    L.append("| method | M2 | params | seeds | bits/byte | uniform | paper 25m / 2b | FLOPs/byte | paper FLOPs/byte "
             "25m | bytes/token | paper | tokens/run | text seen (epochs) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in cfg["methods"]:
        p = PAPER.get(m, {})
        for s in cfg["sizes"]:
            a = agg.get((m, s))
            if not a:
                continue
            bpb = f"{a['mean']:.3f}" + (f" ± {a['std']:.3f}" if a["std"] is not None else "")
            pb = f"{p['bpb'][0]:.2f} / {p['bpb'][3]:.2f}" if p.get("bpb") else "–"
            pf = fmt_si(p["flops"]["25m"]) if p.get("flops") else "–"
            ep = f" ({a['epochs']:.2f})" if a.get("epochs") is not None else ""
            L.append(f"| {parse_method(m).label} | {s} | {fmt_si(a['m2_params'])} | {a['n']} | {bpb} | "
                     f"{a['uniform']:.3f} ({opt(p.get('uniform'), '.3f')}) | {pb} | {fmt_si(a['flops'])} | "
                     f"{pf} | {a['bpt']:.2f} | {opt(p.get('bpt'), '.2f')} | {a['tokens']:,} | "
                     f"{fmt_si(a['bytes_seen'])}B{ep} |")
    L.append("")
    L.append("bits/byte: mean ± standard deviation over seeds (one seed: no ±). uniform: ours (the paper's Table 3 "
             "in brackets). bytes/token: ours on the eval text vs the paper's Table 12 (C4). params: M2 non-embedding "
             "parameters. text seen: training bytes the run's tokens stand for (estimated from the training "
             "shards' mean bytes/token).")
    L.append("")
    L.append(f"![bits/byte vs FLOPs/byte]({relp(plots['fig3'])})")
    L.append("")
    L.append("## Findings (the paper's claims, checked against the numbers above)")
    L.append("")
    for f in findings(agg, cfg["sizes"]):
        L.append(f"- {f}")
    L.append("")
    params = [a["m2_params"] for a in agg.values() if a.get("m2_params")]
    smaller = "much"
    if params:
        lo, hi = PAPER_25M_PARAMS / max(params), PAPER_25M_PARAMS / min(params)
        smaller = f"{lo:.0f}x" if lo == hi else f"{lo:.0f}-{hi:.0f}x"
    L.append(f"The thresholds are fixed in the script: \"stays at the uniform baseline\" means less than "
             f"{100 * LEARN_MARGIN:.0f}% below it, \"learns\" at least {100 * LEARN_MARGIN:.0f}% below. Our models "
             f"are {smaller} smaller than the paper's smallest (25m: {fmt_si(PAPER_25M_PARAMS)} non-embedding "
             f"parameters) and see about "
             f"{fmt_si(max(a['tokens'] for a in agg.values()))} tokens instead of 26G, and our M1 is not the "
             f"paper's, so these are small-scale checks of the trends, not a reproduction of the numbers.")
    L.append("")
    if "fig10" in plots:
        L.append("## Accuracy by position in the window (Fig. 10 style)")
        L.append("")
        L.append("Eval accuracy of each token position within an EqualInfoAC window over training (seed 0; periodic "
                 f"evaluations on the first {cfg['eval_examples']} eval example(s), the last point on all).")
        L.append("")
        L.append(f"![accuracy by window position]({relp(plots['fig10'])})")
        L.append("")
    L.append("## Learning curves")
    L.append("")
    L.append(f"![learning curves]({relp(plots['curves'])})")
    L.append("")
    samples = exp.get("samples") or []
    if samples:
        L.append("## Samples (decoded to text)")
        L.append("")
        L.append("Drawn with `training/m2/sample.py` (temperature 0.8, KV cache) from the largest models, seed 0, "
                 "and decoded with eqinfo's bare decoding (EqualInfoAC: every whole window decodes on its own).")
        L.append("")
        for smp in samples:
            L.append(f"**{parse_method(smp['method']).label}, {smp['size']}**, {smp['tokens']} tokens from BOS:")
            L.append("")
            L.append(_text_block(smp["free"]))
            L.append("")
            L.append(f"Prompted with the first {smp['prompt_tokens']} tokens of eval example 0 "
                     f"({len(smp['prompt'].encode('utf-8'))} bytes: "
                     f"`{smp['prompt'][:80].replace('`', ' ').replace(chr(10), '⏎')}`…), prompt + continuation:")
            L.append("")
            L.append(_text_block(smp["prompted"]))
            L.append("")
            if smp.get("random") is not None and parse_method(smp["method"]).family == "eq":
                L.append(f"For comparison, {smp['tokens']} uniformly random tokens decoded the same way (what an M2 "
                         f"that learned nothing would give: M1 turns any bits into M1-like text, so compare the two):")
                L.append("")
                L.append(_text_block(smp["random"]))
                L.append("")
    L.append("## Runs")
    L.append("")
    L.append("| method | size | seed | steps | tokens seen | bits/byte | accuracy | train s | eval s | run |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        e = r["eval"]
        L.append(f"| {r['label']} | {r['size']} | {r['seed']} | {r['steps']} | {r['tokens_seen']:,} | "
                 f"{e['bits_per_byte']:.4f} | {e.get('accuracy', float('nan')):.3f} | {r.get('train_s') or 0:.0f} | "
                 f"{r.get('eval_s') or 0:.0f} | `{r['dir']}` |")
    L.append("")
    text = "\n".join(L) + "\n"
    os.makedirs(rd, exist_ok=True)
    with open(report_out, "w") as f:
        f.write(text)
    return text
