# SPDX-License-Identifier: MIT
"""eqinfo.dask: the shards of `eqinfo shard`, byte for byte, on a Dask cluster
(LocalCluster with 2 worker processes; dask-scheduler + 2 dask-worker on
loopback), also when a worker dies mid-run and when the client is killed and
rerun; bad input stops the run naming the file and line, publishing nothing.
Needs the eqinfo CLI (EQINFO_CLI) and python3-distributed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import eqinfo

distributed = pytest.importorskip("distributed")
import eqinfo.dask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# Small shards, so that a run has many tasks (faults land mid-run) yet
# encodes in well under a second with a unigram model.
OPTIONS = {"example_bytes": 1500, "shard_examples": 3}
CLI_OPTIONS = ["--example-bytes", "1500", "--shard-examples", "3"]


def _corpus(root):
    """Text files, a directory, and a .jsonl file with escapes, blank lines,
    an empty document and raw non-UTF-8 bytes in a text field (kept as they
    are, as by the CLI)."""
    (root / "corpus" / "sub").mkdir(parents=True)
    sample = REPO / "data" / "sample"
    for name in ("jargon_sample.txt", "sotu_sample.txt"):
        shutil.copy(sample / name, root / "corpus" / name)
    (root / "corpus" / "sub" / "a.txt").write_bytes(b"a small file\n")
    (root / "corpus" / ".hidden").write_bytes(b"never read")
    lines = [json.dumps({"text": f"document {i}: " + "text " * (37 * i % 400)}).encode() for i in range(60)]
    lines[5] = b""
    lines[7] = json.dumps({"text": ""}).encode()
    lines[9] = b'{"text": "raw \xff\xfe bytes, \\u00e9 \\ud83d\\ude00"}'
    (root / "docs.jsonl").write_bytes(b"\n".join(lines) + b"\n")


@pytest.fixture(scope="module")
def work(tmp_path_factory, unigram_bytes):
    root = tmp_path_factory.mktemp("dask")
    _corpus(root)
    (root / "text.unigram").write_bytes(unigram_bytes)
    return root


@pytest.fixture
def here(work, monkeypatch):
    """Runs in the corpus directory: relative paths, as recorded in manifests."""
    monkeypatch.chdir(work)
    return work


INPUTS = ["corpus", "docs.jsonl"]


@pytest.fixture(scope="module")
def expected(work, cli):
    """The CLI's output for INPUTS, made once."""
    out = "cli-out"
    subprocess.run(
        [cli, "shard", "--model", "text.unigram", *CLI_OPTIONS, "--threads", "1", "--out", out, *INPUTS],
        cwd=work, check=True, capture_output=True,
    )
    return work / out


def _files(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(Path(d).rglob("*")) if p.is_file()}


def assert_same(expected_dir, got_dir):
    a, b = _files(expected_dir), _files(got_dir)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs from eqinfo shard's"
    assert len([n for n in a if n.startswith("shard-")]) > 20  # many tasks


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c, distributed.Client(c) as client:
        yield client


def test_same_as_cli_two_workers(here, expected, cluster):
    r = eqinfo.dask.shard(INPUTS, "two", client=cluster, model="text.unigram", **OPTIONS)
    assert_same(expected, here / "two")
    assert not r["already_complete"] and r["resumed"] == 0
    # Rerunning a finished job checks it and does nothing.
    assert eqinfo.dask.shard(INPUTS, "two", client=cluster, model="text.unigram", **OPTIONS)["already_complete"]


def test_same_as_cli_one_worker(here, expected):
    eqinfo.dask.shard(INPUTS, "one", workers=1, model="text.unigram", **OPTIONS)
    assert_same(expected, here / "one")


def test_worker_killed_after_first_shard(here, expected, monkeypatch):
    marker = here / "died"
    # Each worker process that finished a shard dies during its next one;
    # the marker lets one die only. The restarted worker and the other one
    # redo its task.
    monkeypatch.setenv("EQINFO_DASK_TEST_DIE_AFTER_FIRST", str(marker))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c, distributed.Client(c) as client:
        eqinfo.dask.shard(INPUTS, "killed", client=client, model="text.unigram", **OPTIONS)
    assert marker.exists(), "no worker died"
    assert_same(expected, here / "killed")


