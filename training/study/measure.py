"""The compression study's measurements (compression_study.py is the command, report.py the
report): the encodings through the C++ helper, every method as a token stream, the trivial
models, KL divergence from uniform, token stability, throughput, and the check against the CLI."""
import json
import math
import os
import shlex
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from training.train_sentencepiece import count_tokens

WINDOW_BITS = (16, 24, 32, 64, 128)


def log(msg):
    print(f"[study {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def entropy_bits(counts):
    counts = counts[counts > 0].astype(np.float64)
    n = counts.sum()
    p = counts / n
    return float(-(p * np.log2(p)).sum())


# ---------------------------------------------------------------------------
# Encodings through the helper

def helper_configs(m1, unigram):
    """(name, model path, helper options, spans?) for every encoding the study needs."""
    out = [("ac", m1, ["--method", "ac"]), ("static_ac", unigram, ["--method", "ac"])]
    for b in WINDOW_BITS:
        out.append((f"eq{b}", m1, ["-b", str(b)] + (["--spans"] if b in (16, 32) else [])))
    out.append(("eq16_greedy", m1, ["-b", "16", "--policy", "greedy"]))
    out.append(("eq16_greedy_exact", m1, ["-b", "16", "--policy", "greedy-exact"]))
    return out


def run_encodings(helper, sample_path, n_examples, example_bytes, configs, work, jobs):
    """Runs every config over all examples in chunks, `jobs` helper processes at once."""
    enc_dir = Path(work) / "enc"
    enc_dir.mkdir(parents=True, exist_ok=True)
    chunk = max(1, math.ceil(n_examples / max(2, 2 * jobs)))
    tasks = []
    for name, model, opts in configs:
        for first in range(0, n_examples, chunk):
            prefix = enc_dir / f"{name}.{first:04d}"
            cmd = ["nice", "-n", "10", str(helper), str(model), str(sample_path), "-o", str(prefix),
                   "--example-bytes", str(example_bytes), "--first", str(first), "--count", str(chunk), *opts]
            cost = 3 if "greedy-exact" in opts else 2 if ("--spans" in opts or "greedy" in opts) else 1
            tasks.append((cost, name, first, prefix, cmd))
    tasks.sort(key=lambda t: -t[0])  # the slow ones first
    done = [0]

    def one(task):
        _, name, first, prefix, cmd = task
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed:\n{r.stderr}")
        done[0] += 1
        if done[0] % max(1, len(tasks) // 10) == 0 or done[0] == len(tasks):
            log(f"encodings: {done[0]}/{len(tasks)}")
        return task

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, tasks))
    results = {}
    for name, _, _ in configs:
        results[name] = load_encoding(enc_dir, name)
    return results


def load_encoding(enc_dir, name):
    """Merges the chunks of one config: per-example codes (bytes, MSB first) and metadata."""
    chunks = sorted(Path(enc_dir).glob(f"{name}.[0-9][0-9][0-9][0-9].json"))
    merged = {"examples": [], "codes": [], "wall_s": 0.0, "cpu_s": 0.0}
    for j in chunks:
        meta = json.loads(j.read_text())
        raw = j.with_suffix(".bits").read_bytes()
        pos = 0
        for e in meta["examples"]:
            n = (e["bits"] + 7) // 8
            merged["codes"].append(raw[pos:pos + n])
            pos += n
            merged["examples"].append(e)
        assert pos == len(raw), f"{j}: bits file length does not match"
        for k in ("wall_s", "cpu_s", "misread_by_delay", "misread_by_greedy_exact", "zero_bit_end"):
            if k in meta:
                merged[k] = merged.get(k, 0) + meta[k]
        for k in ("model_kind", "fingerprint", "method", "window_bits", "policy", "precision"):
            merged[k] = meta[k]
    return merged


# ---------------------------------------------------------------------------
# Methods as token streams

def tokens_from_codes(codes, n_bits):
    """N-bit tokens (8 or 16) of per-example codes zero-padded to whole tokens."""
    parts = []
    for c in codes:
        a = np.frombuffer(c, dtype=np.uint8)
        if n_bits == 16:
            if len(a) % 2:
                a = np.concatenate([a, np.zeros(1, np.uint8)])
            a = a.reshape(-1, 2).astype(np.uint32)
            a = (a[:, 0] << 8) | a[:, 1]
        parts.append(a.astype(np.uint32))
    return np.concatenate(parts) if parts else np.zeros(0, np.uint32)


