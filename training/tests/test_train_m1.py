"""Tests of training/train_m1.py (seconds, CPU, no network).

Run:  /usr/bin/python3 -m pytest training/tests/test_train_m1.py
"""

import json

import numpy as np
import pytest
import torch

from training import train_m1
from training.eqinfo_m1 import BOS, IntegerM1, load_m1, quantize_m1

TINY = ["--layers", "1", "--d-model", "32", "--heads", "2", "--head-dim", "16", "--d-ff", "64",
        "--context", "64", "--seq-len", "64", "--threads", "1", "--no-progress"]


@pytest.fixture()
def text_file(tmp_path):
    p = tmp_path / "rep.txt"
    p.write_bytes(b"the quick brown fox jumps over the lazy dog. " * 300)
    return str(p)


def _args(text_file, out, *extra):
    return ["--train", text_file, "--out", str(out), *TINY, "--batch-bytes", "512", "--eval-windows", "64",
            "--eval-bytes", "512", *extra]


def test_loss_decreases(text_file, tmp_path):
    r = train_m1.main(_args(text_file, tmp_path / "run", "--steps", "30", "--warmup-steps", "3", "--lr", "3e-3",
                            "--eval-every", "10"))
    log = [json.loads(l) for l in open(r["log"])]
    assert [e["step"] for e in log] == [0, 10, 20, 30]
    assert log[0]["valid_bpb_windows"] > 7.5           # ~8 bits/byte before training
    for key in ("valid_bpb_windows", "valid_bpb_context", "train_loss"):
        vals = [e[key] for e in log if e[key] is not None]
        assert vals[-1] < vals[0] - 0.5, (key, vals)
    assert log[-1]["valid_bpb_windows"] < 5.5
    assert log[-1]["bytes_seen"] >= 30 * 512
    for e in log:
        assert set(e) >= {"step", "bytes_seen", "train_loss", "valid_bpb_windows", "valid_bpb_context", "wall_s"}


def _weights(path):
    return {k: v.clone() for k, v in torch.load(path, map_location="cpu")["model"].items()}


def test_resume_is_exact(text_file, tmp_path):
    common = ["--steps", "20", "--warmup-steps", "4", "--lr", "3e-3", "--eval-every", "5", "--ckpt-every", "7"]
    a = train_m1.main(_args(text_file, tmp_path / "a", *common))
    b1 = train_m1.main(_args(text_file, tmp_path / "b", *common, "--stop-at", "10"))
    assert b1["step"] == 10
    b2 = train_m1.main(_args(text_file, tmp_path / "b", *common, "--resume"))
    assert b2["step"] == 20 and b2["bytes_seen"] == a["bytes_seen"]
    wa, wb = _weights(a["checkpoint"]), _weights(b2["checkpoint"])
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ca = torch.load(a["checkpoint"], map_location="cpu")
    cb = torch.load(b2["checkpoint"], map_location="cpu")
    sa, sb = ca["optimizer"]["state"], cb["optimizer"]["state"]
    for i in sa:
        for k in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[i][k], sb[i][k])
    assert ca["scheduler"]["last_epoch"] == cb["scheduler"]["last_epoch"] == 20
    # same learning curve (losses are deterministic; wall times are not)
    la = [json.loads(l) for l in open(a["log"])]
    lb = [json.loads(l) for l in open(b2["log"])]
    keys = ("step", "bytes_seen", "train_loss", "valid_bpb_windows", "valid_bpb_context", "lr")
    assert [[e[k] for k in keys] for e in la] == [[e[k] for k in keys] for e in lb]


def test_resume_keeps_or_changes_the_example_mix(text_file, tmp_path):
    common = ["--steps", "12", "--warmup-steps", "2", "--eval-every", "0", "--short-frac", "0.5"]
    train_m1.main(_args(text_file, tmp_path / "a", *common, "--stop-at", "4"))
    # Not given again: the checkpoint's mix is kept (the default 0.5 would not be noticed otherwise,
    # so the first run used 0.3 for this half of the test).
    train_m1.main(_args(text_file, tmp_path / "b", "--steps", "12", "--warmup-steps", "2", "--eval-every", "0",
                        "--short-frac", "0.3", "--stop-at", "4"))
    train_m1.main(_args(text_file, tmp_path / "b", "--steps", "12", "--eval-every", "0", "--stop-at", "8",
                        "--resume"))
    assert json.load(open(tmp_path / "b" / "args.json"))["short_frac"] == 0.3
    # Given again: a new phase with the new mix, recorded in the checkpoint for later resumes.
    train_m1.main(_args(text_file, tmp_path / "a", "--steps", "12", "--eval-every", "0", "--short-frac", "0.9",
                        "--resume"))
    assert json.load(open(tmp_path / "a" / "args.json"))["short_frac"] == 0.9
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", map_location="cpu")
    assert ck["step"] == 12 and ck["args"]["short_frac"] == 0.9


