# SPDX-License-Identifier: MIT
"""eqinfo.Shards reads token shard directories (synthetic ones here; the CLI's in test_cli_shards)."""

import json
import os

import numpy as np
import pytest

import eqinfo
from conftest import SAMPLES
from shardutil import write_shards

EXAMPLES = [SAMPLES["text"][i * 97:i * 97 + 200 + 13 * i] for i in range(7)] + [SAMPLES["all256"], b"\x00"]


@pytest.fixture(params=["npy", "raw"])
def shard_dir(request, tmp_path, unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    write_shards(tmp_path / "shards", tok, EXAMPLES, shard_examples=4, token_format=request.param)
    return tmp_path / "shards", tok


def test_examples(shard_dir):
    path, tok = shard_dir
    shards = eqinfo.Shards(path)
    assert len(shards) == len(EXAMPLES) and shards.num_shards == 3
    assert shards.settings == {"method": "equal-info", "window_bits": 32, "token_bits": 16, "precision": 16,
                               "rule": "delay", "segment_bytes": 65536}
    assert shards.model_fingerprint == tok.model_fingerprint
    assert shards.index_columns[3:] == ["byte_count", "token_offset", "token_count"]
    assert shards.dtype == np.uint16
    items = list(shards)
    assert [e.n_bytes for e in items] == [len(x) for x in EXAMPLES]
    for i, (e, data) in enumerate(zip(items, EXAMPLES)):
        assert np.array_equal(e.tokens, tok.encode(data)), i
        assert tok.decode(e.tokens, e.n_bytes) == data
        assert np.array_equal(shards[i].tokens, e.tokens)
        assert set(e.source) == {"stream_offset", "document", "document_offset"}
        assert shards.decode(i, tok) == data
    assert (items[5].shard, items[5].index) == (1, 1)
    assert items[5].source["stream_offset"] == sum(map(len, EXAMPLES[:5]))
    assert np.array_equal(shards[-1].tokens, items[-1].tokens)
    with pytest.raises(IndexError):
        shards[len(EXAMPLES)]
    assert isinstance(shards.tokens(0), np.memmap) or isinstance(shards.tokens(0).base, np.memmap)
    assert len(shards.tokens(0)) == sum(len(tok.encode(x)) for x in EXAMPLES[:4])
    assert shards.n_bytes == sum(map(len, EXAMPLES))
    assert shards.documents(0).shape == (1, 3)


def test_check_and_tokenizer(shard_dir, unigram_path):
    path, tok = shard_dir
    shards = eqinfo.Shards(path)
    summary = shards.check()
    assert summary["crcs_checked"] == 9 and summary["examples"] == len(EXAMPLES)
    assert shards.check(tokenizer=shards.tokenizer(unigram_path))["examples_decoded"] == len(EXAMPLES)
    assert shards.tokenizer(unigram_path).settings == tok.settings
    with pytest.raises(eqinfo.Error) as e:
        shards.tokenizer("uniform")
    assert e.value.code == eqinfo.ErrorCode.SETTINGS_MISMATCH


def test_check_finds_damage(shard_dir):
    path, _ = shard_dir
    name = sorted(p for p in os.listdir(path) if p.startswith("shard-000001") and not p.endswith(
        (".idx.npy", ".docs.npy")))[0]
    target = path / name
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x10
    target.write_bytes(bytes(data))
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Shards(path).check()
    assert e.value.code == eqinfo.ErrorCode.CHECKSUM_MISMATCH and name in str(e.value)
    target.write_bytes(bytes(data[:-2]))
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Shards(path).check()
    assert e.value.code == eqinfo.ErrorCode.CHECKSUM_MISMATCH


def test_check_decodes(tmp_path, unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    manifest = write_shards(tmp_path, tok, EXAMPLES, shard_examples=100)
    # A manifest whose source CRC disagrees with the decoded bytes.
    manifest["shards"][0]["source_crc32"] = "0x00000000"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shards = eqinfo.Shards(tmp_path)
    shards.check()  # the files are intact
    with pytest.raises(eqinfo.Error) as e:
        shards.check(tokenizer=tok)
    assert e.value.code == eqinfo.ErrorCode.CHECKSUM_MISMATCH


def test_bad_directories(tmp_path):
    with pytest.raises(eqinfo.FileError):
        eqinfo.Shards(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Shards(tmp_path)
    assert e.value.code == eqinfo.ErrorCode.CORRUPT_STREAM
    (tmp_path / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(eqinfo.Error) as e:
        eqinfo.Shards(tmp_path)
    assert e.value.code == eqinfo.ErrorCode.BAD_MAGIC
    (tmp_path / "manifest.json").write_text('{"format": "eqinfo-shards", "shards": [{"tokens_file": "../x.npy"}]}')
    with pytest.raises(eqinfo.Error):
        eqinfo.Shards(tmp_path)


def test_legacy_layout_without_manifest_is_rejected(tmp_path):
    # training/m2/shards.py's old 4-column index, no manifest: once found by name, now rejected
    # (eqinfo verify needs manifest.json, and no writer produces this layout).
    tokens = np.arange(10, dtype=np.uint16)
    np.save(tmp_path / "shard-000000.npy", tokens)
    np.save(tmp_path / "shard-000000.idx.npy", np.array([[7, 0, 4, 0], [9, 4, 6, 7]], dtype=np.int64))
    with pytest.raises(eqinfo.FileError) as e:
        eqinfo.Shards(tmp_path)
    assert e.value.code == eqinfo.ErrorCode.IO_ERROR and "manifest.json: cannot open for reading" in str(e.value)


def _set(path, change):
    """Rewrites manifest.json with change(manifest) applied."""
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def _replace_file(path, name, data, record=0):
    """Replaces a shard file and records its new size and CRC, so only its content is wrong."""
    (path / name).write_bytes(data)
    key = next(k for k in ("tokens", "index", "documents") if json.loads((path / "manifest.json").read_text())[
        "shards"][record][f"{k}_file"] == name)

    def change(m):
        m["shards"][record][f"{key}_file_size"] = len(data)
        m["shards"][record][f"{key}_crc32"] = f"0x{__import__('zlib').crc32(data):08x}"
    _set(path, change)


def _npy_bytes(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _rename_key(scope, old, new):
    def change(m):
        d = m
        for k in scope:
            d = d[k]
        d[new] = d.pop(old)
    return change


def _four_columns(path):
    ix = np.load(path / "shard-000000.idx.npy")
    _replace_file(path, "shard-000000.idx.npy", _npy_bytes(np.ascontiguousarray(ix[:, [3, 4, 5, 0]])))


def _gap(path):
    ix = np.load(path / "shard-000000.idx.npy")
    ix[1, 0] += 1  # stream_offset: a gap between examples 0 and 1
    _replace_file(path, "shard-000000.idx.npy", _npy_bytes(ix))


def _uint8_tokens(path):
    t = np.load(path / "shard-000000.npy")
    _replace_file(path, "shard-000000.npy", _npy_bytes(t.astype(np.uint8)))


#: Damage that eqinfo verify rejects: the aliases and legacy paths the Python readers once
#: accepted, and what the C++ checks.
BROKEN = {
    "alias tokens_file": _rename_key(["shards", 0], "tokens_file", "tokens"),
    "alias index_file": _rename_key(["shards", 0], "index_file", "idx"),
    "alias rule": _rename_key(["settings"], "rule", "window_rule"),
    "alias precision": _rename_key(["settings"], "precision_bits", "precision"),
    "alias dtype": None,  # (token_dtype is informative; see "uint8 tokens")
    "method alias": lambda m: m["settings"].update(method="equal-info"),
    "method unknown": lambda m: m["settings"].update(method="gzip"),
    "settings at the top level": lambda m: m.update(m.pop("settings")),
    "shard names a string": lambda m: m["shards"].__setitem__(0, m["shards"][0]["tokens_file"]),
    "no shard list": lambda m: m.pop("shards"),
    "no eqinfo_version": lambda m: m.pop("eqinfo_version"),
    "integer crc": lambda m: m["shards"][0].update(tokens_crc32=int(m["shards"][0]["tokens_crc32"], 16)),
    "totals": lambda m: m["totals"].update(tokens=m["totals"]["tokens"] + 1),
    "shard_format 2": lambda m: m.update(shard_format=2),
    "file outside": lambda m: m["shards"][0].update(documents_file="../x.docs.npy"),
    "window_bits < precision": lambda m: m["settings"].update(window_bits=8, token_bits=8),
    # Stream format 2 (eqinfo 0.3): equal_info_ac's settings must carry segment_bytes.
    "no segment_bytes": lambda m: m["settings"].pop("segment_bytes"),
    "segment_bytes a string": lambda m: m["settings"].update(segment_bytes="0"),
    "segment_bytes negative": lambda m: m["settings"].update(segment_bytes=-1),
    "segment_bytes fractional": lambda m: m["settings"].update(segment_bytes=0.5),
    "segment_bytes at the top level": lambda m: m.update(segment_bytes=m["settings"].pop("segment_bytes")),
    "stream_format 3": lambda m: m.update(stream_format=3),
    "stream_format 0": lambda m: m.update(stream_format=0),
    "no manifest": "no manifest",
    "missing file": "missing file",
    "truncated tokens": "truncated tokens",
    "4-column index": _four_columns,
    "gap in the stream": _gap,
    "uint8 tokens": _uint8_tokens,
}
del BROKEN["alias dtype"]

#: Changes that eqinfo verify accepts (and decodes): so must eqinfo.Shards.
ACCEPTED = {
    "stream_format 1 without segment_bytes": lambda m: (m.update(stream_format=1), m["settings"].pop("segment_bytes")),
    "stream_format 1, segment_bytes ignored": lambda m: (m.update(stream_format=1),
                                                         m["settings"].update(segment_bytes=1000)),
    "unknown fields": lambda m: (m.update(writer="a test"), m["settings"].update(lanes=3)),
}


def _break(path, how):
    if how == "no manifest":
        (path / "manifest.json").unlink()
    elif how == "missing file":
        (path / "shard-000000.docs.npy").unlink()
    elif how == "truncated tokens":
        data = (path / "shard-000000.npy").read_bytes()
        (path / "shard-000000.npy").write_bytes(data[:-2])
    elif how in (_four_columns, _gap, _uint8_tokens):
        how(path)
    else:
        _set(path, how)


def test_python_rejects_what_eqinfo_verify_rejects(cli, tmp_path):
    """The same broken directories, given to `eqinfo verify` and to eqinfo.Shards: both reject each."""
    import shutil
    import subprocess

    src = tmp_path / "in.txt"
    src.write_bytes(SAMPLES["text"] * 3)
    good = tmp_path / "good"
    r = subprocess.run([cli, "shard", "--out", str(good), "--example-bytes", "100", "--shard-examples", "3",
                        "-b", "16", "-N", "8", str(src)], capture_output=True, cwd=tmp_path)
    if r.returncode == 2 and b"unknown command" in r.stderr:
        pytest.skip("this eqinfo CLI has no 'shard' command")
    assert r.returncode == 0, r.stderr.decode(errors="replace")

    def verify(path):
        return subprocess.run([cli, "verify", str(path)], capture_output=True, cwd=tmp_path)

    assert verify(good).returncode == 0
    assert eqinfo.Shards(good).check(tokenizer=eqinfo.Shards(good).tokenizer())["examples_decoded"] > 3
    manifest = json.loads((good / "manifest.json").read_text())
    assert manifest["stream_format"] == 2 and manifest["settings"]["segment_bytes"] == 65536
    for name, how in ACCEPTED.items():
        d = tmp_path / name.replace(" ", "_").replace(",", "")
        shutil.copytree(good, d)
        _set(d, how)
        v = verify(d)
        assert v.returncode == 0, f"{name}: eqinfo verify rejected it: {v.stderr.decode(errors='replace')}"
        shards = eqinfo.Shards(d)
        assert shards.settings["segment_bytes"] == (0 if name.startswith("stream_format 1") else 65536), name
        assert shards.check(tokenizer=shards.tokenizer())["examples_decoded"] > 3, name
    for name, how in BROKEN.items():
        d = tmp_path / name.replace(" ", "_")
        shutil.copytree(good, d)
        _break(d, how)
        v = verify(d)
        assert v.returncode != 0, f"{name}: eqinfo verify accepted it"
        with pytest.raises(eqinfo.Error) as e:
            shards = eqinfo.Shards(d)
            shards.check()
            list(shards)
        assert str(d) in str(e.value) and str(e.value).startswith("[eqinfo."), (name, str(e.value))


def test_shards_without_the_extension(tmp_path, unigram_path):
    """eqinfo.shards (and the packing vocabulary) import and read shards from the source tree,
    where the C++ extension is not built; the extension loads only when it is used."""
    import subprocess
    import sys

    tok = eqinfo.Tokenizer(unigram_path, window_bits=32)
    write_shards(tmp_path / "shards", tok, EXAMPLES, shard_examples=4)
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    code = ("import sys, eqinfo.shards as s; d = s.Shards(sys.argv[1]); d.check(); "
            "print(len(d), s.DEFAULT_PACKING, *sorted(s.PACKINGS), 'eqinfo._eqinfo' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "shards")], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": source}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(len(EXAMPLES)), "split", "concat", "split", "truncate", "False"]


@pytest.mark.parametrize("stream_format", [1, 2])
def test_segment_bytes_per_stream_format(tmp_path, unigram_path, stream_format):
    """Stream format 2 manifests carry equal_info_ac's segment_bytes (required); format 1 had none (0)."""
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32, segment_bytes=0 if stream_format == 1 else 4096)
    m = write_shards(tmp_path / "s", tok, EXAMPLES, shard_examples=4, stream_format=stream_format)
    assert ("segment_bytes" in m["settings"]) == (stream_format == 2)
    shards = eqinfo.Shards(tmp_path / "s")
    assert shards.settings["segment_bytes"] == tok.segment_bytes
    assert shards.tokenizer(unigram_path).settings == tok.settings
    # Format 2 requires it; format 1 ignores it (as the C++ reader does).
    _set(tmp_path / "s", lambda m: m["settings"].pop("segment_bytes", None))
    if stream_format == 2:
        with pytest.raises(eqinfo.Error) as e:
            eqinfo.Shards(tmp_path / "s")
        assert e.value.code == eqinfo.ErrorCode.CORRUPT_STREAM and 'lacks "segment_bytes"' in str(e.value)
    else:
        _set(tmp_path / "s", lambda m: m["settings"].update(segment_bytes=-5))
        assert eqinfo.Shards(tmp_path / "s").settings["segment_bytes"] == 0
    # Other methods never carry it.
    for kwargs in (dict(method="ac"), dict(method="bytes")):
        t = eqinfo.Tokenizer(unigram_path, **kwargs)
        d = tmp_path / kwargs["method"]
        m = write_shards(d, t, EXAMPLES, stream_format=stream_format)
        assert "segment_bytes" not in m["settings"]
        shards = eqinfo.Shards(d)
        assert shards.settings["segment_bytes"] is None
        assert shards.check(tokenizer=shards.tokenizer(unigram_path))["examples_decoded"] == len(EXAMPLES)


def test_segmented_shards(tmp_path, unigram_path):
    tok = eqinfo.Tokenizer(unigram_path, window_bits=32, segment_bytes=64)
    examples = [SAMPLES["text"][i * 300:(i + 1) * 300] for i in range(5)]
    write_shards(tmp_path, tok, examples, shard_examples=2)
    shards = eqinfo.Shards(tmp_path)
    assert shards.settings["segment_bytes"] == 64
    reader_tok = shards.tokenizer(unigram_path)
    assert reader_tok.segment_bytes == 64 and reader_tok.settings == tok.settings
    assert shards.check(tokenizer=reader_tok)["examples_decoded"] == len(examples)
    assert [reader_tok.decode(e.tokens, e.n_bytes) for e in shards] == examples
    with pytest.raises(eqinfo.Error):  # the tokens of segments of 64 bytes are not those of one segment
        shards.check(tokenizer=eqinfo.Tokenizer(unigram_path, window_bits=32))


def test_segment_bytes_agree_with_eqinfo_verify(cli, tmp_path, unigram_path):
    """`eqinfo shard --segment-bytes`: eqinfo verify and eqinfo.Shards read the same segment_bytes, and both
    reject the directory when the manifest says another one (or, as stream format 1, none)."""
    import shutil
    import subprocess

    src = tmp_path / "in.txt"
    src.write_bytes(SAMPLES["text"] * 3)
    good = tmp_path / "good"
    r = subprocess.run([cli, "shard", "--out", str(good), "--model", str(unigram_path), "--example-bytes", "400",
                        "--shard-examples", "3", "-b", "32", "--segment-bytes", "64", str(src)],
                       capture_output=True, cwd=tmp_path)
    if r.returncode == 2 and b"unknown" in r.stderr:
        pytest.skip("this eqinfo CLI has no 'shard' command or no --segment-bytes")
    assert r.returncode == 0, r.stderr.decode(errors="replace")

    def verify(path):
        return subprocess.run([cli, "verify", "--model", str(unigram_path), str(path)], capture_output=True,
                              cwd=tmp_path)

    assert verify(good).returncode == 0
    shards = eqinfo.Shards(good)
    assert shards.manifest["stream_format"] == 2 and shards.settings["segment_bytes"] == 64
    tok = shards.tokenizer(unigram_path)
    assert tok.segment_bytes == 64
    assert shards.check(tokenizer=tok)["examples_decoded"] == len(shards) > 3
    stream = src.read_bytes()
    for i, e in enumerate(shards):
        assert np.array_equal(e.tokens, eqinfo.Tokenizer(unigram_path, window_bits=32, segment_bytes=64).encode(
            stream[400 * i:400 * (i + 1)])), i
    for name, how in {"segment_bytes 0": lambda m: m["settings"].update(segment_bytes=0),
                      "segment_bytes 65": lambda m: m["settings"].update(segment_bytes=65),
                      "stream_format 1": lambda m: (m.update(stream_format=1), m["settings"].pop("segment_bytes"))
                      }.items():
        d = tmp_path / name.replace(" ", "_")
        shutil.copytree(good, d)
        _set(d, how)
        assert verify(d).returncode != 0, f"{name}: eqinfo verify accepted it"
        shards = eqinfo.Shards(d)
        shards.check()  # the files are intact: only decoding finds it
        with pytest.raises(eqinfo.Error):
            shards.check(tokenizer=shards.tokenizer(unigram_path))