def sp_tokens(processor, data):
    """(ids, texts) of `data` as count_tokens counts them: pieces of each line, '\\n' as its byte piece.
    Texts are the pieces' strings ('\u2581' -> ' ', <0xNN> -> that byte)."""
    newline = processor.piece_to_id("<0x0A>")
    ids = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line:
            text = line.decode("utf-8", errors="surrogateescape")
            valid = "".join(ch for ch in text if not "\udc80" <= ch <= "\udcff")
            ids.extend(processor.encode(valid))
            # bytes that are not UTF-8 (an example cut inside a character): one byte piece each, as
            # count_tokens counts them (placed at the line's end)
            ids.extend(processor.piece_to_id("<0x%02X>" % (ord(ch) - 0xDC00)) for ch in text
                       if "\udc80" <= ch <= "\udcff")
        if i + 1 < len(lines):
            ids.append(newline)
    return ids


def piece_bytes(processor, pid, cache):
    t = cache.get(pid)
    if t is None:
        p = processor.id_to_piece(pid)
        if p.startswith("<0x") and p.endswith(">") and len(p) == 6:
            t = bytes([int(p[3:5], 16)])
        else:
            t = p.replace("\u2581", " ").encode("utf-8")
        cache[pid] = t
    return t


def build_methods(examples, enc, spm_models, log2v):
    """Every (method, v) row: per-example token counts and token arrays."""
    total = sum(len(e) for e in examples)
    rows = []

    def add(key, family, label, v, tokens_per_example, toks=None, stream=None, **extra):
        rows.append(dict(key=key, family=family, label=label, v=v, bytes=total,
                         tokens=int(sum(tokens_per_example)), tokens_per_example=list(map(int, tokens_per_example)),
                         toks=toks, stream=stream, **extra))

    raw = b"".join(examples)
    arr = np.frombuffer(raw, dtype=np.uint8).astype(np.uint32)
    add("bytes", "bytes", "Bytes", 256, [len(e) for e in examples], arr, raw)
    for name, (proc, path) in spm_models.items():
        ids_all, per = [], []
        for e in examples:
            ids = sp_tokens(proc, e)
            assert len(ids) == count_tokens(proc, e), "sp_tokens disagrees with count_tokens"
            ids_all.extend(ids)
            per.append(len(ids))
        add(f"sp:{name}", "sp", f"SentencePiece {name}", proc.get_piece_size(), per,
            np.asarray(ids_all, np.uint32), None, model_path=str(path))
    gz = [zlib.compress(e, zlib.Z_DEFAULT_COMPRESSION) for e in examples]
    for n in (8, 16):
        add("gzip", "gzip", "GZip", 1 << n, [math.ceil(len(g) * 8 / n) for g in gz], tokens_from_codes(gz, n),
            b"".join(gz))
    for key, label in [("static_ac", "StaticAC"), ("ac", "AC")]:
        e = enc[key]
        for n in (8, 16):
            add(key, key, label, 1 << n, [math.ceil(x["bits"] / n) for x in e["examples"]],
                tokens_from_codes(e["codes"], n), b"".join(e["codes"]))
    for b in WINDOW_BITS:
        e = enc[f"eq{b}"]
        for n in (8, 16):
            if b % n:
                continue
            add(f"eq{b}", "eq", f"EqualInfoAC[b={b}]", 1 << n, [x["bits"] // n for x in e["examples"]],
                tokens_from_codes(e["codes"], n), b"".join(e["codes"]), window_bits=b,
                windows=sum(len(x["windows"]) for x in e["examples"]))
    for r in rows:
        assert r["toks"] is None or len(r["toks"]) == r["tokens"], r["label"]
        r["bits_per_token"] = log2v(r["v"])
        r["token_ratio"] = r["bytes"] / r["tokens"]
        r["bit_ratio"] = 8 * r["bytes"] / (r["tokens"] * r["bits_per_token"])
    return rows


def trivial_models(rows, n_examples):
    """Uniform and unigram bits/byte over each method's tokens (Table 3)."""
    for r in rows:
        toks, v = r["toks"], r["v"]
        r["uniform_bpb"] = r["tokens"] * r["bits_per_token"] / r["bytes"]
        counts = np.bincount(toks, minlength=v)
        h = entropy_bits(counts)
        r["unigram_bpb"] = r["tokens"] * h / r["bytes"]
        r["distinct_tokens"] = int((counts > 0).sum())
        # 2-fold cross-fit: fit on even examples, score odd ones and vice versa; add-1/2 smoothing.
        bounds = np.cumsum([0] + r["tokens_per_example"])
        fold = np.zeros(len(toks), bool)
        for i in range(1, n_examples, 2):
            fold[bounds[i]:bounds[i + 1]] = True
        nll = 0.0
        for a, bmask in ((fold, ~fold), (~fold, fold)):
            if not a.any() or not bmask.any():
                nll = float("nan")
                break
            c = np.bincount(toks[a], minlength=v).astype(np.float64)
            q = (c + 0.5) / (c.sum() + 0.5 * v)
            nll += float(-np.log2(q[toks[bmask]]).sum())
        r["unigram_heldout_bpb"] = nll / r["bytes"]


# ---------------------------------------------------------------------------
# KL divergence from uniform (Fig. 11)

def bit_ngram_kl(stream_bytes, max_n=16):
    """KL(empirical || uniform) in bits of overlapping bit n-grams, n = 1..max_n."""
    bits = np.unpackbits(np.frombuffer(stream_bytes, dtype=np.uint8)).astype(np.uint32)
    out, vals = [], None
    for n in range(1, max_n + 1):
        vals = bits.copy() if n == 1 else ((vals[:-1] << 1) | bits[n - 1:])
        out.append(n - entropy_bits(np.bincount(vals, minlength=1 << n)))
    return out


def token_kl(toks, v):
    return math.log2(v) - entropy_bits(np.bincount(toks, minlength=v))


def kl_study(rows):
    """Bit n-gram KL for every bitstream method, token KL for every row, each with a random
    baseline of the same length (os.urandom)."""
    streams = {}
    for r in rows:
        if r["stream"] is not None and r["key"] not in streams:
            streams[r["key"]] = (r["label"], r["stream"])
    bit_kl = {}
    for key, (label, s) in streams.items():
        rnd = os.urandom(len(s))
        bit_kl[key] = dict(label=label, bits=8 * len(s), kl=bit_ngram_kl(s), random=bit_ngram_kl(rnd))
    for r in rows:
        r["token_kl"] = token_kl(r["toks"], r["v"])
        if r["v"] <= 65536:
            nb = int(round(math.log2(r["v"])))
            rnd = np.frombuffer(os.urandom(len(r["toks"]) * 4), dtype=np.uint32) >> (32 - nb)
            r["token_kl_random"] = token_kl(rnd, r["v"])
        else:
            r["token_kl_random"] = float("nan")
    return bit_kl


# ---------------------------------------------------------------------------
# Token stability (Table 14, sec. 6.1)

def window_token_texts(example, meta, code, b, n_bits):
    """For each non-final window: [(position, token value, text)] using the helper's spans.
    The text of the token at position p is the bytes that the window's first p*N bits determine
    beyond those the first (p-1)*N bits determine (the last token gets the rest of the window)."""
    per_window = b // n_bits
    step = n_bits // 8
    out = []
    start = 0
    windows, spans = meta["windows"], meta["spans"]
    for i, k in enumerate(windows):
        d = spans[i]
        wcode = code[i * b // 8:(i + 1) * b // 8]
        if start + k < len(example):  # final windows are cut by the byte count: left out
            prev = 0
            toks = []
            for p in range(per_window):
                cut = d[(p + 1) * step - 1]
                value = int.from_bytes(wcode[p * step:(p + 1) * step], "big")
                toks.append((p + 1, value, example[start + prev:start + cut]))
                prev = cut
            out.append(toks)
        start += k
    return out


def check_spans(examples, enc_b):
    """Spans are monotone, end at k, and the windows' texts concatenate back to each example."""
    for ex, meta, code in zip(examples, enc_b["examples"], enc_b["codes"]):
        pieces, start = [], 0
        for k, d in zip(meta["windows"], meta["spans"]):
            assert d[-1] == k and all(x <= y for x, y in zip([0] + d, d)), (k, d)
            prev = 0
            for cut in d:
                pieces.append(ex[start + prev:start + cut])
                prev = cut
            start += k
        assert b"".join(pieces) == ex
        assert len(code) * 8 == meta["bits"]
    return True


def stability_study(examples, enc, spm_models):
    out = []
    for b, n in ((16, 8), (16, 16), (32, 16), (32, 8)):
        e = enc[f"eq{b}"]
        per_pos = {}
        for ex, meta, code in zip(examples, e["examples"], e["codes"]):
            for toks in window_token_texts(ex, meta, code, b, n):
                for pos, value, text in toks:
                    per_pos.setdefault(pos, {}).setdefault(value, {})
                    d = per_pos[pos][value]
                    d[text] = d.get(text, 0) + 1
        for pos in sorted(per_pos):
            out.append(stability_row(f"EqualInfoAC[b={b}, v={'256' if n == 8 else '65k'}]", b, n, pos,
                                     per_pos[pos]))
    for name, (proc, _) in spm_models.items():
        cache, mapping, concat_ok = {}, {}, True
        for ex in examples:
            ids = sp_tokens(proc, ex)
            rebuilt = []
            for pid in ids:
                t = piece_bytes(proc, pid, cache)
                mapping.setdefault(pid, {}).setdefault(t, 0)
                mapping[pid][t] += 1
                rebuilt.append(t)
            # SentencePiece adds a dummy-prefix space to every non-empty line.
            expect = b"\n".join((b" " + line) if line else line for line in ex.split(b"\n"))
            try:
                expect.decode("utf-8")
                concat_ok &= b"".join(rebuilt) == expect
            except UnicodeDecodeError:
                pass  # an example cut inside a UTF-8 character: count_tokens' byte rule, not exact
        row = stability_row(f"SentencePiece {name}", None, None, "any", mapping)
        row["concatenates_back"] = bool(concat_ok)
        out.append(row)
    return out


def eq_token_ranges(example, meta, code, b, n_bits):
    """(start, end, value) of every token of an example (spans as in window_token_texts; all windows)."""
    step, out, start = n_bits // 8, [], 0
    for i, (k, d) in enumerate(zip(meta["windows"], meta["spans"])):
        wcode = code[i * b // 8:(i + 1) * b // 8]
        prev = 0
        for p in range(b // n_bits):
            cut = d[(p + 1) * step - 1]
            out.append((start + prev, start + cut, int.from_bytes(wcode[p * step:(p + 1) * step], "big")))
            prev = cut
        start += k
    return out


def sp_token_ranges(processor, data):
    """(start, end, id) of the SentencePiece tokens of `data`, and the byte ranges of lines left out
    (lines with bytes that are not UTF-8, or whose pieces do not add up to the line)."""
    cache, out, skipped, pos = {}, [], [], 0
    newline = processor.piece_to_id("<0x0A>")
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            ranges = []
            if text is not None:
                at = pos - 1  # the dummy-prefix space SentencePiece puts before the line
                for pid in processor.encode(text):
                    t = piece_bytes(processor, pid, cache)
                    ranges.append((max(at, pos), at + len(t), pid))
                    at += len(t)
            if text is None or at != pos + len(line):
                skipped.append((pos, pos + len(line)))
            else:
                out.extend(ranges)
            pos += len(line)
        if i + 1 < len(lines):
            out.append((pos, pos + 1, newline))
            pos += 1
    return out, skipped


def word_study(examples, enc, spm_models, top=8):
    """The other direction of stability: for the most frequent words (' word', the space included),
    how many distinct token sequences cover their occurrences (tokens with a non-empty text that
    overlaps the word's bytes)."""
    import re
    pattern = re.compile(rb" [A-Za-z]{2,}(?![A-Za-z])")
    occ = []
    freq = {}
    for x, ex in enumerate(examples):
        for m in pattern.finditer(ex):
            occ.append((x, m.start(), m.end(), m.group()))
            freq[m.group()] = freq.get(m.group(), 0) + 1
    words = [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    methods = []
    for name, (proc, _) in spm_models.items():
        per = [sp_token_ranges(proc, ex) for ex in examples]
        methods.append((f"SentencePiece {name}", [p[0] for p in per], [p[1] for p in per]))
    for b, n in ((16, 8), (16, 16), (32, 16)):
        e = enc[f"eq{b}"]
        methods.append((f"EqualInfoAC[b={b}, v={'256' if n == 8 else '65k'}]",
                        [eq_token_ranges(ex, m, c, b, n) for ex, m, c in zip(examples, e["examples"], e["codes"])],
                        [[] for _ in examples]))
    skipped = [[r for _, _, sk in methods for r in sk[x]] for x in range(len(examples))]
    table = {w: {} for w in words}
    for label, ranges, _ in methods:
        arrays = []
        for rs in ranges:
            rs = [r for r in rs if r[1] > r[0]]
            arrays.append((np.array([r[1] for r in rs]), rs))
        seqs = {w: {} for w in words}
        for x, s0, e0, w in occ:
            if w not in seqs or any(a < e0 and s0 < b_ for a, b_ in skipped[x]):
                continue
            ends, rs = arrays[x]
            i = int(np.searchsorted(ends, s0, side="right"))
            toks = []
            while i < len(rs) and rs[i][0] < e0:
                toks.append(rs[i][2])
                i += 1
            t = tuple(toks)
            seqs[w][t] = seqs[w].get(t, 0) + 1
        for w in words:
            c = seqs[w]
            total = sum(c.values())
            table[w][label] = dict(occurrences=total, distinct=len(c),
                                   top_share=max(c.values()) / total if total else float("nan"))
    return dict(words=[w.decode() for w in words], methods=[m[0] for m in methods],
                table={w.decode(): table[w] for w in words})


def stability_row(label, b, n, pos, mapping):
    texts_per_value = np.array([len(t) for t in mapping.values()])
    occ = np.array([sum(t.values()) for t in mapping.values()])
    empty = sum(t.get(b"", 0) for t in mapping.values())
    top = sorted(mapping.items(), key=lambda kv: -sum(kv[1].values()))[:3]
    examples = [(value, sum(t.values()), sorted(t.items(), key=lambda kv: -kv[1])[:6], len(t)) for value, t in top]
    return dict(label=label, b=b, n=n, position=pos, values=int(len(mapping)), occurrences=int(occ.sum()),
                mean_texts=float(texts_per_value.mean()),
                weighted_texts=float((texts_per_value * occ).sum() / occ.sum()),
                share_multi=float((texts_per_value > 1).mean()),
                max_texts=int(texts_per_value.max()), empty_share=float(empty / occ.sum()),
                mean_bytes=float(sum(len(t) * c for d in mapping.values() for t, c in d.items()) / occ.sum()),
                examples=examples)


# ---------------------------------------------------------------------------
# Throughput

def time_cpu(fn, min_seconds=0.3):
    reps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        reps += 1
        c, w = time.process_time() - c0, time.perf_counter() - t0
        if c >= min_seconds or reps >= 50:
            return c / reps, w / reps


def throughput(examples, enc, spm_models):
    total = sum(len(e) for e in examples)
    rows = []
    c, w = time_cpu(lambda: [zlib.compress(e, zlib.Z_DEFAULT_COMPRESSION) for e in examples])
    rows.append(("GZip (Python zlib, level 6)", total / c, total / w))
    for name, (proc, _) in spm_models.items():
        c, w = time_cpu(lambda: [count_tokens(proc, e) for e in examples])
        rows.append((f"SentencePiece {name} (Python binding)", total / c, total / w))
    labels = {"static_ac": "StaticAC (C++, unigram)", "ac": "AC (C++, M1)",
              "eq16_greedy": "EqualInfoAC[b=16] plain greedy (M1)",
              "eq16_greedy_exact": "EqualInfoAC[b=16] greedy_exact (M1)"}
    for key in ["static_ac", "ac"] + [f"eq{b}" for b in WINDOW_BITS] + ["eq16_greedy", "eq16_greedy_exact"]:
        e = enc[key]
        label = labels.get(key, f"EqualInfoAC[b={key[2:]}] delay (M1)")
        rows.append((label, total / e["cpu_s"], total / e["wall_s"]))
    return rows


# ---------------------------------------------------------------------------
# Consistency with the eqinfo CLI

def cli_check(cli, m1, unigram, example, enc, work):
    """The helper's codes equal the CLI's tokens (raw, N=8) on the first example."""
    p = Path(work) / "cli_check.txt"
    p.write_bytes(example)
    checks = {}
    for key, model, opts in [("ac", m1, ["--method", "ac"]), ("static_ac", unigram, ["--method", "static-ac"]),
                             ("eq16", m1, ["--method", "equal-info", "-b", "16"]),
                             ("eq32", m1, ["--method", "equal-info", "-b", "32"])]:
        out = Path(work) / f"cli_check.{key}.raw"
        subprocess.run(["nice", "-n", "10", str(cli), "encode", "--model", str(model), *opts, "-N", "8",
                        "--format", "raw", "-o", str(out), str(p)], check=True, capture_output=True)
        checks[key] = out.read_bytes() == enc[key]["codes"][0]
    return checks