def test_export_loads_and_matches(text_file, tmp_path):
    """The export is format version 2: the trained float weights quantised row-wise (quantize_m1)."""
    r = train_m1.main(_args(text_file, tmp_path / "run", "--steps", "5", "--eval-every", "0"))
    model, config, meta = load_m1(r["model"])
    assert meta["format"] == "eqinfo-m1" and meta["format_version"] == "2"
    assert isinstance(model, IntegerM1)
    assert (config.layers, config.d_model, config.heads, config.head_dim, config.d_ff, config.context) == \
        (1, 32, 2, 16, 64, 64)
    trained = _weights(r["checkpoint"])
    ref = train_m1.M1(config, seed=0)
    ref.load_state_dict(trained)
    ref.eval()
    want = quantize_m1(ref)
    assert list(model.tensors) == list(want)
    for k, v in want.items():
        assert model.tensors[k].dtype == v.dtype and np.array_equal(model.tensors[k], v), k
    assert np.array_equal(model.tensors["embedding"], trained["embedding.weight"].numpy())
    # and it computes the same function as the quantised trained model, close to the float one
    x = torch.tensor([[BOS] + list(b"the quick brown")])
    with torch.no_grad():
        assert torch.equal(model(x), IntegerM1.from_float(ref)(x))
        pf, pi = torch.softmax(ref(x).double(), -1), torch.softmax(model(x).double(), -1)
    assert (pf - pi).abs().max() < 0.05


def test_sampler_random_offsets_with_bos():
    rng = np.random.default_rng(0)
    text = rng.integers(0, 256, size=100_000).astype(np.uint8)
    s = train_m1.Sampler(len(text), seed=3, batch_bytes=4096, seq_len=256, short_frac=0.5, short_min=8,
                         short_max=64)
    offsets, lengths = [], []
    for step in range(50):
        ex = s.batch(step)
        assert ex == s.batch(step)                       # a function of (seed, step)
        assert sum(l for _, l in ex) >= 4096
        assert sum(l for _, l in ex[:-1]) < 4096
        for off, length in ex:
            assert 0 <= off <= len(text) - length
            assert length == 256 or 8 <= length <= 64
        offsets += [o for o, _ in ex]
        lengths += [l for _, l in ex]
        inp, tgt, mask = train_m1.make_inputs(text, ex, "cpu")
        for i, (off, length) in enumerate(ex):
            assert inp[i, 0].item() == BOS                # no left context: BOS, then the example's bytes
            assert inp[i, 1:length].tolist() == text[off:off + length - 1].tolist()
            assert tgt[i, :length].tolist() == text[off:off + length].tolist()
            assert mask[i, :length].sum().item() == length and mask[i, length:].sum().item() == 0
    assert s.batch(0) != s.batch(1)
    assert train_m1.Sampler(len(text), 4, 4096, 256, 0.5, 8, 64).batch(0) != s.batch(0)
    offsets = np.array(offsets)
    assert len(set(offsets.tolist())) > 0.95 * len(offsets)
    assert len(set((offsets % 16).tolist())) == 16         # arbitrary offsets, not aligned
    frac_short = np.mean(np.array(lengths) < 256)
    assert 0.4 < frac_short < 0.6
    short = [l for l in lengths if l < 256]
    assert min(short) <= 12 and max(short) >= 60
    # length buckets: the long examples are unpadded, the short ones padded to their longest
    ex = s.batch(0)
    groups = train_m1.buckets(ex, 256)
    assert sorted(sum(groups, [])) == sorted(ex)
    assert all(l == 256 for _, l in groups[0])


def test_windows_eval_regime():
    text = np.frombuffer(bytes(range(256)) * 40, dtype=np.uint8)
    ev = train_m1.Evaluator(text, context=128, n_windows=100, window_bytes=16, eval_bytes=1024, seed=0,
                            device=torch.device("cpu"), batch_bytes=512)
    assert len(ev.windows) == 100 and all(l == 16 for _, l in ev.windows)
    assert len({o % 16 for o, _ in ev.windows}) > 8
    assert len(ev.blocks) == 8 and all(l == 128 for _, l in ev.blocks)
    assert ev.blocks[0][0] == 0 and ev.blocks[-1][0] == len(text) - 128


def test_directory_input(tmp_path):
    d = tmp_path / "corpus"
    (d / "b").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"AAA")
    (d / "b" / "c.txt").write_bytes(b"CCC")
    (d / ".hidden").write_bytes(b"HHH")
    assert train_m1.read_text(str(d)) == b"AAA\n\nCCC"


def test_lr_schedule():
    f = [train_m1.lr_factor(s, 10, 110, 0.1) for s in range(111)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[110] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
