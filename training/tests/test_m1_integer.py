"""Tests of M1's integer numerics in PyTorch (training/eqinfo_m1/integer.py, docs/m1-integer.md),
the format version 2 model files, and exact agreement with the C++.

Run:  /usr/bin/python3 -m pytest training/tests/test_m1_integer.py

The C++ tests need an eqinfo CLI with `m1-dump` (format version 2): $EQINFO_CLI, else the
newest build*/tools/eqinfo (or build*/*/tools/eqinfo) of this repository; they skip, saying
so, when there is none.
"""

import json
import math
import os
import struct
import subprocess
import zlib

import numpy as np
import pytest
import torch

from training.common import REPO, find_cli, module_command, module_env
from training.eqinfo_m1 import (BOS, M1, M1Config, IntegerM1, load_integer_m1, load_m1, quantize_m1, read_m1,
                                save_m1, write_m1)
from training.eqinfo_m1 import integer as I
from training.eqinfo_m1.safetensors_io import decimal_to_float32, read_safetensors, write_safetensors

torch.set_num_threads(1)

SMALL = M1Config(layers=2, d_model=32, heads=2, head_dim=12, d_ff=48, context=48)
f32 = np.float32


def _float_model(config=SMALL, seed=1, **kw):
    args = dict(init_std=0.5, rel_bias_std=1.0, norm_jitter=0.25, init_gain=2.0)
    args.update(kw)
    return M1(config, seed=seed, **args).eval()


def _int_model(config=SMALL, seed=1, **kw):
    return IntegerM1.from_float(_float_model(config, seed, **kw))


# --------------------------------------------------------------------------- scalar transcriptions
# numpy float32 scalar arithmetic (one IEEE binary32 operation each), independent of torch.

def np_quant8(v, levels=127, lo=-127):
    v = np.asarray(v, dtype=f32)
    if not np.isfinite(v).all():
        return np.zeros(v.shape, np.int64), f32(0)
    m = f32(np.abs(v).max())
    if not m >= f32(2.0 ** -64):
        return np.zeros(v.shape, np.int64), f32(0)
    c = f32(levels) / m
    q = np.array([min(max(np.rint(f32(x * c)), lo), levels) for x in v], dtype=np.int64)
    return q, f32(m / f32(levels))


def np_norm_quant(h, g, eps):
    h = np.asarray(h, dtype=f32)
    m = f32(np.abs(h).max()) if np.isfinite(h).all() else f32(np.nan)
    if not m >= f32(2.0 ** -64):
        return np.zeros(h.shape, np.int64), f32(0)
    c16 = f32(32767) / m
    u = [int(min(max(np.rint(f32(x * c16)), -32767), 32767)) for x in h]
    ss = sum(x * x for x in u)
    a = float(m) / 32767.0
    ms = (a * a) * (float(ss) / float(len(h)))
    inv = f32(1.0 / math.sqrt(ms + float(f32(eps))))
    v = np.array([f32(x * y) for x, y in zip(h, np.asarray(g, dtype=f32))], dtype=f32)
    x, s = np_quant8(v)
    return x, f32(s * inv)


def np_exp(x):
    x = f32(x)
    if not x > f32(-87):
        return f32(0)
    t = f32(x * f32(I.LOG2E))
    n = int(f32(t - f32(0.5)))  # int() truncates toward 0
    nf = f32(n)
    r = f32(f32(x - f32(nf * f32(I.LN2_HI))) + f32(nf * f32(I.LN2_LO)))
    p = f32(I.P720)
    for c in (I.P120, I.P24, I.P6, 0.5, 1.0, 1.0):
        p = f32(f32(p * r) + f32(c))
    scale = np.array([(n + 127) << 23], dtype=np.uint32).view(f32)[0]
    return f32(p * scale)


