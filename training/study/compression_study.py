#!/usr/bin/env python3
"""Compression study: our methods against the paper's Tables 1, 3, 12, 14 and Fig. 11.

    /usr/bin/python3 -m training.study.compression_study [--model M1] [--cli PATH] [--jobs 2] ...
    /usr/bin/python3 -m training.study.compression_study --smoke --work /tmp/s   # ~20 s, no corpus needed

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
# This module is the command (flags, the sample, the models, the session); the measurements
# are in measure.py, the plots and the Markdown report in report.py.
import argparse
import datetime
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from training.common import cpu_name, sha256_file
from training.common import find_cli as _find_cli
from training.study.measure import (build_methods, check_spans, cli_check, helper_configs, kl_study, load_encoding,
                                    log, run_encodings, stability_study, throughput, trivial_models, word_study)
from training.study.report import plots, report
from training.train_sentencepiece import train as train_spm

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BYTES = 10240


# ---------------------------------------------------------------------------
# Small utilities

def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def find_cli(explicit):
    cli = _find_cli(explicit)
    if cli is None:
        sys.exit("compression_study: no eqinfo CLI found; build it (see README) and pass --cli PATH")
    return Path(cli)


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
# Main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="M1 file (default: models/m1/m1.safetensors, else models/m1-small-wip/...)")
    ap.add_argument("--cli", help="eqinfo CLI (default: $EQINFO_CLI, else the newest optimised build*/tools/eqinfo)")
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
        unigram_desc = "given with --unigram"
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
        command="/usr/bin/python3 -m training.study.compression_study" + (" " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv if argv is not None else sys.argv[1:]) else ""),
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
