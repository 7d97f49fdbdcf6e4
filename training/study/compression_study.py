#!/usr/bin/env python3
"""Compression study: our methods against the paper's Tables 1, 3, 12, 14 and Fig. 11.

    /usr/bin/python3 training/study/compression_study.py [--model M1] [--cli PATH] [--jobs 2] ...
    /usr/bin/python3 training/study/compression_study.py --smoke --work /tmp/s   # ~20 s, no corpus needed

Writes docs/results/compression.md and docs/results/compression/*.png (the smoke mode
writes under --work instead). What it measures, on a fixed held-out sample of 10,240-byte
examples (each example is encoded on its own, as in the paper):

* token compression ratio (bytes / tokens) and bit compression ratio (input bits / output
  bits, a token of vocabulary v counting log2(v) bits) of Bytes, SentencePiece, GZip,
  StaticAC, AC and EqualInfoAC[b, v] (Tables 1, 12), and plain greedy vs the exact rules at b=16;
* the bits/byte of a uniform and a unigram model over each method's tokens (Table 3);
* the KL divergence from uniform of bit n-grams (n = 1..16) and of N-bit tokens, with a
  random-bits baseline of the same length (Fig. 11);
* token stability of EqualInfoAC: how many distinct texts one token value stands for at each
  position of a window, against SentencePiece (Table 14, sec. 6.1);
* throughput of every method on this machine.

Encoding with M1 runs in the C++ helper study_encode (training/study/study_encode.cpp, built
here into build/study with CMake if missing), `--jobs` processes at a time under `nice`.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))
from train_sentencepiece import count_tokens  # noqa: E402
from train_sentencepiece import train as train_spm  # noqa: E402

EXAMPLE_BYTES = 10240
WINDOW_BITS = (16, 24, 32, 64, 128)

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
# Small utilities

def sha256_file(path, n=None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n] if n else h.hexdigest()


def log(msg):
    print(f"[study {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def entropy_bits(counts):
    counts = counts[counts > 0].astype(np.float64)
    n = counts.sum()
    p = counts / n
    return float(-(p * np.log2(p)).sum())


def find_cli(explicit):
    if explicit:
        return Path(explicit)
    for c in [ROOT / "build/helper-study/tools/eqinfo", ROOT / "build-cli/eqinfo", ROOT / "build/tools/eqinfo",
              ROOT / "build-lead/tools/eqinfo"]:
        if c.exists():
            return c
    sys.exit("compression_study: no eqinfo CLI found; build it (see README) and pass --cli PATH")


def build_helper(build_dir):
    exe = Path(build_dir) / "study_encode"
    src = ROOT / "training/study/study_encode.cpp"
    if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
        return exe
    log(f"building the helper into {build_dir}")
    subprocess.run(["cmake", "-S", str(ROOT / "training/study"), "-B", str(build_dir),
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "-n", "10", "cmake", "--build", str(build_dir), "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    return exe


# ---------------------------------------------------------------------------
# The sample

def heldout_sample(data_dir, per_source, example_bytes):
    """K examples from each held-out source file, at evenly spaced offsets."""
    files = sorted(Path(data_dir, "heldout").glob("*.txt"))
    if not files:
        sys.exit(f"compression_study: no held-out sources in {data_dir}/heldout (scripts/prepare-data.sh)")
    return sample_from_files(files, per_source, example_bytes)


def sample_from_files(files, per_source, example_bytes, skip=0):
    parts, where = [], []
    for f in files:
        data = Path(f).read_bytes()[skip:]
        if len(data) < example_bytes:
            continue
        for i in range(per_source):
            off = (len(data) - example_bytes) * (2 * i + 1) // (2 * per_source)
            parts.append(data[off:off + example_bytes])
            where.append((Path(f).name, off + skip))
    return parts, where


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


# ---------------------------------------------------------------------------
# Plots

def plots(res, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    rows = res["rows"]
    files = {}

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
    fig.tight_layout()
    files["ratio"] = outdir / "token_ratio.png"
    fig.savefig(files["ratio"], dpi=110)
    plt.close(fig)

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
    fig.tight_layout()
    files["trivial"] = outdir / "trivial_models.png"
    fig.savefig(files["trivial"], dpi=110)
    plt.close(fig)

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
    fig.tight_layout()
    files["kl_bits"] = outdir / "kl_bits.png"
    fig.savefig(files["kl_bits"], dpi=110)
    plt.close(fig)

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
    fig.tight_layout()
    files["kl_tokens"] = outdir / "kl_tokens.png"
    fig.savefig(files["kl_tokens"], dpi=110)
    plt.close(fig)

    # Token stability.
    st = res["stability"]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(st) + 1.2))
    y = np.arange(len(st))
    ax.barh(y, [s["weighted_texts"] for s in st], 0.6)
    ax.set_yticks(y, [f"{s['label']} pos {s['position']}" for s in st], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("distinct texts per token value (occurrence-weighted mean)")
    fig.tight_layout()
    files["stability"] = outdir / "stability.png"
    fig.savefig(files["stability"], dpi=110)
    plt.close(fig)

    # Throughput.
    tp = res["throughput"]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(tp) + 1.2))
    y = np.arange(len(tp))
    ax.barh(y, [t[1] / 1e6 for t in tp], 0.6)
    ax.set_xscale("log")
    ax.set_yticks(y, [t[0] for t in tp], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MB of input per CPU-second, one thread")
    fig.tight_layout()
    files["throughput"] = outdir / "throughput.png"
    fig.savefig(files["throughput"], dpi=110)
    plt.close(fig)
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
    rows, a = res["rows"], res["args"]
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


# ---------------------------------------------------------------------------
# Main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="M1 file (default: models/m1/m1.safetensors, else models/m1-small-wip/...)")
    ap.add_argument("--cli", help="eqinfo CLI (default: build/helper-study/tools/eqinfo or another build)")
    ap.add_argument("--data-dir", default=os.path.expanduser("~/.cache/eqinfo/data"))
    ap.add_argument("--input", help="encode this file (its first --max-bytes, cut into examples) instead of "
                                    "the held-out sample")
    ap.add_argument("--max-bytes", type=int, default=262144)
    ap.add_argument("--per-source", type=int, default=4, help="examples per held-out source (default 4)")
    ap.add_argument("--example-bytes", type=int, default=EXAMPLE_BYTES)
    ap.add_argument("--spm", nargs="*", help="SentencePiece models (default: models/spm/en32k.model, en8k.model)")
    ap.add_argument("--unigram", help="StaticAC model (default: eqinfo train-unigram on DATA_DIR/train.txt)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "build/study-work"))
    ap.add_argument("--helper-build", default=str(ROOT / "build/study"))
    ap.add_argument("--out", help="markdown report (default docs/results/compression.md; --smoke: WORK/compression.md)")
    ap.add_argument("--results-json", help="also write the numbers here (default WORK/results.json)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse WORK/enc when sample, models, helper and settings are unchanged (for editing the "
                         "report; throughput then comes from that earlier run)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few KB of data/sample, a random tiny M1, a tiny SentencePiece: checks the pipeline")
    args = ap.parse_args(argv)

    t_start = time.time()
    load_start = loadavg()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli = find_cli(args.cli)
    helper = build_helper(args.helper_build)

    if args.smoke:
        sample_dir = ROOT / "data/sample"
        fit = work / "smoke_fit.txt"
        fit.write_bytes((sample_dir / "sotu_sample.txt").read_bytes()[:143000])
        if args.example_bytes == EXAMPLE_BYTES:
            args.example_bytes = 2048
        # two examples from each sample file; the sotu ones from after the fitting text
        examples, where = [], []
        sotu = (sample_dir / "sotu_sample.txt").read_bytes()[143000:]
        jarg = (sample_dir / "jargon_sample.txt").read_bytes()
        for name, data, base in (("sotu_sample.txt", sotu, 143000), ("jargon_sample.txt", jarg, 0)):
            for i in range(2):
                off = (len(data) - args.example_bytes) * (2 * i + 1) // 4
                examples.append(data[off:off + args.example_bytes])
                where.append((name, base + off))
        m1 = Path(args.model) if args.model else work / "smoke_m1.safetensors"
        if not args.model:
            subprocess.run([str(cli), "m1-random", "--layers", "1", "--d-model", "32", "--heads", "2",
                            "--head-dim", "16", "--d-ff", "64", "--context", "128", "-o", str(m1)], check=True,
                           capture_output=True)
        unigram_src = fit
        spm_paths = {}
        if args.spm:
            spm_paths = {Path(p).stem: Path(p) for p in args.spm}
        else:
            prefix = work / "smoke_sp500"
            if not Path(str(prefix) + ".model").exists():
                sp_fit = work / "smoke_fit_lines.txt"  # the speeches are single long lines: one sentence a line
                sp_fit.write_bytes(fit.read_bytes().replace(b". ", b".\n"))
                train_spm(str(sp_fit), str(prefix), 500, 100000, 1)
            spm_paths = {"500 (smoke)": Path(str(prefix) + ".model")}
        input_desc = (f"smoke mode: {len(examples)} examples of {args.example_bytes:,} bytes from data/sample "
                      f"({', '.join(f'{n}@{o}' for n, o in where)}); unigram and SentencePiece fitted on the "
                      "first 143,000 bytes of sotu_sample.txt.")
    else:
        if args.input:
            data = Path(args.input).read_bytes()[:args.max_bytes]
            examples = [data[i:i + args.example_bytes] for i in range(0, len(data), args.example_bytes)]
            where = [(Path(args.input).name, i) for i in range(0, len(data), args.example_bytes)]
            input_desc = (f"the first {len(data):,} bytes of `{args.input}`, cut into {len(examples)} examples of "
                          f"{args.example_bytes:,} bytes.")
        else:
            examples, where = heldout_sample(args.data_dir, args.per_source, args.example_bytes)
            by_src = {}
            for n, o in where:
                by_src.setdefault(n, []).append(o)
            input_desc = (f"{len(examples)} examples of {args.example_bytes:,} bytes "
                          f"({sum(map(len, examples)):,} bytes): {args.per_source} from each held-out source "
                          f"in `{args.data_dir}/heldout/` (training/DATA.md), at evenly spaced offsets "
                          "(example i of K starts at (size - 10240) x (2i + 1) / 2K): "
                          + "; ".join(f"{n} @ {', '.join(map(str, o))}" for n, o in by_src.items())
                          + ". These sources are held out of train/valid/test (training/DATA.md), so M1, the "
                          "unigram and SentencePiece never saw them.")
        m1 = Path(args.model) if args.model else next(
            (p for p in [ROOT / "models/m1/m1.safetensors", ROOT / "models/m1-small-wip/m1.safetensors"]
             if p.exists()), None)
        if m1 is None or not m1.exists():
            sys.exit("compression_study: no M1 model; pass --model")
        unigram_src = Path(args.data_dir) / "train.txt"
        paths = args.spm if args.spm is not None else [ROOT / "models/spm/en32k.model", ROOT / "models/spm/en8k.model"]
        spm_paths = {}
        for p in map(Path, paths):
            if p.exists():
                spm_paths[p.stem.replace("en", "")] = p
            else:
                log(f"SentencePiece model {p} missing: skipped")

    # StaticAC's unigram model.
    if args.unigram:
        unigram = Path(args.unigram)
        unigram_desc = f"given with --unigram"
    else:
        unigram = work / ("smoke.unigram" if args.smoke else "train.unigram")
        r = subprocess.run([str(cli), "train-unigram", str(unigram_src), "-o", str(unigram)], check=True,
                           capture_output=True, text=True)
        unigram_desc = f"`eqinfo train-unigram {os.path.relpath(unigram_src, ROOT) if str(unigram_src).startswith(str(ROOT)) else unigram_src}`: " + \
            r.stderr.strip().splitlines()[0].replace("eqinfo: ", "")

    import sentencepiece as spm
    spm_models = {n: (spm.SentencePieceProcessor(model_file=str(p)), p) for n, p in spm_paths.items()}

    sample_path = work / "sample.bin"
    sample_path.write_bytes(b"".join(examples))
    assert all(len(e) == args.example_bytes for e in examples), "every example must be full length"
    key = dict(sample=sha256_file(sample_path), m1=sha256_file(m1), unigram=sha256_file(unigram),
               helper=sha256_file(helper), example_bytes=args.example_bytes, jobs=args.jobs,
               configs=[(n, o) for n, _, o in helper_configs(m1, unigram)])
    key_path = work / "enc" / "key.json"
    reused = None
    if args.reuse and key_path.exists() and json.loads(key_path.read_text())["key"] == key:
        reused = json.loads(key_path.read_text())["date"]
        log(f"reusing the encodings of {reused} (--reuse)")
        enc = {n: load_encoding(work / "enc", n) for n, _, _ in helper_configs(m1, unigram)}
    else:
        for f in (work / "enc").glob("*") if (work / "enc").exists() else []:
            f.unlink()
        log(f"{len(examples)} examples, {sum(map(len, examples)):,} bytes; M1 {m1}; {args.jobs} jobs")
        enc = run_encodings(helper, sample_path, len(examples), args.example_bytes,
                            helper_configs(m1, unigram), work, args.jobs)
        key_path.write_text(json.dumps(dict(key=key, date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                                            load_end=loadavg())))
    log("encodings done; analysing")
    load_end = loadavg() if not reused else tuple(json.loads(key_path.read_text())["load_end"])

    log2v = lambda v: math.log2(v)  # noqa: E731
    rows = build_methods(examples, enc, spm_models, log2v)
    trivial_models(rows, len(examples))
    bit_kl = kl_study(rows)
    spans_ok = check_spans(examples, enc["eq16"]) and check_spans(examples, enc["eq32"])
    stability = stability_study(examples, enc, spm_models)
    words = word_study(examples, enc, spm_models)
    tp = throughput(examples, enc, spm_models)
    checks = cli_check(cli, m1, unigram, examples[0], enc, work)

    window_rules = {}
    for name in ("eq16_greedy", "eq16", "eq16_greedy_exact"):
        e = enc[name]
        windows = sum(len(x["windows"]) for x in e["examples"])
        d = dict(windows=windows, bytes_per_window=sum(x["bytes"] for x in e["examples"]) / windows)
        if name == "eq16_greedy":
            nonfinal = windows - len(e["examples"])
            d.update(nonfinal=nonfinal, misread_delay_pct=100 * e["misread_by_delay"] / nonfinal,
                     misread_greedy_exact_pct=100 * e["misread_by_greedy_exact"] / nonfinal,
                     zero_bit_end_pct=100 * e["zero_bit_end"] / nonfinal)
        window_rules[name] = d

    with open(m1, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    m1_config = header.get("__metadata__", {}).get("config", "?")
    busy = load_start[0] > 1.5  # at the end the load includes this run's own --jobs
    res = dict(
        command="/usr/bin/python3 training/study/compression_study.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv if argv is not None else sys.argv[1:]) else ""),
        date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine=f"{cpu_name()}, {os.cpu_count()} cores",
        load_start=load_start, load_end=load_end,
        busy_note=": the machine was busy with other work, so wall times are pessimistic" if busy else "",
        other_load=f"other processes (load average {load_start[0]:.1f} -> {load_end[0]:.1f})",
        input_desc=input_desc, args=vars(args),
        m1=dict(path=os.path.relpath(m1, ROOT) if str(m1).startswith(str(ROOT)) else str(m1),
                fingerprint=enc["ac"]["fingerprint"], sha256=sha256_file(m1, 16), config=m1_config),
        unigram=dict(path=os.path.relpath(unigram, ROOT) if str(unigram).startswith(str(ROOT)) else str(unigram),
                     fingerprint=enc["static_ac"]["fingerprint"], desc=unigram_desc),
        spm_paths={n: os.path.relpath(p, ROOT) if str(p).startswith(str(ROOT)) else str(p)
                   for n, p in spm_paths.items()},
        rows=rows, bit_kl=bit_kl, stability=stability, throughput=tp, cli_check=checks, spans_ok=spans_ok,
        window_rules=window_rules, where=where, reused=reused, words=words, n_examples=len(examples), sample_bytes=sum(map(len, examples)))
    res["elapsed_s"] = time.time() - t_start

    md = Path(args.out) if args.out else (work / "compression.md" if args.smoke else
                                          ROOT / "docs/results/compression.md")
    md.parent.mkdir(parents=True, exist_ok=True)
    files = plots(res, md.parent / md.stem)
    res["elapsed_s"] = time.time() - t_start
    report(res, md, files)
    out_json = Path(args.results_json) if args.results_json else work / "results.json"
    slim = dict(res)
    slim["rows"] = [{k: v for k, v in r.items() if k not in ("toks", "stream")} for r in rows]
    slim["stability"] = [{k: (v if k != "examples" else [(a, b, [(t.hex(), c) for t, c in tx], n)
                                                          for a, b, tx, n in v]) for k, v in s.items()}
                         for s in stability]
    out_json.write_text(json.dumps(slim, indent=1, default=str))
    log(f"wrote {md} and {out_json} in {res['elapsed_s']:.0f} s")
    return res


if __name__ == "__main__":
    main()