def py_quantize_cdf(w, precision):
    full, spare, total = 1 << precision, (1 << precision) - 256, sum(w)
    counts = [1 + (x * spare // total if total else spare // 256) for x in w]
    heaviest = max(range(256), key=lambda i: (w[i], -i))
    counts[heaviest] += full - sum(counts)
    cdf = [0]
    for c in counts:
        cdf.append(cdf[-1] + c)
    return cdf


# --------------------------------------------------------------------------- building blocks

def test_constants_are_the_cpp_literals():
    # The decimal literals of the C++ source, each rounded once to binary32.
    for text, value in (("1.44269502", I.LOG2E), ("0.693359375", I.LN2_HI), ("2.12194440e-4", I.LN2_LO),
                        ("1.3888889e-3", I.P720), ("8.3333333e-3", I.P120), ("4.1666667e-2", I.P24),
                        ("1.6666667e-1", I.P6)):
        assert decimal_to_float32(text) == value, text
        assert float(f32(value)) == value
    assert I.att_scale(64) == 0.125 and I.att_scale(12) == float(f32(1 / math.sqrt(12)))


def test_quant8_edge_cases():
    q, s = I.quant8(torch.zeros(2, 5))
    assert q.dtype == torch.int8 and not q.any() and not s.any()
    tiny = 2.0 ** -64
    rows = torch.tensor([[tiny / 2, -tiny / 4, 0.0],                   # below tiny: zero
                         [tiny, 0.0, -tiny],                            # exactly tiny: quantised
                         [1.0, float("inf"), 2.0],                      # inf: zero
                         [1.0, float("nan"), 2.0],                      # NaN: zero
                         [-3.0, 3.0, 1.0],                              # +-127 at the extremes
                         [127.0, 0.5, -2.5],                            # half to even: 0, -2
                         [254.0, 1.0, 3.0]])                            # 0.5 -> 0, 1.5 -> 2
    q, s = I.quant8(rows)
    assert q.tolist() == [[0, 0, 0], [127, 0, -127], [0, 0, 0], [0, 0, 0], [-127, 127, 42], [127, 0, -2],
                          [127, 0, 2]]
    assert s[0] == 0 and s[2] == 0 and s[3] == 0
    assert s[1].item() == float(f32(f32(tiny) / f32(127)))
    assert s[5].item() == 1.0
    # -128 never appears, even where v * (127 / m) rounds beyond 127 in magnitude
    g = torch.Generator().manual_seed(0)
    v = torch.randn(2000, 33, generator=g) * torch.logspace(-30, 30, 2000).unsqueeze(1)
    q, s = I.quant8(v)
    assert int(q.min()) >= -127 and int(q.max()) <= 127
    assert (q.abs().amax(-1)[s > 0] == 127).all() and (s == 0).sum() > 0 and (s > 0).sum() > 1000
    for i in range(0, 2000, 97):  # agrees with the scalar transcription
        want_q, want_s = np_quant8(v[i].numpy())
        assert q[i].tolist() == want_q.tolist() and s[i].item() == float(want_s)


def test_quant8_subnormals_and_huge():
    v = torch.tensor([[1e-39, -3e-40, 5e-41], [3e38, -3.4e38, 1.0]], dtype=torch.float32)
    q, s = I.quant8(v)
    for i in range(2):
        want_q, want_s = np_quant8(v[i].numpy())
        assert q[i].tolist() == want_q.tolist() and s[i].item() == float(want_s)


def test_quant8u():
    q, s = I.quant8u(torch.tensor([[0.0, 255.0, 127.5, 0.5], [0.0, 0.0, 0.0, 0.0]]))
    assert q.dtype == torch.uint8
    assert q.tolist() == [[0, 255, 128, 0], [0, 0, 0, 0]] and s.tolist() == [1.0, 0.0]
    w = torch.rand(50, 40, generator=torch.Generator().manual_seed(1))
    q, s = I.quant8u(w)
    for i in range(0, 50, 7):
        want_q, want_s = np_quant8(w[i].numpy(), 255, 0)
        assert q[i].tolist() == want_q.tolist() and s[i].item() == float(want_s)


def test_norm_quant():
    eps = float(f32(1e-6))
    g = torch.Generator().manual_seed(2)
    gain = 1 + 0.25 * torch.randn(24, generator=g)
    h = torch.randn(40, 24, generator=g) * torch.logspace(-12, 12, 40).unsqueeze(1)
    h[3] = 0
    h[4, 5] = float("nan")
    h[5, 0] = float("-inf")
    h[6] = 2.0 ** -70
    h[7, :] = 0
    h[7, 2] = 2.0 ** -64
    x, sx = I.norm_quant(h, gain, eps)
    assert x.dtype == torch.int8 and sx.dtype == torch.float32
    for r in (3, 4, 5, 6):
        assert not x[r].any() and sx[r] == 0
    for r in range(40):
        want_x, want_s = np_norm_quant(h[r].numpy(), gain.numpy(), eps)
        assert x[r].tolist() == want_x.tolist(), r
        assert sx[r].item() == float(want_s), r
    # the real vector approximates RMSNorm(h) * g
    r = 20
    ref = h[r].double() / torch.sqrt(h[r].double().pow(2).mean() + eps) * gain.double()
    assert (x[r].double() * sx[r].item() - ref).abs().max() <= ref.abs().max() / 127


def test_exp_nonpositive():
    xs = torch.cat([torch.tensor([0.0, -0.0, -1e-30, -1e-7, -0.5, -0.6931472, -1.0, -86.99, -87.0, -87.5, -1e30,
                                  float("-inf"), float("nan")]),
                    -torch.rand(3000, generator=torch.Generator().manual_seed(3)) * 88])
    y = I.exp_nonpositive(xs)
    assert y.dtype == torch.float32
    for x, got in zip(xs.tolist(), y.tolist()):
        assert got == float(np_exp(x)), x
    assert y[0] == 1 and y[1] == 1
    assert (y[8:13] == 0).all()
    ok = xs > -80
    rel = ((y[ok].double() - torch.exp(xs[ok].double())) / torch.exp(xs[ok].double())).abs().max()
    assert rel < 3e-7  # ~2.2e-7 measured (the C++ comment says < 2e-7)


def test_logits_to_cdf():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(20, 256, generator=g) * torch.linspace(0.01, 40, 20).unsqueeze(1)
    logits[3] = 0                               # flat
    logits[4, 7] = float("nan")                 # non-finite -> uniform
    logits[5, 9] = float("inf")
    logits[6, [10, 20]] = 50.0                  # tie for the heaviest: the first gets the remainder
    for p in (9, 12, 16):
        cdf = I.logits_to_cdf(logits, p)
        assert cdf.dtype == torch.int64 and cdf.shape == (20, 257)
        assert (cdf[:, 0] == 0).all() and (cdf[:, 256] == 1 << p).all()
        assert (cdf[:, 1:] > cdf[:, :-1]).all()
        assert (cdf[4].diff() == (1 << p) // 256).all() and (cdf[5].diff() == (1 << p) // 256).all()
        for r in range(20):
            row = logits[r]
            if torch.isfinite(row).all():
                m = row.max().item()
                w = [int(f32(np_exp(f32(x - f32(m))) * f32(2 ** 24))) for x in row.tolist()]
            else:
                w = [1 << 24] * 256  # the spec's uniform weights
            assert cdf[r].tolist() == py_quantize_cdf(w, p), (p, r)
    c6 = I.logits_to_cdf(logits[6], 16).diff()
    assert c6[10] >= c6[20]


def test_linear_exact_for_extreme_integers():
    # |acc| up to 127 * 127 * K: exact through the float64 product.
    K = 4096
    x = torch.full((2, K), 127, dtype=torch.int8)
    x[1] = -127
    w = torch.full((3, K), 127, dtype=torch.int8)
    w[1, ::2] = -127
    y = I.linear(x, torch.ones(2), w.double(), torch.ones(3))
    acc = 127 * 127 * K
    assert y[0].tolist() == [float(f32(acc)), 0.0, float(f32(acc))]
    assert y[1, 0].item() == float(f32(-acc))


# --------------------------------------------------------------------------- forward

def test_window_equals_every_prefix():
    m = _int_model()
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (1, SMALL.context), generator=g)
    x[0, 0] = BOS
    with torch.no_grad():
        full = m(x)[0]
        assert full.dtype == torch.float32 and full.shape == (SMALL.context, 256)
        for t in range(SMALL.context):
            assert torch.equal(m(x[:, :t + 1])[0, -1], full[t]), t
        # the CDF of a row does not depend on the other rows either
        cdf = m.cdf(full)
        assert all(torch.equal(m.cdf(full[t]), cdf[t]) for t in (0, 7, SMALL.context - 1))


def test_batch_composition_invariance():
    m = _int_model(seed=2)
    g = torch.Generator().manual_seed(6)
    T = 30
    x = torch.randint(0, 256, (5, T), generator=g)
    x[:, 0] = BOS
    x[3] = x[1]  # duplicates in a batch
    x[4, 10:] = 0
    with torch.no_grad():
        together = m(x)
        for b in range(5):
            assert torch.equal(m(x[b:b + 1])[0], together[b]), b
        # other rows, reordered
        perm = torch.tensor([4, 2, 0, 3, 1])
        assert torch.equal(m(x[perm]), together[perm])
        # a different batch around the same row
        other = torch.randint(0, 257, (7, T), generator=g)
        other[2] = x[0]
        assert torch.equal(m(other)[2], together[0])
    assert torch.equal(together[1], together[3])
    assert torch.equal(together[0, :10], m(x[0:1, :10])[0])


def test_integer_model_tracks_the_float_model():
    fm = _float_model(seed=3)
    im = IntegerM1.from_float(fm)
    x = torch.tensor([[BOS] + list(b"The quick brown fox jumps over the lazy dog")])
    with torch.no_grad():
        pf = torch.softmax(fm(x)[0].double(), -1)
        pi = torch.softmax(im(x)[0].double(), -1)
    # int8 quantisation moves probabilities, but the distributions stay close
    kl = (pf * (pf.log() - pi.log())).sum(-1).mean().item()
    assert kl < 0.1, kl


def test_byte_cdfs_block_rule():
    m = _int_model()
    data = bytes(range(40, 140))  # > context: three blocks
    cdfs = m.byte_cdfs(data, 16)
    assert cdfs.shape == (100, 257)
    with torch.no_grad():
        for start in (0, 48, 96):
            chunk = data[start:start + 48]
            x = torch.tensor([[BOS] + list(chunk[:-1])])
            assert np.array_equal(cdfs[start:start + len(chunk)], m.cdf(m(x)[0], 16).numpy())
    assert np.array_equal(m.byte_cdfs(data, 16, block_bytes=10)[:10], m.byte_cdfs(data[:10], 16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    m = _int_model(seed=4)
    x = torch.randint(0, 257, (3, SMALL.context), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        cpu = m(x)
        gpu = m.to("cuda")(x.cuda()).cpu()
    assert torch.equal(cpu, gpu)
    assert torch.equal(I.logits_to_cdf(cpu), I.logits_to_cdf(gpu.cuda()).cpu())


# --------------------------------------------------------------------------- quantisation and files

def test_quantize_m1_rows():
    fm = _float_model()
    t = quantize_m1(fm)
    assert list(t) == I.v2_tensor_names(SMALL)
    w = fm.layers[1].w2.weight.detach()
    q, s = I.quant8(w)
    assert np.array_equal(t["layers.1.w2"], q.numpy()) and np.array_equal(t["layers.1.w2.scale"], s.numpy())
    assert t["layers.0.q"].dtype == np.int8 and t["layers.0.q.scale"].dtype == np.float32
    assert t["lm_head"].shape == (256, 32) and t["lm_head.scale"].shape == (256,)
    assert np.array_equal(t["embedding"], fm.embedding.weight.detach().numpy())
    # a zero row quantises to zeros with scale 0
    with torch.no_grad():
        fm.lm_head.weight[3] = 0
    t = quantize_m1(fm)
    assert not t["lm_head"][3].any() and t["lm_head.scale"][3] == 0
    with torch.no_grad():
        fm.layers[0].v.weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        quantize_m1(fm)


def test_v2_round_trip_bytes(tmp_path):
    fm = _float_model()
    p = str(tmp_path / "m.safetensors")
    meta = save_m1(p, fm, self_test='[{"x":"a\\"b"}]')
    assert meta["format_version"] == "2"
    raw = open(p, "rb").read()
    version, config, tensors, meta2 = read_m1(p)
    assert version == "2" and config == SMALL and meta2 == meta
    st, _, body = read_safetensors(p)
    assert meta["tensor_crc32"] == f"{zlib.crc32(body):08x}"
    names = list(st)
    assert names == I.v2_tensor_names(SMALL)  # header order = data order = C++ tensor_specs
    (n,) = struct.unpack_from("<Q", raw)
    header = raw[8:8 + n].decode()
    assert '"layers.0.q":{"dtype":"I8","shape":[24,32]' in header
    assert '"layers.0.q.scale":{"dtype":"F32","shape":[24]' in header
    hdr = json.loads(header)
    offsets = [tuple(hdr[nm]["data_offsets"]) for nm in names]
    assert offsets == sorted(offsets) and offsets[0][0] == 0
    p2 = str(tmp_path / "m2.safetensors")
    write_m1(p2, config, tensors, "2", meta2.get("self_test"))
    assert open(p2, "rb").read() == raw
    # through IntegerM1
    im, _, _ = load_m1(p)
    assert isinstance(im, IntegerM1)
    p3 = str(tmp_path / "m3.safetensors")
    save_m1(p3, im, self_test=meta["self_test"])
    assert open(p3, "rb").read() == raw
    # v1 -> quantised on load = quantised on export
    p1 = str(tmp_path / "v1.safetensors")
    save_m1(p1, fm, format_version="1")
    fl, _, m1meta = load_m1(p1)
    assert isinstance(fl, M1) and m1meta["format_version"] == "1"
    im1, _, _ = load_integer_m1(p1)
    for nm in I.v2_tensor_names(SMALL):
        assert np.array_equal(im1.tensors[nm], im.tensors[nm]), nm


def _write_raw_v2(path, tensors, config_json_text, crc=None):
    items = []
    for nm in tensors:
        a = tensors[nm]
        items.append((nm, a, {np.dtype("int8"): "I8", np.dtype("float32"): "F32", np.dtype("int32"): "I32"}[a.dtype]))
    body = b"".join(np.ascontiguousarray(a).tobytes() for _, a, _ in items)
    meta = {"format": "eqinfo-m1", "format_version": "2", "config": config_json_text,
            "tensor_crc32": crc or f"{zlib.crc32(body):08x}"}
    write_safetensors(path, items, meta)


def test_v2_refuses_bad_weights(tmp_path):
    fm = _float_model()
    p = str(tmp_path / "m.safetensors")
    meta = save_m1(p, fm)
    _, config, tensors, _ = read_m1(p)
    for name, idx, value, what in (("layers.1.o", (2, 3), -128, "-128"),
                                   ("lm_head.scale", (5,), np.nan, "finite"),
                                   ("layers.0.w1.scale", (0,), np.inf, "finite"),
                                   ("layers.0.k.scale", (1,), -1.0, ">= 0"),
                                   ("embedding", (0, 0), np.inf, "finite")):
        t = {k: v.copy() for k, v in tensors.items()}
        t[name][idx] = value
        q = str(tmp_path / "bad.safetensors")
        _write_raw_v2(q, t, meta["config"])  # correct CRC: only the value is wrong
        with pytest.raises(ValueError, match=what):
            read_m1(q)
        with pytest.raises(ValueError):
            write_m1(str(tmp_path / "w.safetensors"), config, t)
        with pytest.raises(ValueError):
            IntegerM1(config, t)
    # wrong dtype for a matrix
    t = dict(tensors)
    t["layers.0.q"] = t["layers.0.q"].astype(np.float32)
    _write_raw_v2(str(tmp_path / "f.safetensors"), t, meta["config"])
    with pytest.raises(ValueError, match="I8"):
        read_m1(str(tmp_path / "f.safetensors"))
    # a missing scale
    t = dict(tensors)
    del t["layers.1.w2.scale"]
    _write_raw_v2(str(tmp_path / "s.safetensors"), t, meta["config"])
    with pytest.raises(ValueError, match="missing"):
        read_m1(str(tmp_path / "s.safetensors"))
    # CRC
    raw = bytearray(open(p, "rb").read())
    raw[-10] ^= 1
    open(str(tmp_path / "c.safetensors"), "wb").write(raw)
    with pytest.raises(ValueError, match="CRC"):
        read_m1(str(tmp_path / "c.safetensors"))


def test_compare_script_with_fake_dump(tmp_path):
    """compare_with_eqinfo.py against fake_dump.py (the reference, one prefix at a time)."""
    p = str(tmp_path / "m.safetensors")
    save_m1(p, _float_model(M1Config(layers=1, d_model=16, heads=2, head_dim=8, d_ff=32, context=16)))
    inp = tmp_path / "in.txt"
    inp.write_bytes(b"abracadabra, hello world")  # > context: two blocks
    fake = " ".join(module_command("training.fake_dump"))
    script = module_command("training.compare_with_eqinfo")
    env = module_env(dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    r = subprocess.run([*script, p, str(inp), fake, "--threads", "1", "--precision", "12"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    r = subprocess.run([*script, p, str(inp), fake + " --perturb", "--threads", "1"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "first at row 0" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------- the C++

def find_m1_cli():
    """An eqinfo CLI with format version 2 M1 support (m1-dump writing CDFs): $EQINFO_CLI, else the
    newest build*/tools/eqinfo here."""
    def m1_v2(c):
        r = subprocess.run([c, "help", "m1-dump"], capture_output=True, text=True)
        return "257" in r.stdout and "m1-quantize" in subprocess.run([c, "help"], capture_output=True, text=True).stdout
    return find_cli(None, "m1-dump", accept=m1_v2)


@pytest.fixture(scope="module")
def cli():
    c = find_m1_cli()
    if c is None:
        pytest.skip("no eqinfo CLI with format version 2 M1 support ('m1-dump' writing uint32 CDFs, "
                    "'m1-quantize'): build tools/eqinfo or set EQINFO_CLI")
    return c


def _cpp_cdfs(cli, model, data, tmp_path, precision=16):
    inp, out = tmp_path / "in.bin", tmp_path / "cdfs.u32"
    inp.write_bytes(data)
    subprocess.run([cli, "m1-dump", model, str(inp), str(out), "--precision", str(precision)], check=True,
                   capture_output=True)
    return np.fromfile(out, dtype="<u4").reshape(len(data), 257).astype(np.int64)


def _assert_same(cpp, ref):
    differ = (cpp != ref).any(-1)
    if differ.any():
        r = int(np.flatnonzero(differ)[0])
        s = int(np.flatnonzero(cpp[r] != ref[r])[0])
        raise AssertionError(f"{int(differ.sum())} of {len(ref)} CDF rows differ; first row {r}, symbol {s}: "
                             f"C++ {cpp[r, s]}, reference {ref[r, s]}")


def _sample_text(n):
    p = os.path.join(REPO, "data", "sample", "sotu_sample.txt")
    if os.path.exists(p):
        return open(p, "rb").read()[:n]
    return (b"The quick brown fox jumps over the lazy dog. " * (n // 45 + 1))[:n]


def test_cpp_random_model_exact(cli, tmp_path):
    model = str(tmp_path / "r.safetensors")
    subprocess.run([cli, "m1-random", "--layers", "2", "--d-model", "48", "--heads", "3", "--head-dim", "16",
                    "--d-ff", "96", "--context", "96", "--seed", "3", "-o", model], check=True, capture_output=True)
    im, _, meta = load_m1(model)
    assert isinstance(im, IntegerM1) and meta["format_version"] == "2"
    data = _sample_text(400) + bytes(range(256))[::7] + b"\x00" * 20
    for p in (16, 12):
        _assert_same(_cpp_cdfs(cli, model, data, tmp_path, p), im.byte_cdfs(data, p))
    # our writer reproduces the C++ file byte for byte
    _, config, tensors, _ = read_m1(model)
    again = str(tmp_path / "again.safetensors")
    write_m1(again, config, tensors)
    assert open(again, "rb").read() == open(model, "rb").read()


def test_cpp_python_model_exact(cli, tmp_path):
    """A v2 file written here (wide init: large activations) runs identically in the C++."""
    c = M1Config(layers=2, d_model=40, heads=2, head_dim=20, d_ff=72, context=64)
    model = str(tmp_path / "p.safetensors")
    save_m1(model, _float_model(c, seed=9, init_std=0.5, init_gain=None))  # flat std 0.5: badly conditioned
    im, _, _ = load_m1(model)
    data = _sample_text(300)
    _assert_same(_cpp_cdfs(cli, model, data, tmp_path), im.byte_cdfs(data))


def test_cpp_quantize_matches(cli, tmp_path):
    """eqinfo m1-quantize of a v1 file = quantize_m1, to the byte (its self-tests included)."""
    v1 = str(tmp_path / "v1.safetensors")
    save_m1(v1, _float_model(), format_version="1")
    out = str(tmp_path / "q.safetensors")
    subprocess.run([cli, "m1-quantize", v1, "-o", out], check=True, capture_output=True)
    _, config, tensors, meta = read_m1(out)
    _, _, t1, _ = read_m1(v1)
    mine = quantize_m1(t1, config)
    for nm in mine:
        assert np.array_equal(mine[nm], tensors[nm]) and mine[nm].dtype == tensors[nm].dtype, nm
    again = str(tmp_path / "again.safetensors")
    write_m1(again, config, mine, "2", meta.get("self_test"))
    assert open(again, "rb").read() == open(out, "rb").read()


def test_cpp_quantize_matches_v1_tiny(cli, tmp_path):
    """tests/data/m1_v1_tiny.safetensors: quantize_m1 + write_m1 (no self-tests) has the same
    tensor_crc32 and config as `eqinfo m1-quantize`, the C++ loads and seals our file, and the
    sealed file is byte-identical to m1-quantize's."""
    v1 = os.path.join(REPO, "tests", "data", "m1_v1_tiny.safetensors")
    if not os.path.exists(v1):
        pytest.skip(f"{v1} is absent")
    version, config, t1, _ = read_m1(v1)
    assert version == "1"
    mine = str(tmp_path / "py.safetensors")
    meta = write_m1(mine, config, quantize_m1(t1, config))
    assert "self_test" not in meta
    out = str(tmp_path / "cpp.safetensors")
    subprocess.run([cli, "m1-quantize", v1, "-o", out], check=True, capture_output=True)
    _, _, _, cpp_meta = read_m1(out)
    assert meta["tensor_crc32"] == cpp_meta["tensor_crc32"] and meta["config"] == cpp_meta["config"]
    sealed = str(tmp_path / "sealed.safetensors")
    subprocess.run([cli, "m1-seal", mine, "-o", sealed], check=True, capture_output=True)
    assert open(sealed, "rb").read() == open(out, "rb").read()
