#!/usr/bin/python3
"""Evaluates an M2 on held-out token shards with the paper's metrics (sec. 3.8, App. D.4).

    /usr/bin/python3 -m training.m2.evaluate --model runs/m2-eq16/model.pt --shards shards/eq16/valid
    /usr/bin/python3 -m training.m2.evaluate --model runs/m2-eq16/checkpoint.pt --shards DIR --max-examples 32

Every token of every evaluated example is scored once: each example's tokens are cut into
consecutive sequences of the model's context ("split" packing), the first token of each
sequence predicted from BOS. So

    bits/byte     = (sum of the tokens' NLL in nats) / ln 2 / (sum of the examples' true byte
                    counts, from the index)
                  = (tokens / bytes) * (mean NLL in nats) / ln 2            (the paper's formula)
    uniform_bpb   = log2(vocab_size) * tokens / bytes                       (the method's uniform baseline)
    FLOPs/byte    = 2 * (M2 non-embedding parameters) / (bytes per token)
                    + 2 * (M1 non-embedding parameters)                     (AC and EqualInfoAC with M1 only)
    bytes/step    = bytes per token (bytes produced per decoder step)

The M1 parameter count comes from --m1-params, --m1-model (an eqinfo M1 model file), or the
shard manifest (a parameter count, an M1 config, or the model file's path), in that order.
For equal-info shards with b/N > 1 tokens per window, accuracy and bits/token are also
reported by position within the window (the paper's Fig. 10): windows start at every
example's token 0, so a token's window position is its index in the example mod b/N.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from training.m2.model import M2, M2Config
from training.m2.shards import M1_METHODS, SEQ_POS, ShardSet

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- M1's size

def m1_config_params(config: dict) -> int:
    from training.eqinfo_m1 import M1Config
    return M1Config.from_dict(config).non_embedding_parameters()


def m1_file_params(path: str) -> int:
    """Non-embedding parameters of an eqinfo M1 model file (its metadata config)."""
    from training.eqinfo_m1 import read_safetensors
    _, meta, _ = read_safetensors(path)
    if "config" not in meta:
        raise ValueError(f"{path}: no M1 config in the metadata (not an eqinfo M1 file?)")
    return m1_config_params(json.loads(meta["config"]))


def m1_params(shards: ShardSet, m1_params_override: Optional[int] = None,
              m1_model: Optional[str] = None) -> Optional[int]:
    """M1 non-embedding parameters for FLOPs/byte. 0 for methods without M1 (Bytes, GZip,
    SentencePiece, StaticAC) and for AC/EqualInfoAC shards the manifest says were made with
    the uniform or a unigram model; otherwise --m1-params, --m1-model, or the manifest (a
    count, an M1 config, or the model file's path); None if unknown."""
    if shards.method not in M1_METHODS:
        return 0
    model = shards.manifest["model"]          # kind, path, fingerprint; ShardWriter may add config
    if shards.model_kind in ("uniform", "unigram", "none"):
        return 0
    if m1_params_override is not None:
        return int(m1_params_override)
    if m1_model:
        return m1_file_params(m1_model)
    if isinstance(model.get("non_embedding_parameters"), int):
        return model["non_embedding_parameters"]
    cfg = model.get("config")
    if isinstance(cfg, str):
        cfg = json.loads(cfg)
    if isinstance(cfg, dict):
        return m1_config_params(cfg)
    path = model["path"]
    if isinstance(path, str) and path:
        for cand in (path, os.path.join(shards.path, path)):
            if os.path.isfile(cand):
                with open(cand, "rb") as f:
                    head = f.read(9)
                if len(head) == 9 and head[8:9] == b"{":     # safetensors: an M1 file
                    return m1_file_params(cand)
                return 0                                      # a unigram model file
    return None


# --------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: torch.nn.Module, shards: ShardSet, device, batch_size: int = 16, max_examples: int = 0,
             amp: bool = False, rank: int = 0, world: int = 1, m1_non_embedding: Optional[int] = None,
             progress: bool = False) -> Dict:
    """The metrics of the module docstring on the first max_examples examples (0: all).
    With world > 1 (torch.distributed initialised), each rank scores examples i = rank
    mod world and the sums are all-reduced: every rank returns the same dict."""
    core = model.module if hasattr(model, "module") else model
    config: M2Config = core.config
    if shards.vocab_size is not None and shards.vocab_size > config.vocab_size:
        raise ValueError(f"evaluate: the shards' vocabulary ({shards.vocab_size}) exceeds the model's "
                         f"({config.vocab_size})")
    n_ex = shards.n_examples if max_examples <= 0 else min(max_examples, shards.n_examples)
    mine = np.arange(rank, n_ex, world, dtype=np.int64)
    seqs = shards.sequences(config.context, "split", examples=mine)
    w = shards.window_tokens if (shards.window_tokens or 0) > 1 else None
    nw = w or 1
    # float64 sums: nll, tokens, correct, bytes, then per window position: nll, correct, count
    sums = torch.zeros(4 + 3 * nw, dtype=torch.float64)
    sums[3] = float(shards.examples[mine, 3].sum()) if len(mine) else 0.0
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(seqs), unit="seq", desc="eval", file=sys.stderr, dynamic_ncols=True, leave=False)
    for i in range(0, len(seqs), batch_size):
        rows = seqs[i:i + batch_size]
        inp, tgt, mask = shards.batch(rows, config.bos)
        inp_t = torch.from_numpy(inp).to(device)
        tgt_t = torch.from_numpy(tgt).to(device)
        mask_t = torch.from_numpy(mask).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
            logits = core(inp_t)
        logits = logits.float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_t.reshape(-1),
                              reduction="none").view_as(mask_t)
        correct = (logits.argmax(dim=-1) == tgt_t).float()
        nll, correct, m = nll.double().cpu(), correct.double().cpu(), mask_t.double().cpu()
        sums[0] += (nll * m).sum()
        sums[1] += m.sum()
        sums[2] += (correct * m).sum()
        pos = torch.from_numpy(rows[:, SEQ_POS])[:, None] + torch.arange(inp.shape[1])[None, :]
        wp = (pos % nw).reshape(-1)
        mf = m.reshape(-1)
        sums[4:4 + nw] += torch.zeros(nw, dtype=torch.float64).index_add_(0, wp, (nll * m).reshape(-1))
        sums[4 + nw:4 + 2 * nw] += torch.zeros(nw, dtype=torch.float64).index_add_(0, wp, (correct * m).reshape(-1))
        sums[4 + 2 * nw:4 + 3 * nw] += torch.zeros(nw, dtype=torch.float64).index_add_(0, wp, mf)
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()
    model.train(was_training)
    if world > 1:
        import torch.distributed as dist
        red = sums.to(device) if torch.device(device).type == "cuda" else sums
        dist.all_reduce(red)
        sums = red.cpu()
    return metrics_from_sums(sums.tolist(), nw, shards, config, n_ex, m1_non_embedding)


