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
                               "rule": "delay"}
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


def test_legacy_layout_without_manifest(tmp_path):
    # training/m2/shards.py's 4-column index, no manifest: shard-*.npy found by name.
    tokens = np.arange(10, dtype=np.uint16)
    np.save(tmp_path / "shard-000000.npy", tokens)
    np.save(tmp_path / "shard-000000.idx.npy", np.array([[7, 0, 4, 0], [9, 4, 6, 7]], dtype=np.int64))
    shards = eqinfo.Shards(tmp_path)
    assert shards.index_columns == ["byte_count", "token_offset", "token_count", "source_offset"]
    items = list(shards)
    assert [e.n_bytes for e in items] == [7, 9]
    assert items[1].tokens.tolist() == [4, 5, 6, 7, 8, 9] and items[1].source == {"source_offset": 7}
    assert shards.check()["crcs_checked"] == 0
