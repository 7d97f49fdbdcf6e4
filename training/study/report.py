"""The compression study's report (compression_study.py is the command, measure.py the
measurements): the plots and docs/results/compression.md, beside the paper's numbers."""
import math
import os

import numpy as np

# The paper's numbers (../shared/docs/method.md; C4 validation, M1 at 1.457 bits/byte).
PAPER_M1_BPB = 1.457
PAPER_TOKEN_RATIO = {  # Table 12: bytes per token, (v=256, v=65k)
    "bytes": (1.0, None), "sp": (4.28, None), "ac": (5.49, 10.98), "static_ac": (1.73, 3.46),
    "gzip": (2.23, 4.47), "eq16": (2.66, 5.31), "eq32": (3.49, 6.97), "eq64": (4.16, 8.33),
    "eq128": (4.61, 9.22),
}
PAPER_TRIVIAL = {  # Table 3: (uniform, unigram) bits/byte, v=256 (SentencePiece: its 32k vocabulary)
    "bytes": (8.000, 4.602), "sp": (3.497, 2.443), "ac": (1.457, 1.457), "static_ac": (4.624, 4.624),
    "eq16": (3.008, 2.976), "eq32": (2.292, 2.285), "eq64": (1.923, 1.921), "eq128": (1.735, 1.735),
    "gzip": (3.587, 3.586),
}
PAPER_DELAY = (2.66, 2.20)  # EqualInfoAC[b=16, v=256] bytes/token: greedy -> Delay
PAPER_DECODABLE = 99.4      # % of sequences the paper's greedy windows decoded


# ---------------------------------------------------------------------------
# Plots