def metrics_from_sums(s: List[float], nw: int, shards: ShardSet, config: M2Config, n_examples: int,
                      m1_non_embedding: Optional[int]) -> Dict:
    nll, tokens, correct, nbytes = s[0], s[1], s[2], s[3]
    bpt = tokens and nbytes and nbytes / tokens
    vocab = shards.vocab_size or config.vocab_size
    out = {
        "examples": n_examples, "tokens": int(tokens), "bytes": int(nbytes),
        "bytes_per_token": bpt or None,
        "loss": nll / tokens if tokens else None,                          # nats/token
        "bits_per_token": nll / tokens / LN2 if tokens else None,
        "bits_per_byte": nll / LN2 / nbytes if nbytes else None,
        "uniform_bits_per_byte": math.log2(vocab) * tokens / nbytes if nbytes else None,
        "accuracy": correct / tokens if tokens else None,
        "bytes_per_step": bpt or None,
        "m2_non_embedding_parameters": config.non_embedding_parameters(),
        "m1_non_embedding_parameters": m1_non_embedding,
    }
    if bpt:
        m2_flops = 2.0 * config.non_embedding_parameters() / bpt
        out["flops_per_byte_m2"] = m2_flops
        out["flops_per_byte_m1"] = None if m1_non_embedding is None else 2.0 * m1_non_embedding
        out["flops_per_byte"] = None if m1_non_embedding is None else m2_flops + 2.0 * m1_non_embedding
    if nw > 1:
        pn, pc, cnt = s[4:4 + nw], s[4 + nw:4 + 2 * nw], s[4 + 2 * nw:4 + 3 * nw]
        out["window_tokens"] = nw
        out["accuracy_by_window_position"] = [c / n if n else None for c, n in zip(pc, cnt)]
        out["bits_per_token_by_window_position"] = [x / n / LN2 if n else None for x, n in zip(pn, cnt)]
    return out


# --------------------------------------------------------------------------- loading

def load_model(path: str, device="cpu") -> M2:
    """An M2 from model.pt or checkpoint.pt (both hold "config" and "model")."""
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise SystemExit(f"{path}: not an M2 model or checkpoint (no config/model)")
    model = M2(M2Config.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def format_metrics(r: Dict) -> str:
    def f(x, spec=".4f"):
        return "n/a" if x is None else format(x, spec)
    line = (f"bits/byte {f(r['bits_per_byte'])} (uniform {f(r['uniform_bits_per_byte'])}), "
            f"loss {f(r['loss'])} nats/token, accuracy {f(r['accuracy'])}, bytes/token "
            f"{f(r['bytes_per_token'], '.3f')}, FLOPs/byte "
            f"{f(r.get('flops_per_byte'), '.4g')} (M2 {f(r.get('flops_per_byte_m2'), '.4g')}); "
            f"{r['examples']} examples, {r['tokens']:,} tokens, {r['bytes']:,} bytes")
    if r.get("accuracy_by_window_position"):
        line += "; accuracy by window position " + " ".join(f(a, ".3f") for a in r["accuracy_by_window_position"])
    return line


def main(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model.pt or checkpoint.pt of train_m2.py")
    p.add_argument("--shards", required=True, help="held-out shard directory")
    p.add_argument("--max-examples", type=int, default=0, help="evaluate the first N examples (0: all)")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    p.add_argument("--m1-params", type=int, help="M1 non-embedding parameters (FLOPs/byte)")
    p.add_argument("--m1-model", help="the eqinfo M1 model file the shards were made with (FLOPs/byte)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--amp", choices=["none", "bf16"], default="none")
    p.add_argument("--json", help="also write the metrics to this file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    torch.set_num_threads(args.threads or (os.cpu_count() or 1))
    model = load_model(args.model, device)
    shards = ShardSet(args.shards)
    r = evaluate(model, shards, device, args.batch_size, args.max_examples, args.amp == "bf16",
                 m1_non_embedding=m1_params(shards, args.m1_params, args.m1_model), progress=not args.no_progress)
    print(json.dumps(r))
    print(f"evaluate: {shards.describe()}\nevaluate: {format_metrics(r)}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return r


if __name__ == "__main__":
    main()
