# SPDX-License-Identifier: MIT
"""``eqinfo shard`` on a Dask cluster: the same shards, index and manifest, byte
for byte, for any number of workers.

    import eqinfo.dask
    eqinfo.dask.shard(["corpus/"], "shards/", model="en.unigram",
                      client="tcp://scheduler:8786")

    python3 -m eqinfo.dask shard --scheduler tcp://scheduler:8786 \\
        --model en.unigram --out shards/ corpus/

The inputs, the model file and the output directory must be on a file system
every worker sees, at the same paths (relative paths are taken from the
client's working directory, so give absolute ones when the workers run
elsewhere).

How (tools/shard_pipeline.hpp, reached through eqinfo._eqinfo): the client
records the job exactly as ``eqinfo shard`` does (same settings, options and
input listing: one C++ definition), prepares the directory
(``.eqinfo-shard/job.json``), then reads and cuts the whole corpus once
without a model (the *plan*: per shard a small cursor into the inputs, its
byte count and source CRC). Bad input stops the run there, naming the file
and line, before any shard exists. Each shard is then one Dask task, a pure
function of (job, cursor, k): it re-reads its examples from the cursor,
encodes them (the GIL released), writes its three files under temporary
names no other writer uses, fsyncs and renames them, and writes its
done-record ``.eqinfo-shard/shard-NNNNNN.json``, exactly as the CLI does.
The client writes ``manifest.json`` last, from the done-records.

Faults: a task on a worker that dies is rerun elsewhere by the scheduler
(``retries`` more for errors); a rerun finds the shard finished (done-record,
files with its sizes and CRCs) or makes it again, to the same bytes. Killing
the client loses nothing finished: the same call (or ``eqinfo shard`` with the
same options) resumes, and an ``eqinfo shard`` run is resumed by this module.
"""

import argparse
import codecs
import os
import sys
import time
import uuid

from . import Tokenizer, _default_model, _ext

__all__ = ["shard", "main"]


# --------------------------------------------------------------------------- tasks

_finished_here = 0  # shards this worker process finished (the test hook below)


def _test_hook(stage):
    """Fault injection for the tests (python/tests/test_dask.py); off unless set.
    EQINFO_DASK_TEST_SLEEP: seconds to wait before each shard (a slow run to
    kill). EQINFO_DASK_TEST_DIE_AFTER_FIRST=MARKER: the first worker process
    to start a second shard creates MARKER and dies (os._exit) once that
    shard's files and done-record are written, before its result reaches the
    scheduler, so the task must run again elsewhere."""
    if stage == "before":
        delay = os.environ.get("EQINFO_DASK_TEST_SLEEP")
        if delay:
            time.sleep(float(delay))
        return
    marker = os.environ.get("EQINFO_DASK_TEST_DIE_AFTER_FIRST")
    if marker and _finished_here >= 1:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(70)


def _shard_task(out, base, k, entry, threads):
    """Shard k from its plan entry -> (its done-record's JSON, whether it was
    finished before). The job is the one recorded in OUT/.eqinfo-shard/job.json
    (on the shared file system: tasks stay small however many inputs)."""
    global _finished_here
    _test_hook("before")
    with open(os.path.join(out, ".eqinfo-shard", "job.json"), encoding="utf-8") as f:
        job = f.read()
    record, resumed = _ext().shard_one(job, out, base, k, tuple(entry), threads)
    _test_hook("after")
    _finished_here += 1
    return record, resumed


# --------------------------------------------------------------------------- client


def _separator_bytes(separator):
    if isinstance(separator, str):
        return separator.encode("utf-8")
    return bytes(separator)


def _summary(manifest_path):
    import json

    with open(manifest_path, encoding="utf-8") as f:
        m = json.load(f)
    return {
        "shards": len(m["shards"]),
        "examples": sum(s["examples"] for s in m["shards"]),
        "bytes": sum(s["bytes"] for s in m["shards"]),
        "tokens": sum(s["tokens"] for s in m["shards"]),
    }