def plots(res, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    rows = res["rows"]
    files = {}

    def save(fig, key, name):
        fig.tight_layout()
        files[key] = outdir / f"{name}.png"
        fig.savefig(files[key], dpi=110)
        plt.close(fig)

    # Token compression ratio, ours vs paper.
    labels = [f"{r['label']} v={vlabel(r['v'])}" for r in rows]
    ours = [r["token_ratio"] for r in rows]
    paper = [paper_ratio(r) or np.nan for r in rows]
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) + 1.2))
    ax.barh(y - 0.2, ours, 0.4, label="ours (held-out sample, our M1)")
    ax.barh(y + 0.2, paper, 0.4, label="paper, Table 12 (C4, M1 1.457 bits/byte)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("token compression ratio (bytes / token)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    save(fig, "ratio", "token_ratio")

    # Trivial models (v=256 rows and SentencePiece 32k), ours vs paper.
    sel = [r for r in rows if (r["v"] == 256 or r["family"] == "sp") and paper_key(r) in PAPER_TRIVIAL]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(sel) + 1.2))
    y = np.arange(len(sel))
    ax.barh(y - 0.3, [r["uniform_bpb"] for r in sel], 0.2, label="uniform, ours")
    ax.barh(y - 0.1, [PAPER_TRIVIAL[paper_key(r)][0] for r in sel], 0.2, label="uniform, paper")
    ax.barh(y + 0.1, [r["unigram_bpb"] for r in sel], 0.2, label="unigram (in-sample), ours")
    ax.barh(y + 0.3, [PAPER_TRIVIAL[paper_key(r)][1] for r in sel], 0.2, label="unigram, paper")
    ax.set_yticks(y, [f"{r['label']} v={vlabel(r['v'])}" for r in sel], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("bits/byte of a trivial model over the tokens (Table 3)")
    ax.legend(fontsize=7, loc="lower right")
    save(fig, "trivial", "trivial_models")

    # KL of bit n-grams.
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ns = np.arange(1, 17)
    for key, d in res["bit_kl"].items():
        ax.plot(ns, np.maximum(d["kl"], 1e-6), marker="o", ms=3, label=d["label"])
    lens = sorted(res["bit_kl"].values(), key=lambda d: d["bits"])
    for d, style in ((lens[0], ":"), (lens[-1], "--")):
        ax.plot(ns, np.maximum(d["random"], 1e-6), "k" + style, lw=1,
                label=f"random bits, {d['bits'] / 8e3:.0f} KB")
    ax.set_yscale("log")
    ax.set_xlabel("bit n-gram length n")
    ax.set_ylabel("KL(empirical || uniform), bits")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Bit n-gram KL divergence from uniform (cf. paper Fig. 11)", fontsize=9)
    save(fig, "kl_bits", "kl_bits")

    # KL of tokens.
    sel = [r for r in rows if r["v"] in (256, 65536)]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(sel) + 1.2))
    y = np.arange(len(sel))
    ax.barh(y - 0.2, [max(r["token_kl"], 1e-6) for r in sel], 0.4, label="tokens")
    ax.barh(y + 0.2, [max(r["token_kl_random"], 1e-6) for r in sel], 0.4, label="random tokens, same count")
    ax.set_xscale("log")
    ax.set_yticks(y, [f"{r['label']} v={vlabel(r['v'])}" for r in sel], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("KL(token distribution || uniform), bits")
    ax.legend(fontsize=8)
    save(fig, "kl_tokens", "kl_tokens")

    # Token stability.
    st = res["stability"]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(st) + 1.2))
    y = np.arange(len(st))
    ax.barh(y, [s["weighted_texts"] for s in st], 0.6)
    ax.set_yticks(y, [f"{s['label']} pos {s['position']}" for s in st], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("distinct texts per token value (occurrence-weighted mean)")
    save(fig, "stability", "stability")

    # Throughput.
    tp = res["throughput"]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(tp) + 1.2))
    y = np.arange(len(tp))
    ax.barh(y, [t[1] / 1e6 for t in tp], 0.6)
    ax.set_xscale("log")
    ax.set_yticks(y, [t[0] for t in tp], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MB of input per CPU-second, one thread")
    save(fig, "throughput", "throughput")
    return files


def vlabel(v):
    return "65k" if v == 65536 else "32k" if v == 32000 else "8k" if v == 8000 else str(v)


def paper_ratio(r):
    """The paper's Table 12 bytes/token for this row, or None."""
    pk = paper_key(r)
    pv = PAPER_TOKEN_RATIO.get(pk) if pk else None
    if not pv:
        return None
    return pv[0] if r["v"] in (256, 32000) else pv[1] if r["v"] == 65536 else None


def paper_key(r):
    if r["family"] == "sp":
        return "sp" if r["v"] == 32000 else None
    return r["key"]


# ---------------------------------------------------------------------------
# Report

def fmt(x, d=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{d}f}"


def report(res, md_path, files):
    rows = res["rows"]
    rel = lambda p: os.path.relpath(p, md_path.parent)  # noqa: E731
    ac = next(r for r in rows if r["key"] == "ac" and r["v"] == 256)
    our_bpb = 8 * ac["tokens"] / ac["bytes"]  # AC bits/byte, incl. < 1 byte of padding per example
    sac = next(r for r in rows if r["key"] == "static_ac" and r["v"] == 256)
    L = []
    w = L.append
    w("# Compression study: eqinfo against the paper's compression figures")
    w("")
    w(f"Generated by `{res['command']}` on {res['date']} in {res['elapsed_s'] / 60:.1f} min "
      f"({res['machine']}; load average {res['load_start'][0]:.1f} at the start and "
      f"{res['load_end'][0]:.1f} at the end{res['busy_note']})"
      + (f"; the encodings (and so the M1 timings) are those of a run on {res['reused']}" if res["reused"] else "")
      + ". Do not edit by hand: rerun the command.")
    w("")
    w("**Input.** " + res["input_desc"])
    w("")
    w(f"**M1.** `{res['m1']['path']}` (fingerprint {res['m1']['fingerprint']}, SHA-256 "
      f"`{res['m1']['sha256']}`, config {res['m1']['config']}). On this sample it codes at "
      f"**{our_bpb:.3f} bits/byte** (AC), against the paper's M1 at {PAPER_M1_BPB} bits/byte on C4 "
      f"validation: every M1-driven ratio below should be read with that gap in mind.")
    w("")
    w(f"**Other models.** StaticAC: `{res['unigram']['path']}` (fingerprint {res['unigram']['fingerprint']}; "
      f"{res['unigram']['desc']}). SentencePiece: " +
      "; ".join(f"`{p}` ({n})" for n, p in res["spm_paths"].items()) +
      " (Unigram, identity normalisation, byte fallback; tokens counted by "
      "`training/train_sentencepiece.py:count_tokens`, one token per newline). GZip: Python `zlib.compress` at "
      "the default level (6), zlib container (2-byte header, 4-byte Adler-32 trailer) kept, each example on its "
      "own. P = 16 (the paper used 14); EqualInfoAC rule `delay` unless stated.")
    w("")
    w("Consistency: the helper's codes equal `eqinfo encode --format raw -N 8` on the first example for "
      + ", ".join(f"{k} ({'yes' if v else '**NO**'})" for k, v in res["cli_check"].items())
      + "; every EqualInfoAC encoding (delay, greedy_exact) was decoded exactly; per-token byte spans "
      "concatenate back to the input: " + ("yes" if res["spans_ok"] else "**NO**") + ".")
    w("")

    # --- ratios
    w("## 1. Compression ratios (paper Tables 1 and 12)")
    w("")
    w("Token compression ratio = input bytes / tokens. Bit compression ratio = input bits / output bits, a "
      "token of a vocabulary of v counting log2(v) bits (so for SentencePiece 32k a token is 14.97 bits, which "
      "gives the paper's 4.28 bytes/token -> 2.28). Totals over all examples; an example's AC code is padded "
      "to whole tokens, EqualInfoAC windows are always b bits.")
    w("")
    w("| method | v | tokens | bytes/token | paper (Table 12) | bit ratio | paper bit ratio | bytes/window |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = paper_ratio(r)
        pbit = p * 8 / r["bits_per_token"] if p else None
        bw = fmt(r["bytes"] / r["windows"], 2) if r.get("windows") else ""
        w(f"| {r['label']} | {vlabel(r['v'])} | {r['tokens']:,} | {r['token_ratio']:.2f} | {fmt(p)} | "
          f"{r['bit_ratio']:.2f} | {fmt(pbit)} | {bw} |")
    w("")
    w(f"![token compression ratio, ours and the paper's]({rel(files['ratio'])})")
    w("")
    gz = next(r for r in rows if r["key"] == "gzip" and r["v"] == 256)
    e16 = next(r for r in rows if r["key"] == "eq16" and r["v"] == 256)
    sp32 = next((r for r in rows if r["family"] == "sp" and r["v"] == 32000), None)
    w("Paper bit ratios are derived from Table 12 the same way (Table 1 states SentencePiece 2.28 and AC "
      "5.49).")
    w("")
    w("**Why ours differ.** (1) *M1.* Ours codes this sample at "
      f"{our_bpb:.2f} bits/byte, the paper's C4 validation at {PAPER_M1_BPB}; AC's bytes per 8-bit token is "
      f"just 8 / (bits per byte), hence {ac['token_ratio']:.2f} against 5.49 "
      f"({100 * ac['token_ratio'] / 5.49:.0f} % of the paper's). EqualInfoAC b=16 is at "
      f"{e16['token_ratio']:.2f} against 2.66 ({100 * e16['token_ratio'] / 2.66:.0f} %): each window restarts "
      "M1 from an empty context, where a small, briefly trained M1 is weakest, and a window of 16 bits holds "
      "only a few bytes either way. (2) *Data.* Our sample is held-out text from sources that are not in any "
      "training split (classic Canterbury-corpus books, the CIA World Factbook, Tom Sawyer: older, more "
      "formal English than web text); the paper evaluates on C4 validation, in-domain for its M1. The methods "
      f"without M1 show the data effect alone: GZip {gz['token_ratio']:.2f} vs 2.23, StaticAC "
      f"{sac['token_ratio']:.2f} vs 1.73 (its unigram is fitted on our train.txt)." +
      (f" (3) *SentencePiece.* {sp32['token_ratio']:.2f} vs 4.28 bytes/token: our 32k vocabulary is trained "
       "on our 56 MB training split, T5's on C4; here every newline costs a token and line starts a "
       "dummy-prefix piece (lossless counting, training/train_sentencepiece.py)." if sp32 else ""))
    w("")

    # --- window rules
    g = res["window_rules"]
    w("## 2. Window rules at b = 16 (the paper's greedy vs Delay)")
    w("")
    w("Plain greedy packs the most bytes per window (the library's `cut_policy::greedy_unchecked`); it is "
      "not decodable exactly (docs/format.md §3). `delay` (our default) is the paper's Delay made exact; "
      "`greedy_exact` keeps greedy where the decoder reads it back. Misread = non-final plain-greedy windows "
      "that a decoder with the given rule reads back with a different byte count.")
    w("")
    w("| cut | windows | bytes/window | bytes/token v=256 | bytes/token v=65k | vs greedy | paper v=256 |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for name, label, paper in [("eq16_greedy", "plain greedy (not decodable)", PAPER_DELAY[0]),
                               ("eq16", "delay (exact, default)", PAPER_DELAY[1]),
                               ("eq16_greedy_exact", "greedy_exact (exact)", None)]:
        d = g[name]
        w(f"| {label} | {d['windows']:,} | {d['bytes_per_window']:.3f} | {d['bytes_per_window'] / 2:.3f} | "
          f"{d['bytes_per_window']:.3f} | {100 * (d['bytes_per_window'] / g['eq16_greedy']['bytes_per_window'] - 1):+.1f} % | "
          f"{fmt(paper)} |")
    w("")
    gg = g["eq16_greedy"]
    w(f"Plain greedy windows misread: by the delay decoder {gg['misread_delay_pct']:.1f} %, by the greedy_exact "
      f"decoder {gg['misread_greedy_exact_pct']:.1f} % of {gg['nonfinal']:,} non-final windows; "
      f"{gg['zero_bit_end_pct']:.1f} % of them end on a byte that added zero bits (the ambiguous case). At that "
      "rate a 512-token M2 example at v = 65k (512 windows) would decode entirely by the delay rule with "
      f"probability {(1 - gg['misread_delay_pct'] / 100) ** 512:.1e}. The paper decoded "
      f"{PAPER_DECODABLE} % of its sequences with a look-ahead decoder; eqinfo writes only windows its decoder "
      f"reads exactly. The paper's Delay gives up {100 * (1 - PAPER_DELAY[1] / PAPER_DELAY[0]):.0f} % of the "
      f"bytes per token (2.66 -> 2.20); ours gives up "
      f"{100 * (1 - g['eq16']['bytes_per_window'] / gg['bytes_per_window']):.1f} %. The loss is the trailing "
      "bytes that added zero bits, which are more frequent the more confident M1 is (a byte of probability "
      "> 1/2 can add no bit).")
    w("")

    # --- trivial models
    w("## 3. Trivial models over the tokens (paper Table 3)")
    w("")
    w("Bits/byte = (tokens / bytes) x (bits per token under the model). Uniform: log2(v) bits per token. "
      "Unigram: the token frequencies. The paper fits its unigram on the training data; we report it two ways "
      "on the sample itself: **in-sample** (plug-in entropy of the sample's own token distribution; optimistic, "
      "and for a large v over few tokens far too low) and **2-fold held-out** (fit on half the examples with "
      "add-1/2 smoothing, score the other half, both ways; pessimistic when v is large against the sample).")
    w("")
    w("| method | v | uniform | unigram in-sample | unigram held-out | distinct tokens | paper uniform | paper unigram |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pk = paper_key(r)
        pt = PAPER_TRIVIAL.get(pk) if pk and (r["v"] in (256, 32000)) else None
        w(f"| {r['label']} | {vlabel(r['v'])} | {r['uniform_bpb']:.3f} | {r['unigram_bpb']:.3f} | "
          f"{r['unigram_heldout_bpb']:.3f} | {r['distinct_tokens']:,} | {fmt(pt[0] if pt else None, 3)} | "
          f"{fmt(pt[1] if pt else None, 3)} |")
    w("")
    w(f"![trivial models, ours and the paper's]({rel(files['trivial'])})")
    w("")
    gains = []
    for r in rows:
        pk = paper_key(r)
        if r["v"] in (256, 32000) and pk in PAPER_TRIVIAL:
            pu, pg = PAPER_TRIVIAL[pk]
            gains.append(f"{r['label']} {r['uniform_bpb'] - r['unigram_bpb']:.3f} (paper {pu - pg:.3f})")
    w("What a unigram gains over uniform, bits/byte at v = 256 (SentencePiece: 32k), ours in-sample vs the "
      "paper: " + "; ".join(gains) + ". The uniform column is 8 / (bit ratio), so it moves with M1 exactly as "
      "§1 does. The paper's pattern is that a unigram gains nothing on AC (its bytes are near-random), a "
      "little on EqualInfoAC (most at b = 16), and a lot on Bytes and SentencePiece; compare the gains above "
      "with it. A weaker M1 leaves more of the text's structure in its windows' bits (the first bits of a "
      "window encode the first, most predictable-looking bytes), so EqualInfoAC gains more here than in the "
      "paper; §4 shows the same from the KL side.")
    w("")

    # --- KL
    w("## 4. KL divergence from uniform (paper Fig. 11)")
    w("")
    w("For each method's output bitstream (examples concatenated; codes padded to whole bytes, windows as "
      "stored): the empirical distribution of overlapping bit n-grams, n = 1..16, and KL(empirical || uniform) "
      "= n - H in bits. Random baseline: os.urandom bits of the same length, which shows the finite-sample "
      "bias (about (2^n - 1) / (2 L ln 2) bits for L bits).")
    w("")
    w(f"![bit n-gram KL]({rel(files['kl_bits'])})")
    w("")
    keys = list(res["bit_kl"])
    w("| method | bits | " + " | ".join(f"n={n}" for n in (1, 2, 4, 8, 12, 16)) + " | random n=8 | random n=16 |")
    w("|---|---:|" + "---:|" * 8)
    for k in keys:
        d = res["bit_kl"][k]
        w(f"| {d['label']} | {d['bits']:,} | " + " | ".join(f"{d['kl'][n - 1]:.4f}" for n in (1, 2, 4, 8, 12, 16))
          + f" | {d['random'][7]:.4f} | {d['random'][15]:.4f} |")
    w("")
    w(f"![token KL]({rel(files['kl_tokens'])})")
    w("")
    w("| method | v | token KL | random tokens |")
    w("|---|---:|---:|---:|")
    for r in rows:
        w(f"| {r['label']} | {vlabel(r['v'])} | {r['token_kl']:.4f} | {fmt(r['token_kl_random'], 4)} |")
    w("")
    excess = sorted(((d["kl"][15] - d["random"][15], d["kl"][7] - d["random"][7], d["label"])
                     for d in res["bit_kl"].values()), reverse=True)
    w("Excess over the random baseline of the same length, n = 16 (n = 8), highest first: "
      + "; ".join(f"{lab} {e16:.4f} ({e8:.4f})" for e16, e8, lab in excess) + ".")
    w("")
    w("The paper (Fig. 11, as summarised in method.md) finds the KL from uniform higher for GZip and short "
      "windows than for AC. Check the ordering above against that: short equal-info windows should sit far "
      "above the random floor and move towards it as b grows, AC should sit on it. Where GZip sits relative "
      "to AC depends on the data and on how far one looks: a deflate stream carries structure (Huffman "
      "tables, block headers, length/distance codes) that short bit n-grams only partly see at this sample "
      "size. Differences in level come from M1 (a weaker M1 leaves more of the text's structure in the bits, "
      "most visibly at the start of each equal-info window) and from sample size: our streams are 10^5 to "
      "10^6 bits per method, and the random baseline shows the floor this sets, which dominates at large n "
      "and for 16-bit tokens (a 65k vocabulary over ~10^5 tokens is far from sampled evenly).")
    w("")

    # --- stability
    w("## 5. Token stability (paper sec. 6.1, Table 14)")
    w("")
    w("The text of a token is what reading it adds: the window bytes that the window's first p x N bits "
      "determine (every point of that bit prefix's cell decodes to them, as in bare decoding) beyond those "
      "the first (p - 1) x N bits determine; the window's last token gets the rest of its bytes. These texts "
      "concatenate back to the input (checked). Final windows of examples are left out (the byte count, not "
      "the rule, cuts them). SentencePiece: a piece's text is its string (checked against the input: pieces "
      "concatenate back to each line, plus the dummy-prefix space SentencePiece puts before every line).")
    w("")
    w("| tokens | position in window | token values seen | occurrences | distinct texts per value (mean) | "
      "(occurrence-weighted) | values with > 1 text | max | tokens adding no byte | bytes per token |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["stability"]:
        w(f"| {s['label']} | {s['position']} | {s['values']:,} | {s['occurrences']:,} | {s['mean_texts']:.2f} | "
          f"{s['weighted_texts']:.2f} | {100 * s['share_multi']:.1f} % | {s['max_texts']} | "
          f"{100 * s['empty_share']:.1f} % | {s['mean_bytes']:.2f} |")
    w("")
    w(f"![token stability]({rel(files['stability'])})")
    w("")
    w("Examples (the most frequent token values; `text` x count):")
    w("")
    for s in res["stability"]:
        if s["label"].startswith("SentencePiece"):
            continue
        if not (s["position"] in (1, 2)):
            continue
        for value, occ, texts, ntexts in s["examples"][:2]:
            shown = ", ".join(f"`{t!r}` x{c}".replace("`b'", "`'").replace('`b"', '`"') for t, c in texts)
            w(f"- {s['label']}, position {s['position']}, token {value} ({occ} times, {ntexts} texts): {shown}")
    w("")
    st = {(s["label"], s["position"]): s for s in res["stability"]}
    p1, p2 = st.get(("EqualInfoAC[b=16, v=256]", 1)), st.get(("EqualInfoAC[b=16, v=256]", 2))
    if p1 and p2:
        w(f"Reading it: at position 1 a token value stands for {p1['weighted_texts']:.2f} texts on average "
          f"({100 * p1['share_multi']:.1f} % of values have more than one, at most {p1['max_texts']}), at "
          f"position 2 for {p2['weighted_texts']:.1f} (at most {p2['max_texts']}). The coder and M1 restart at "
          "every window, so the first bits of a window always mean the same bytes; a position-1 token has a "
          "second text only where the window ends before those bits would have determined more. Later tokens "
          "mean whatever the model predicts after the bytes before them, so one value stands for many texts. "
          "With v = 65k and b = 16 a token is a whole window, which decodes to one text (exact decoding); the "
          "instability then moves to the other direction, below.")
        w("")
    wd = res["words"]
    w("The other direction, which is the paper's point (method.md on sec. 6.1 and Table 14: SentencePiece "
      "maps a word to the same tokens everywhere, EqualInfoAC's tokens depend on where the window starts): "
      "for the most frequent words of the sample (with their leading space), the number of distinct token "
      "sequences that cover their occurrences (the tokens whose text overlaps the word's bytes), and in "
      "brackets the share of occurrences that use the commonest sequence.")
    w("")
    w("| word | occurrences | " + " | ".join(wd["methods"]) + " |")
    w("|---|---:|" + "---:|" * len(wd["methods"]))
    for word in wd["words"]:
        cells = wd["table"][word]
        occ = max(c["occurrences"] for c in cells.values())
        w(f"| `{word!r}` | {occ} | " + " | ".join(
            f"{cells[m]['distinct']} ({100 * cells[m]['top_share']:.0f} %)" for m in wd["methods"]) + " |")
    w("")
    sp_max = max((wd["table"][x][m]["distinct"] for x in wd["words"] for m in wd["methods"]
                  if m.startswith("SentencePiece")), default=0)
    w(("SentencePiece spells each of these words one way at every occurrence" if sp_max == 1 else
       f"SentencePiece spells each of these words in at most {sp_max} ways") +
      " (a word followed by a non-letter, after a space, is always the same piece sequence); EqualInfoAC "
      "spells it in as many ways as windows can cut around it and as the earlier bytes of its window can "
      "shift its bits. The paper makes the same point with its M1 on C4; its examples differ in detail.")
    w("")

    # --- throughput
    w("## 6. Throughput on this machine")
    w("")
    w(f"One thread per encoding; MB of input per CPU-second of that thread (what one uncontended core would "
      f"do, about) and per wall-second while {res['args']['jobs']} encodings and "
      f"{res['other_load']} ran on the {os.cpu_count()} cores. Machine: {res['machine']}. M1 rows exclude "
      "model loading; the C++ helper is built like the CLI (Release, -O3, no -march=native).")
    w("")
    w("| method | MB/s per CPU-second | MB/s wall |")
    w("|---|---:|---:|")
    for label, cpu, wall in res["throughput"]:
        w(f"| {label} | {cpu / 1e6:.4f} | {wall / 1e6:.4f} |")
    w("")
    w(f"![throughput]({rel(files['throughput'])})")
    w("")
    w("The paper reports no throughput (it ran M1 on TPUs); see docs/performance.md for M1 kernel speeds. "
      "EqualInfoAC costs more than AC per byte because every window restarts M1 (a fresh forward pass "
      "over short contexts) and the cut rule evaluates candidate prefixes.")
    w("")
    md_path.write_text("\n".join(L) + "\n")
