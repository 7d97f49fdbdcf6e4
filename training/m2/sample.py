#!/usr/bin/python3
"""Samples tokens from a trained M2 and decodes them to text.

    /usr/bin/python3 -m training.m2.sample --model runs/m2-eq16/model.pt --shards shards/eq16/valid \
        --eqinfo-cli build/release/tools/eqinfo --tokens 256 --temperature 0.8 --prompt-example 0 --prompt-tokens 64

The sequence starts from BOS (plus, with --prompt-example/--prompt-tokens, the first tokens of a
held-out example, printed separately) and is drawn token by token with a KV cache
(temperature, optional top-k). Decoding follows the shards' method (from their manifest):

* equal-info, ac, static-ac: eqinfo's bare decoding with the manifest's settings and model
  (--eqinfo-model overrides the model path): `eqinfo decode --bare --format npy` with
  --eqinfo-cli, else the Python bindings (`import eqinfo`, python/) when they are built,
  else the CLI from $EQINFO_CLI, a build here or PATH. Bare decoding
  never fails on in-range tokens (docs/format.md §6); equal-info samples are cut to whole
  windows of b/N tokens first, because a window decodes on its own;
* gzip: zlib, keeping what decompresses before the stream ends or breaks;
* sentencepiece: the shard directory's sentencepiece.model;
* bytes: the tokens are the bytes.

Writes OUT.tokens.npy and OUT.txt (the decoded bytes) with --out, and prints the text. With the
Python bindings built and no --eqinfo-cli, bytes and equal-info samples are printed while they are
drawn (eqinfo's streaming decoder: each window's text as soon as its last token is sampled).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from typing import List, Optional

import numpy as np
import torch
from eqinfo.shards import USER_METHODS  # the methods eqinfo codes, by the names its CLI and Tokenizer take

from training import common
from training.m2.evaluate import load_model
from training.m2.shards import ShardSet


@torch.no_grad()
def sample(model, n_tokens: int, prompt: Optional[np.ndarray] = None, temperature: float = 1.0, top_k: int = 0,
           seed: int = 0, device="cpu", on_token=None) -> np.ndarray:
    """n_tokens new tokens after [BOS] + prompt (at most context - 1 - len(prompt)); on_token(t) is
    called with each one as it is drawn."""
    c = model.config
    prompt = np.zeros(0, dtype=np.int64) if prompt is None else np.asarray(prompt, dtype=np.int64)
    n_tokens = min(n_tokens, c.context - 1 - len(prompt))
    if n_tokens < 1:
        raise ValueError("sample: the prompt leaves no room in the context")
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    cache = model.init_cache(1, device=device)
    ids = [c.bos] + [int(t) for t in prompt]
    logits = None
    for t in ids:
        logits = model.step(torch.tensor([[t]], device=device), cache)
    out = []
    for i in range(n_tokens):
        lg = logits[0].float().cpu()
        if temperature <= 0:
            nxt = int(lg.argmax())
        else:
            lg = lg / temperature
            if top_k > 0:
                kth = torch.topk(lg, min(top_k, lg.numel())).values[-1]
                lg = lg.masked_fill(lg < kth, float("-inf"))
            nxt = int(torch.multinomial(torch.softmax(lg, dim=-1), 1, generator=g))
        out.append(nxt)
        if on_token is not None:
            on_token(nxt)
        if i + 1 < n_tokens:
            logits = model.step(torch.tensor([[nxt]], device=device), cache)
    return np.array(out, dtype=np.int64)


def _npy_dtype(token_bits: int) -> str:
    return "|u1" if token_bits <= 8 else ("<u2" if token_bits <= 16 else "<u4")


def find_cli(path: Optional[str]) -> str:
    cli = common.find_cli(path)
    if cli is not None:
        return cli
    raise SystemExit("sample: no eqinfo CLI: give --eqinfo-cli PATH (e.g. build/release/tools/eqinfo) or set EQINFO_CLI")


def manifest_model_path(shards: ShardSet) -> Optional[str]:
    path = shards.manifest["model"]["path"]
    if shards.model_kind in ("uniform", "none") or not path:
        return None
    for cand in (path, os.path.join(shards.path, path)):
        if os.path.exists(cand):
            return cand
    raise SystemExit(f"sample: the shards' model file {path} is not there; give --eqinfo-model")


def eqinfo_decode_bare(tokens: np.ndarray, shards: ShardSet, cli: str, model: Optional[str]) -> bytes:
    """Bare decoding with the CLI and the shards' settings."""
    method = shards.method
    if method not in USER_METHODS:
        raise SystemExit(f"sample: eqinfo does not decode method {shards.method!r}")
    n = shards.token_bits or 8
    cmd = [cli, "decode", "--bare", "--format", "npy", "--method", method]
    if method != "bytes":
        cmd += ["-N", str(n)]
        if shards.precision_bits:
            cmd += ["-P", str(shards.precision_bits)]
    if method == "equal-info":
        cmd += ["-b", str(shards.window_bits)]
        if shards.rule:
            cmd += ["--rule", str(shards.rule).replace("_", "-")]
    if model:
        cmd += ["--model", model]
    d = tempfile.mkdtemp(prefix="m2-sample-")
    try:
        src, dst = os.path.join(d, "tokens.npy"), os.path.join(d, "out.bin")
        np.save(src, tokens.astype(np.dtype(_npy_dtype(n))))
        r = subprocess.run(cmd + ["-o", dst, src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        with open(dst, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def decode(tokens: np.ndarray, shards: ShardSet, cli: Optional[str] = None,
           eqinfo_model: Optional[str] = None) -> bytes:
    method = shards.method
    if method == "bytes":
        return np.asarray(tokens, dtype=np.uint8).tobytes()
    if method == "gzip":
        from training.m2.make_shards import gzip_decode
        wrapper = shards.manifest["settings"].get("gzip_wrapper", "zlib")
        return gzip_decode(tokens, shards.token_bits, wrapper, strict=False)
    if method == "sentencepiece":
        from training.m2.make_shards import SP_MODEL_FILE, sp_decode, sp_processor
        name = shards.manifest["model"]["path"] or SP_MODEL_FILE
        return sp_decode(sp_processor(os.path.join(shards.path, name)), tokens)
    w = shards.window_tokens
    if w:
        tokens = tokens[:len(tokens) - len(tokens) % w]
    if cli is None:
        tok = bindings_tokenizer(shards, eqinfo_model)
        if tok is not None:      # the Python bindings (python/), when built: no subprocess
            return bytes(tok.decode_bare(np.asarray(tokens)))
    return eqinfo_decode_bare(tokens, shards, find_cli(cli), eqinfo_model or manifest_model_path(shards))


def bindings_tokenizer(shards: ShardSet, eqinfo_model: Optional[str] = None):
    """An eqinfo.Tokenizer with the shards' settings and model, or None without the bindings
    (or for a method eqinfo does not code)."""
    bindings = _bindings()
    if bindings is None or shards.method not in USER_METHODS:
        return None
    model = eqinfo_model or manifest_model_path(shards)
    return bindings.Tokenizer(model or "uniform", method=shards.method,
                              window_bits=shards.window_bits or 16, token_bits=shards.token_bits or 8,
                              precision=shards.precision_bits, rule=str(shards.rule or "delay").replace("_", "-"),
                              segment_bytes=shards.manifest["settings"].get("segment_bytes") or 0)


class LivePrinter:
    """Prints a sample's text while it is drawn: eqinfo's streaming decoder turns each window's tokens
    into bytes as soon as the window's last token arrives (the bytes decode_bare gives for the whole
    sample), and whole UTF-8 characters are printed at once."""

    def __init__(self, tok, prompt: Optional[np.ndarray]):
        import eqinfo
        self.decoder = tok.stream_decoder()
        self.chars = eqinfo.Utf8Stream()
        self.data = bytearray(self.decoder.push(np.asarray(prompt if prompt is not None else [], dtype=np.int64)))
        self.chars.push(bytes(self.data))   # the prompt's text is printed before

    def __call__(self, token: int) -> None:
        out = self.decoder.push(int(token))
        self.data += out
        print(self.chars.push(out), end="", flush=True)

    def finish(self) -> bytes:
        self.decoder.finish()               # tokens after the last whole window decode to nothing
        print(self.chars.finish(), flush=True)
        return bytes(self.data)


def _bindings():
    try:
        import eqinfo
        eqinfo.__version__        # loads the C++ extension: ImportError where it is not built
    except ImportError:
        return None
    return eqinfo


def main(argv: Optional[List[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model.pt or checkpoint.pt of train_m2.py")
    p.add_argument("--shards", help="a shard directory of the model's method (settings, decoding, prompts); "
                                    "default: the training shards recorded in the model")
    p.add_argument("--tokens", type=int, default=256, help="tokens to sample (at most the context minus 1)")
    p.add_argument("--temperature", type=float, default=1.0, help="0: greedy")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num", type=int, default=1, help="samples (seeds seed, seed+1, ...)")
    p.add_argument("--prompt-example", type=int, help="prompt with the start of this example of --shards")
    p.add_argument("--prompt-tokens", type=int, default=0)
    p.add_argument("--eqinfo-cli", help="the eqinfo tool (default: $EQINFO_CLI or eqinfo on PATH)")
    p.add_argument("--eqinfo-model", help="the M1/unigram model file the shards were made with (default: manifest)")
    p.add_argument("--no-decode", action="store_true", help="print the tokens only")
    p.add_argument("--out", help="write OUT[.N].tokens.npy and OUT[.N].txt")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    model = load_model(args.model, args.device)
    shard_dir = args.shards
    if not shard_dir:
        shard_dir = torch.load(args.model, map_location="cpu").get("data", {}).get("train")
    shards = ShardSet(shard_dir, check_tokens=False) if shard_dir else None
    prompt = None
    if args.prompt_example is not None:
        if shards is None:
            raise SystemExit("sample: --prompt-example needs --shards")
        prompt = shards.example_tokens(args.prompt_example)[:args.prompt_tokens].astype(np.int64)
    # Live printing needs the bindings' streaming decoder (bytes and equal-info; ac is one code).
    live_tok = None
    if not args.no_decode and shards is not None and args.eqinfo_cli is None \
            and shards.method in ("bytes", "equal-info"):
        live_tok = bindings_tokenizer(shards, args.eqinfo_model)
    results = []
    for i in range(args.num):
        text = None
        decoding = not args.no_decode and shards is not None
        if decoding and prompt is not None and len(prompt):
            print(f"--- prompt ({len(prompt)} tokens):\n"
                  f"{decode(prompt, shards, args.eqinfo_cli, args.eqinfo_model).decode('utf-8', 'replace')}")
        heading = f"--- sample {i} ({args.tokens} tokens{', after the prompt' if prompt is not None else ''}):"
        if live_tok is not None:
            print(heading, flush=True)
            printer = LivePrinter(live_tok, prompt)
            toks = sample(model, args.tokens, prompt, args.temperature, args.top_k, args.seed + i, args.device,
                          on_token=printer)
            text = printer.finish()   # the prompt's and the sample's bytes: the sample continues its window
        else:
            toks = sample(model, args.tokens, prompt, args.temperature, args.top_k, args.seed + i, args.device)
            if decoding:
                # decode prompt + sample together: the sample continues the prompt's window/stream
                full = np.concatenate([prompt, toks]) if prompt is not None else toks
                text = decode(full, shards, args.eqinfo_cli, args.eqinfo_model)
                print(f"{heading}\n{text.decode('utf-8', 'replace')}")
            else:
                print(" ".join(str(int(t)) for t in toks))
        if args.out:
            base = args.out if args.num == 1 else f"{args.out}.{i}"
            np.save(base + ".tokens.npy", toks)
            if text is not None:
                with open(base + ".txt", "wb") as f:
                    f.write(text)
        results.append({"tokens": toks, "text": text})
    return {"samples": results}


if __name__ == "__main__":
    main()