def shard(
    inputs,
    out,
    *,
    client=None,
    model=None,
    format="npy",
    example_bytes=10240,
    shard_examples=1024,
    separator="\n\n",
    text_field="text",
    keep_documents=False,
    window_offsets=False,
    threads=1,
    retries=3,
    workers=None,
    progress=False,
    **settings,
):
    """Shards `inputs` (files, .jsonl files, directories) into `out` on Dask.

    ``settings``: :class:`eqinfo.Tokenizer`'s (method, window_bits,
    token_bits, precision, rule, segment_bytes), with its defaults, which are
    the CLI's. The other options are ``eqinfo shard``'s, with its defaults (``separator`` is
    the value itself, not C-escaped; ``model=None``: $EQINFO_MODEL, else the
    bundled M1; a path must be one every worker can open). The output is
    byte-identical to ``eqinfo shard`` with the same inputs and options, run
    in the same working directory (the manifest records paths as given).

    client: a ``distributed.Client``, a scheduler address, or None for a
    ``LocalCluster`` of ``workers`` processes (default: the CPU count) with
    one thread each. threads: encoding threads per task (one task per shard;
    1 suits one thread per worker). retries: reruns of a task that raised.

    Returns a dict: shards, resumed (shards an earlier run had finished),
    examples, bytes, tokens, already_complete. Raises eqinfo.Error naming
    the file and line of bad input, or the first difference from an earlier
    run of another job in `out`.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(p) for p in inputs]
    out = os.fspath(out)
    if model is None:
        model = _default_model(settings.get("method", "equal-info"))
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError("model must be 'uniform' or a path to a model file every worker can read")
    model = os.fspath(model)
    # Settings resolved by Tokenizer: the CLI's option names and defaults.
    settings = Tokenizer(model, self_test=False, **settings).settings
    ext = _ext()
    job = ext.shard_job(
        settings,
        model,
        format,
        int(example_bytes),
        int(shard_examples),
        _separator_bytes(separator),
        text_field,
        bool(keep_documents),
        inputs,
        out,
        bool(window_offsets),
    )
    manifest_path = os.path.join(out, "manifest.json")
    if ext.shard_prepare(job, out):
        return dict(_summary(manifest_path), resumed=None, already_complete=True)
    base = os.getcwd()
    entries, planned_job = ext.shard_plan(job, base)

    own = None
    if client is None or isinstance(client, str):
        from distributed import Client, LocalCluster

        if client is None:
            own = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=":0",
            )
            client = Client(own)
        else:
            client = Client(client)
        own = (client, own)
    try:
        out_abs = os.path.abspath(out)
        run = uuid.uuid4().hex[:12]
        futures = [
            client.submit(
                _shard_task, out_abs, base, k, entry, int(threads),
                key=f"eqinfo-shard-{run}-{k:06d}", retries=int(retries), pure=False,
            )
            for k, entry in enumerate(entries)
        ]
        if progress:
            from distributed import as_completed

            done = 0
            for _ in as_completed(futures):
                done += 1
                print(f"eqinfo.dask: {done}/{len(futures)} shards", file=sys.stderr, flush=True)
        results = client.gather(futures)
    finally:
        if own is not None:
            own[0].close()
            if own[1] is not None:
                own[1].close()
    ext.shard_finish(planned_job, out, entries, [r for r, _ in results])
    return dict(_summary(manifest_path), resumed=sum(bool(f) for _, f in results), already_complete=False)


# --------------------------------------------------------------------------- command line


def _parser():
    p = argparse.ArgumentParser(
        prog="python3 -m eqinfo.dask",
        description="eqinfo shard on a Dask cluster (the same output, byte for byte).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("shard", help="a corpus -> token shards, one Dask task per shard")
    s.add_argument("inputs", nargs="+", metavar="INPUT")
    s.add_argument("--out", "-o", required=True, metavar="DIR")
    s.add_argument("--scheduler", metavar="ADDRESS", help="a running scheduler (default: a local cluster)")
    s.add_argument("--workers", type=int, help="local cluster: worker processes (default: CPU count)")
    s.add_argument("--model", "-m")
    s.add_argument("--method", default="equal-info")
    s.add_argument("--window-bits", "-b", type=int, default=16)
    s.add_argument("--token-bits", "-N", type=int)
    s.add_argument("--precision", "-P", type=int)
    s.add_argument("--rule", default="delay")
    s.add_argument("--segment-bytes", type=int)
    s.add_argument("--format", default="npy", choices=["npy", "raw"])
    s.add_argument("--threads", type=int, default=1, help="encoding threads per task (default: 1)")
    s.add_argument("--text-field", default="text")
    s.add_argument("--separator", default="\\n\\n", help="C escapes, as eqinfo shard (default: \\n\\n)")
    s.add_argument("--example-bytes", type=int, default=10240)
    s.add_argument("--keep-documents", action="store_true")
    s.add_argument("--window-offsets", action="store_true",
                   help="also store every window's byte count (equal-info; eqinfo shard --window-offsets)")
    s.add_argument("--shard-examples", type=int, default=1024)
    s.add_argument("--retries", type=int, default=3)
    s.add_argument("--progress", action="store_true")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from ._errors import Error

    try:
        # Every option but these has shard()'s name (argparse's dest).
        options = {k: v for k, v in vars(args).items() if k not in ("command", "inputs", "out", "scheduler")}
        options["separator"] = codecs.escape_decode(args.separator.encode("utf-8"))[0]
        r = shard(args.inputs, args.out, client=args.scheduler, **options)
    except (Error, ValueError, TypeError, OSError) as e:
        print(f"eqinfo.dask: {e}", file=sys.stderr)
        return 1
    what = "already complete" if r["already_complete"] else "done"
    print(
        f"eqinfo.dask: {args.out}: {r['shards']} shards, {r['examples']:,} examples, {r['bytes']:,} bytes -> "
        f"{r['tokens']:,} tokens ({what})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