def test_client_killed_and_rerun(here, expected, cluster, cli):
    out = here / "restart"
    env = dict(os.environ, EQINFO_DASK_TEST_SLEEP="0.15")
    cmd = [sys.executable, "-m", "eqinfo.dask", "shard", "--workers", "2", "--model", "text.unigram",
           "--example-bytes", "1500", "--shard-examples", "3", "--out", "restart", *INPUTS]
    # Its own session: the client and its local cluster die together.
    p = subprocess.Popen(cmd, cwd=here, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if list((out / ".eqinfo-shard").glob("shard-*.json")):
                break
            time.sleep(0.02)
        assert p.poll() is None, p.stderr.read().decode()
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    time.sleep(0.3)  # let orphaned writes (none should remain) settle
    assert not (out / "manifest.json").exists()
    done = len(list((out / ".eqinfo-shard").glob("shard-*.json")))
    total = len([n for n in _files(expected) if n.endswith(".idx.npy")])
    assert 1 <= done < total
    # The state directory is the CLI's: `eqinfo shard` resumes the run too.
    shutil.copytree(out, here / "restart-cli")
    c = subprocess.run([cli, "shard", "--model", "text.unigram", *CLI_OPTIONS, "--out", "restart-cli", *INPUTS],
                       cwd=here, capture_output=True, check=True)
    assert b"kept" in c.stderr, c.stderr.decode()
    assert_same(expected, here / "restart-cli")
    r = eqinfo.dask.shard(INPUTS, "restart", client=cluster, model="text.unigram", **OPTIONS)
    assert r["resumed"] >= done
    assert_same(expected, out)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing", None, "missing.txt: cannot open"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": oops}\n', "bad.jsonl:2: invalid JSON"),
        ("nofield.jsonl", b'{"text": "ok"}\n\n{"body": "x"}\n', 'nofield.jsonl:3: .*no field "text"'),
    ],
)
def test_bad_input_names_file_and_line(here, name, content, message):
    if content is not None:
        (here / name).write_bytes(content)
    source = name if content is not None else "missing.txt"
    out = here / f"bad-{name}"
    with pytest.raises(eqinfo.Error, match=message):
        # No cluster is started: the plan fails first.
        eqinfo.dask.shard(["corpus", source], out.name, client="tcp://127.0.0.1:9", model="text.unigram", **OPTIONS)
    published = [p.name for p in out.iterdir()] if out.exists() else []
    assert [n for n in published if n != ".eqinfo-shard"] == []


def _start(cmd, cwd, log):
    return subprocess.Popen(cmd, cwd=cwd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def test_scheduler_and_two_workers_on_loopback(here, expected):
    """The README's "Scale out" setup, on one machine."""
    scheduler = shutil.which("dask-scheduler")
    worker = shutil.which("dask-worker")
    if not scheduler or not worker:
        pytest.skip("dask-scheduler / dask-worker not installed")
    file = here / "scheduler.json"
    log = open(here / "cluster.log", "wb")
    procs = [_start([scheduler, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(file)], here, log)]
    try:
        deadline = time.time() + 30
        while not file.exists() and time.time() < deadline:
            time.sleep(0.05)
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            procs.append(_start([worker, address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                 "--host", "127.0.0.1"], "/", log))
        with distributed.Client(address) as client:
            client.wait_for_workers(2, timeout=30)
        r = subprocess.run(
            [sys.executable, "-m", "eqinfo.dask", "shard", "--scheduler", address, "--model", "text.unigram",
             "--example-bytes", "1500", "--shard-examples", "3", "--out", "loopback", *INPUTS],
            cwd=here, capture_output=True, timeout=120,
        )
        assert r.returncode == 0, r.stderr.decode()
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()
    assert_same(expected, here / "loopback")


def test_window_offsets_same_as_cli_and_the_encoder(here, cli, cluster):
    """--window-offsets: the windows files are the CLI's, and each example's token offsets
    read back from them are the encoder's (Tokenizer.encode(..., return_offsets=True))."""
    cli_out = "cli-windows"
    subprocess.run([cli, "shard", "--model", "text.unigram", *CLI_OPTIONS, "--window-offsets", "--threads", "1",
                    "--out", cli_out, *INPUTS], check=True, capture_output=True)
    eqinfo.dask.shard(INPUTS, "dask-windows", client=cluster, model="text.unigram", window_offsets=True, **OPTIONS)
    assert_same(here / cli_out, here / "dask-windows")
    shards = eqinfo.Shards("dask-windows")
    assert shards.window_bytes_stored and shards.manifest["window_bytes"] is True
    tok = shards.tokenizer("text.unigram")
    for i in range(0, len(shards), 7):
        e = shards[i]
        data = tok.decode(e.tokens, e.n_bytes)
        tokens, offsets = tok.encode(data, return_offsets=True)
        assert (tokens == e.tokens).all()
        assert (shards.token_offsets(i) == offsets).all()
    shards.check(tokenizer=tok)
    r = subprocess.run([cli, "verify", "--model", "text.unigram", "dask-windows"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # Window counts that still add up to each example's bytes, with the manifest's CRC
    # made to match: only re-encoding (eqinfo verify) can tell.
    m = json.loads((here / "dask-windows" / "manifest.json").read_text())
    rec = m["shards"][0]
    path = here / "dask-windows" / rec["windows_file"]
    counts = shards.window_bytes(0).copy()
    first = int(np.flatnonzero(counts[:-1] > 1)[0])
    counts[first] -= 1
    counts[first + 1] += 1
    body = _npy(counts)
    path.write_bytes(body)
    rec["windows_crc32"] = f"0x{zlib.crc32(body):08x}"
    (here / "dask-windows" / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    r = subprocess.run([cli, "verify", "--model", "text.unigram", "dask-windows"], capture_output=True, text=True)
    assert r.returncode != 0 and "not the encoder's windows" in r.stderr
    # Only equal-info windows stand for bytes.
    r = subprocess.run([cli, "shard", "--method", "bytes", "--window-offsets", "--out", "bytes-windows", *INPUTS],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "window offsets need method equal-info" in r.stderr


def _npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
