# SPDX-License-Identifier: MIT
"""eqinfo: neurally compressed tokens with equal-info windows, from Python.

    import eqinfo
    tok = eqinfo.Tokenizer("en.unigram")           # or "uniform", or an M1 .safetensors file
    tokens = tok.encode(b"any bytes at all")       # numpy uint16 array (N = 16)
    assert tok.decode(tokens, n_bytes=16) == b"any bytes at all"   # exact, checked
    text = tok.decode_bare(sampled_tokens)         # tokens sampled from a model (no byte count)

    batches = tok.encode_batch(list_of_bytes, threads=0)   # oneTBB, GIL released, same tokens

    shards = eqinfo.Shards("out/shards")           # token shards written by `eqinfo shard`

Exact decoding needs the number of bytes the tokens encode (``n_bytes``,
i.e. ``len(data)`` at encoding time): the last equal-info window, or the end
of an AC stream, can be read as more than one byte string. ``decode`` takes
it and checks everything; ``decode_bare`` is the separate, never-failing (on
in-range tokens) reading for tokens that have no byte count, as the C++ API
and the CLI (``--bytes`` / ``--bare``) do. .eqt token files carry the count.

Every error eqinfo reports raises :class:`eqinfo.Error` (a ValueError) with
a stable ``code`` (:class:`eqinfo.ErrorCode`) and the C++ message;
:class:`eqinfo.FileError` (also an OSError) for files that cannot be read.
"""

import importlib
import os

import numpy as np

from ._errors import Error, ErrorCode, FileError
from . import shards as _shards
from .shards import Shards

_EXTENSION = None


def _ext():
    """The C++ extension eqinfo._eqinfo, imported on first use: ``import eqinfo`` and
    ``import eqinfo.shards`` (pure Python + numpy) work without it."""
    global _EXTENSION
    if _EXTENSION is None:
        try:
            _eqinfo = importlib.import_module("._eqinfo", __name__)
        except ImportError as e:
            raise ImportError(
                "eqinfo: the C++ extension eqinfo._eqinfo is not built or not on the path; install with "
                "'bash python/install.sh', or build with -DEQINFO_BUILD_PYTHON=ON and set PYTHONPATH=<build>/python "
                f"({e})"
            ) from e
        _EXTENSION = _eqinfo
    return _EXTENSION


def __getattr__(name):
    # Module attributes that need the extension (PEP 562): loaded lazily.
    if name == "__version__":
        return _ext().version
    if name == "default_lanes":
        return _ext().default_lanes
    if name == "_eqinfo":
        return _ext()  # (importing it also sets the attribute: this runs once)
    raise AttributeError(f"module 'eqinfo' has no attribute {name!r}")


__all__ = [
    "Tokenizer",
    "Error",
    "ErrorCode",
    "FileError",
    "Shards",
    "StreamDecoder",
    "BatchStreamDecoder",
    "StreamEnd",
    "Utf8Stream",
    "train_unigram",
    "m1_random",
    "read_eqt",
    "METHODS",
    "RULES",
]

#: Method names (the CLI's): one token per byte; one arithmetic-code stream;
#: ``ac`` that requires a unigram model; equal-info windows.
METHODS = _shards.USER_METHODS
#: Equal-info window rules.
RULES = tuple(_shards.RULES.values())

_DTYPES = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32)}


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        reason = e.strerror or str(e)
        raise FileError(
            f"[eqinfo.file.io_error] {os.fspath(path)}: cannot open for reading ({reason})", ErrorCode.IO_ERROR
        ) from e


def _is_bytes_like(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _unsigned(name, value, bits):
    """`value` as a Python int below 2^bits (TypeError for non-integers and bools)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < 0 or value >= 2**bits:
        raise ValueError(f"{name} must be a non-negative {bits}-bit integer, got {value}")
    return value


def _uint(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    return _unsigned(name, value, 32)


def _count(name, value):
    return _unsigned(name, value, 64)


def _lanes(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"lanes must be an int, got {type(value).__name__}")
    if value < 0 or value >= 2**64:
        raise ValueError(f"lanes must be a positive int, got {value}")
    return int(value)  # 0: eqinfo.Error INVALID_ARGUMENT from the C++ (set_lanes)


def _threads(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"threads must be an int >= 0 (0: all cores), got {value!r}")
    return min(int(value), 4096)


def _as_tokens(tokens):
    """Tokens as a 1-D integer numpy array (any integer dtype, list, CPU torch tensor)."""
    a = np.asarray(tokens)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"tokens must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"tokens must be a 1-D array, got shape {a.shape}")
    if a.dtype == np.uint64 and int(a.max()) >= 2**32:
        i = int(np.argmax(a >= 2**32))
        raise Error(
            f"[eqinfo.stream.token_out_of_range] token {i} is {int(a[i])}, not a token value",
            ErrorCode.TOKEN_OUT_OF_RANGE,
        )
    return a


#: The bundled M1 (models/m1/m1.safetensors), shipped inside this package by every
#: build of it (wheel, ``pip install .``, the CMake build tree <build>/python).
_BUNDLED_M1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "m1.safetensors")


def _default_model(method):
    """The model used when none is given: the CLI's rule (``eqinfo encode`` without
    --model). $EQINFO_MODEL if set (a model file, or "uniform"), else the bundled M1;
    the bytes method uses no model. Raises FileError, as the CLI does, if the bundled
    M1 is missing (a package assembled by hand)."""
    if method == "bytes":
        return "uniform"
    env = os.environ.get("EQINFO_MODEL")
    if env:
        return env
    if os.path.isfile(_BUNDLED_M1):
        return _BUNDLED_M1
    raise FileError(
        f"[eqinfo.file.io_error] no model given and the bundled M1 is not where this package looks for it "
        f"({_BUNDLED_M1}); give a model file or 'uniform', or set EQINFO_MODEL",
        ErrorCode.IO_ERROR,
    )


def _model_source(model):
    """(model file bytes or None, name for messages, spec to pickle, path)."""
    if model is None or (isinstance(model, str) and model == "uniform"):
        return None, "uniform", "uniform", None
    if _is_bytes_like(model):
        data = bytes(model)
        return data, "<model bytes>", data, None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        return _read_file(path), path, os.path.abspath(path), path
    raise TypeError(
        "model must be 'uniform', a path to a unigram or M1 model file, or the bytes of one; "
        f"got {type(model).__name__}"
    )


class Tokenizer:
    """Bytes <-> tokens for one model and one choice of settings.

    Args:
        model: None (default): the CLI's default model -- $EQINFO_MODEL if
            set, else the bundled M1 (models/m1, shipped in the package; its
            path is :attr:`model_path`); ``"uniform"`` (8 bits/byte,
            compresses nothing), a path
            (str or os.PathLike) to a unigram model file (``eqinfo
            train-unigram``, :func:`train_unigram`) or an M1 model file
            (safetensors; its self-tests run at load), or the bytes of such a
            file. Unigram and M1 files are told apart by content (a file
            named ``uniform`` in the working directory: ``"./uniform"``).
        method: ``"equal-info"`` (default), ``"ac"``, ``"static-ac"`` (``ac``
            that requires a unigram model) or ``"bytes"`` (one 8-bit token per
            byte; the model is ignored).
        window_bits: equal-info window size b, a multiple of token_bits and
            >= precision (default 16). Ignored by the other methods.
        token_bits: bits per token N, 1..24; vocabulary 2**N. Default 16
            (8 for ``"bytes"``, which allows nothing else).
        precision: the model's CDF precision P, 8..24. Default: a unigram
            file's stored precision, else 16; a different value requantises
            a unigram model's counts.
        rule: equal-info window rule, ``"delay"`` (default) or ``"greedy-exact"``.
        self_test: run an M1 file's self-test vectors at load (default True).
        segment_bytes: S: equal-info codes the input in independent segments
            of S bytes (the last one shorter), each cut into windows on its
            own, so that one long input can use every core and lane
            (``encode(data, threads=0)``); 0: one segment. None (default):
            the C++ default, 0. It CHANGES THE TOKENS, so it is a setting: it
            is recorded in .eqt files and shard manifests and decoding needs
            the same value (the CLI's ``--segment-bytes``).
        lanes: how many equal-info windows or segments advance together in
            one batched M1 model call; None (default): :data:`default_lanes`
            (64). It NEVER changes the tokens (speed and memory only) and is
            not recorded anywhere.

    These are the CLI's options and defaults (``eqinfo encode --help``), so
    ``Tokenizer(m, method=..., window_bits=b, token_bits=N)`` gives the
    tokens of ``eqinfo encode --model m --method ... -b b -N N``.

    Invalid settings raise :class:`Error` (code ``INVALID_SETTINGS``); an
    unknown method or rule name raises ValueError; a corrupt model file
    raises :class:`Error` (``BAD_MAGIC``, ``BAD_MODEL_FILE``,
    ``CHECKSUM_MISMATCH``, ``SELF_TEST_FAILED``, ...).

    Tokens come back as numpy arrays of dtype :attr:`dtype`: uint8 for
    N <= 8, uint16 for N <= 16, else uint32 -- the layout of the CLI's raw
    and .npy output and of token shards.

    A Tokenizer may be shared by threads (calls on one Tokenizer run one at
    a time; batch calls run in parallel inside) and pickled (it is rebuilt
    from the model path or bytes, e.g. in DataLoader workers).
    """

    def __init__(
        self,
        model=None,
        method="equal-info",
        window_bits=16,
        token_bits=None,
        precision=None,
        rule="delay",
        *,
        self_test=True,
        segment_bytes=None,
        lanes=None,
    ):
        if not isinstance(method, str):
            raise TypeError(f"method must be a str, got {type(method).__name__}")
        if not isinstance(rule, str):
            raise TypeError(f"rule must be a str, got {type(rule).__name__}")
        data, source, spec, path = _model_source(_default_model(method) if model is None else model)
        segment_bytes = None if segment_bytes is None else _count("segment_bytes", segment_bytes)
        lanes = None if lanes is None else _lanes(lanes)
        self._args = (spec, method, window_bits, token_bits, precision, rule, bool(self_test), segment_bytes, lanes)
        self._model_path = path
        self._core = _ext().TokenizerCore(
            data,
            source,
            method,
            _uint("window_bits", window_bits),
            _uint("token_bits", token_bits, allow_none=True),
            _uint("precision", precision, allow_none=True),
            rule,
            bool(self_test),
            segment_bytes,
            lanes,
        )
        self._info = self._core.info()

    # ------------------------------------------------------------------ properties
    @property
    def method(self):
        """``"bytes"``, ``"ac"``, ``"static-ac"`` or ``"equal-info"``."""
        return self._info["method"]

    @property
    def window_bits(self):
        """b (meaningful for equal-info only)."""
        return self._info["window_bits"]

    @property
    def token_bits(self):
        """N: bits per token."""
        return self._info["token_bits"]

    @property
    def precision(self):
        """P: the model's CDF totals 2**P."""
        return self._info["precision"]

    @property
    def rule(self):
        """``"delay"`` or ``"greedy-exact"`` (meaningful for equal-info only)."""
        return self._info["rule"]

    @property
    def segment_bytes(self):
        """S: equal-info segment size in bytes (0: one segment); changes the tokens."""
        return self._info["segment_bytes"]

    @property
    def lanes(self):
        """Windows or segments per batched M1 model call; never changes the tokens."""
        return self._info["lanes"]

    @property
    def vocab_size(self):
        """2**N (256 for bytes)."""
        return self._info["vocab_size"]

    @property
    def tokens_per_window(self):
        """b / N for equal-info, else 0."""
        return self._info["tokens_per_window"]

    @property
    def model_fingerprint(self):
        """The model's 32-bit fingerprint (as recorded in .eqt files and shard manifests)."""
        return self._info["model_fingerprint"]

    @property
    def model_kind(self):
        """``"uniform"``, ``"unigram"``, ``"m1"``, or ``"none"`` (method bytes)."""
        return self._info["model_kind"]

    @property
    def model_path(self):
        """The model file's path, or None (uniform model, or a model given as bytes)."""
        return self._model_path

    @property
    def m1_config(self):
        """An M1 model's transformer config as a dict, else None."""
        import json

        text = self._info["m1_config"]
        return json.loads(text) if text else None

    @property
    def dtype(self):
        """numpy dtype of the token arrays: uint8 (N <= 8), uint16 (N <= 16) or uint32."""
        return _DTYPES[self._info["storage_bytes"]]

    @property
    def settings(self):
        """Everything that, with the bytes and the model, determines the tokens."""
        return {
            "method": self.method,
            "window_bits": self.window_bits,
            "token_bits": self.token_bits,
            "precision": self.precision,
            "rule": self.rule,
            "segment_bytes": self.segment_bytes,
            "model_fingerprint": self.model_fingerprint,
        }

    def __repr__(self):
        s = f"eqinfo.Tokenizer(model={self._describe_model()!r}, method={self.method!r}"
        if self.method == "equal-info":
            s += f", window_bits={self.window_bits}"
        if self.method != "bytes":
            s += f", token_bits={self.token_bits}, precision={self.precision}"
        if self.method == "equal-info":
            s += f", rule={self.rule!r}, segment_bytes={self.segment_bytes}"
        if self.lanes != _ext().default_lanes:
            s += f", lanes={self.lanes}"
        return s + f") [fingerprint 0x{self.model_fingerprint:08x}]"

    def _describe_model(self):
        if self._model_path is not None:
            return self._model_path
        return "uniform" if self._args[0] == "uniform" else f"<{self.model_kind} model bytes>"

    def __reduce__(self):
        return (_rebuild, self._args)

    # ------------------------------------------------------------------ coding
    def encode(self, data, *, threads=1, return_offsets=False):
        """Tokens of ``data`` (bytes, bytearray, memoryview, any contiguous buffer
        such as a numpy array -- its raw bytes --, or str, encoded as UTF-8).

        Returns a 1-D numpy array of dtype :attr:`dtype`. Decode it with
        ``decode(tokens, n_bytes)`` where n_bytes is the number of bytes
        encoded (``len(data)`` for bytes). ``threads`` != 1 encodes an
        equal-info input's segments (:attr:`segment_bytes` > 0) in parallel
        (0: all cores); the tokens are the same. Releases the GIL.

        ``return_offsets=True`` returns ``(tokens, offsets)``: ``offsets`` is
        an int64 array of shape ``(len(tokens), 2)``, row i the byte span
        ``[begin, end)`` of ``data`` that token i stands for (bytes: one byte;
        equal-info: its window's bytes, shared by the window's tokens; ac: the
        bytes that settled it, see docs/format.md "Token offsets"). They cost
        no model work and are the same for any ``threads``.
        """
        return self._core.encode(data, _threads(threads), bool(return_offsets))

    def decode(self, tokens, n_bytes, *, threads=1):
        """Exact decoding: the ``n_bytes`` bytes these tokens encode.

        ``tokens``: any 1-D integer array-like. Raises :class:`Error`
        (``TOKEN_OUT_OF_RANGE``, ``TRUNCATED_TOKENS``, ``TRAILING_BITS`` or
        ``CORRUPT_STREAM``, naming the token or window) for anything this
        tokenizer would not have written for ``n_bytes`` bytes.
        ``threads`` != 1 decodes equal-info windows in parallel (0: all
        cores); the bytes and errors are the same. Releases the GIL.
        """
        return self._core.decode(_as_tokens(tokens), _count("n_bytes", n_bytes), _threads(threads))

    def decode_bare(self, tokens, *, threads=1):
        """Decoding without a byte count, for tokens that have none (e.g.
        sampled from a language model), by the documented bare rule: bytes as
        they are; ac to the bytes its bits determine; equal-info window by
        window. Raises :class:`Error` only for out-of-range tokens (and
        ``TRUNCATED_TOKENS`` for a partial equal-info window).

        Do not use it to read back your own encodings: it may differ from the
        input at the very end (docs/format.md "End of input"); use decode().
        """
        return self._core.decode(_as_tokens(tokens), None, _threads(threads))

    def encode_batch(self, items, threads=0, *, return_offsets=False):
        """``[encode(x) for x in items]``, in parallel (oneTBB, GIL released).

        The tokens are identical to ``encode`` for every ``threads`` (0: all
        cores). If several items fail, the error of the first one is raised.
        ``return_offsets=True``: a list of ``(tokens, offsets)`` as ``encode`` gives.
        """
        return self._core.encode_batch(list(items), _threads(threads), bool(return_offsets))

    def decode_batch(self, tokens, n_bytes, threads=0):
        """``[decode(t, n) for t, n in zip(tokens, n_bytes)]``, in parallel (GIL released)."""
        tokens = [_as_tokens(t) for t in tokens]
        counts = [_count("n_bytes", n) for n in n_bytes]
        if len(tokens) != len(counts):
            raise ValueError(f"decode_batch: {len(tokens)} token arrays but {len(counts)} byte counts")
        return self._core.decode_batch(tokens, counts, _threads(threads))

    def decode_bare_batch(self, tokens, threads=0):
        """``[decode_bare(t) for t in tokens]``, in parallel (GIL released)."""
        return self._core.decode_bare_batch([_as_tokens(t) for t in tokens], _threads(threads))

    # ------------------------------------------------------------------ .eqt files
    def encode_eqt(self, data):
        """The .eqt token file (bytes) of ``data``: the CLI's default output,
        with the settings, the model fingerprint, the byte count and a CRC."""
        return self._core.encode_eqt(data)

    def decode_eqt(self, file, *, bare=False, threads=1):
        """Decodes an .eqt token file (its bytes, or a path). It must have been
        made with this tokenizer's settings and model (else ``SETTINGS_MISMATCH``)."""
        data, source = _eqt_source(file)
        return self._core.decode_eqt(data, source, bool(bare), _threads(threads))


    # --------------------------------------------------------------- streaming
    def stream_decoder(self, n_bytes=None, *, text=False):
        """A :class:`StreamDecoder` for one token stream (e.g. while M2 generates it)."""
        return StreamDecoder(self, n_bytes, text=text)

    def stream_decoder_batch(self, sequences, *, text=False):
        """A :class:`BatchStreamDecoder` for ``sequences`` streams decoded in lockstep."""
        return BatchStreamDecoder(self, sequences, text=text)


class StreamEnd(tuple):
    """What ``finish()`` found at the end of a stream: ``data`` (bytes, or str
    with ``text=True``) not returned before -- with a byte count, the final
    window's --, and ``leftover_tokens``: tokens after the last complete
    equal-info window, which decode to nothing (``decode_bare`` refuses such a
    stream with TRUNCATED_TOKENS)."""

    __slots__ = ()

    def __new__(cls, data, leftover_tokens):
        return super().__new__(cls, (data, leftover_tokens))

    data = property(lambda self: self[0])
    leftover_tokens = property(lambda self: self[1])

    def __repr__(self):
        return f"StreamEnd(data={self.data!r}, leftover_tokens={self.leftover_tokens})"


class Utf8Stream:
    """Bytes in, text out, never splitting a character: a window can end inside a
    multi-byte UTF-8 character, whose first bytes are held back until the rest
    arrives (as Hugging Face's ``DecodeStream`` does). Bytes that can never form
    a character are decoded with ``errors`` (default ``"replace"``: U+FFFD)."""

    def __init__(self, errors="replace"):
        self._held = b""
        self._errors = errors

    def push(self, data):
        """The text of ``data`` (after the held-back bytes) up to the last whole character."""
        buffer = self._held + bytes(data)
        whole = _ext().utf8_complete(buffer)
        self._held = buffer[len(whole):]
        return whole.decode("utf-8", self._errors)

    def finish(self):
        """The end of the stream: the held-back bytes (an incomplete character), decoded."""
        held, self._held = self._held, b""
        return held.decode("utf-8", self._errors)

    @property
    def held(self):
        """Bytes held back now (0 to 3)."""
        return len(self._held)


def _push_tokens(tokens):
    if isinstance(tokens, (int, np.integer)) and not isinstance(tokens, (bool, np.bool_)):
        tokens = [tokens]
    return _as_tokens(tokens)


class StreamDecoder:
    """Decodes one token stream as its tokens arrive (generation).

        dec = tok.stream_decoder(text=True)
        for token in sampler:                # one token, or a few, at a time
            print(dec.push(token), end="")   # the text that token's window completes
        end = dec.finish()                   # StreamEnd(data, leftover_tokens)

    ``push`` returns the bytes (str with ``text=True``, whole characters only:
    :class:`Utf8Stream`) of the windows the tokens complete. For any chunking,
    the pushes joined with ``finish().data`` are exactly ``decode_bare(stream)``,
    or with ``n_bytes`` exactly ``decode(stream, n_bytes)`` (then the last
    complete window is held back until a later token shows it is not the
    final one, and ``finish()`` decodes the whole stream once more to check it,
    raising what ``decode`` raises). Each window is read once, when its last
    token arrives. Methods bytes and equal-info (ac is one code: refused with
    INVALID_SETTINGS). Bad tokens raise TOKEN_OUT_OF_RANGE naming the token's
    index in the stream; such a chunk is not taken. Releases the GIL.
    """

    def __init__(self, tokenizer, n_bytes=None, *, text=False):
        count = None if n_bytes is None else _count("n_bytes", n_bytes)
        self._core = _ext().StreamDecoderCore(tokenizer._core, count)
        self._text = Utf8Stream() if text else None

    def push(self, tokens):
        """Appends ``tokens`` (an int or a 1-D integer array-like); returns what they complete."""
        out = self._core.push(_push_tokens(tokens))
        return self._text.push(out) if self._text is not None else out

    def finish(self):
        """Ends the stream (see :class:`StreamEnd`)."""
        data, leftover = self._core.finish()
        if self._text is not None:
            data = self._text.push(data) + self._text.finish()
        return StreamEnd(data, leftover)

    def reset(self, n_bytes=None):
        """Starts a new stream (bare, or exact for ``n_bytes`` bytes)."""
        self._core.reset(None if n_bytes is None else _count("n_bytes", n_bytes))
        if self._text is not None:
            self._text = Utf8Stream()

    @property
    def tokens_seen(self):
        return self._core.tokens_seen

    @property
    def bytes_out(self):
        return self._core.bytes_out


class BatchStreamDecoder:
    """Decodes ``sequences`` bare token streams at once, as a generation batch
    produces them: ``push([chunk_0, ..., chunk_{n-1}])`` (one token array, int or
    empty per sequence) returns one bytes (or str) per sequence, and the windows
    completed across all sequences are read in lockstep (one batched M1 call
    per step). Each sequence's output is exactly :class:`StreamDecoder`'s.
    ``reset(i)`` starts a new stream in slot i. Bad tokens raise before any
    chunk is taken."""

    def __init__(self, tokenizer, sequences, *, text=False):
        self._core = _ext().BatchStreamDecoderCore(tokenizer._core, _count("sequences", sequences))
        self._text = [Utf8Stream() for _ in range(sequences)] if text else None

    def __len__(self):
        return self._core.size

    def push(self, chunks):
        out = self._core.push([_push_tokens(c) for c in chunks])
        if self._text is None:
            return out
        return [t.push(b) for t, b in zip(self._text, out)]

    def finish(self, i):
        data, leftover = self._core.finish(i)
        if self._text is not None:
            data = self._text[i].push(data) + self._text[i].finish()
        return StreamEnd(data, leftover)

    def reset(self, i):
        self._core.reset(i)
        if self._text is not None:
            self._text[i] = Utf8Stream()


def _rebuild(spec, method, window_bits, token_bits, precision, rule, self_test, segment_bytes=None, lanes=None):
    return Tokenizer(spec, method, window_bits, token_bits, precision, rule, self_test=self_test,
                     segment_bytes=segment_bytes, lanes=lanes)


def _eqt_source(file):
    if _is_bytes_like(file):
        return file, "<bytes>"
    if isinstance(file, (str, os.PathLike)):
        return _read_file(file), os.fspath(file)
    raise TypeError(f"expected the bytes of an .eqt file or a path, got {type(file).__name__}")


def read_eqt(file):
    """An .eqt token file's header and tokens (its bytes or a path), without
    decoding: a dict with method, window_bits, token_bits, precision, rule,
    segment_bytes (0 for stream format 1 files), model_fingerprint, n_bytes and
    tokens (numpy). Checks magic, version and CRC."""
    data, source = _eqt_source(file)
    return _ext().read_eqt(data, source)


def train_unigram(data, precision=16, path=None):
    """A unigram model file (the paper's StaticAC model) counting every byte
    of ``data`` (bytes-like or str, or an iterable of them), quantised at
    ``precision`` by default. Returns the file's bytes (pass them, or the
    ``path`` they are also written to, as ``Tokenizer(model=...)``); the same
    file as ``eqinfo train-unigram``."""
    items = [data] if (_is_bytes_like(data) or isinstance(data, str)) else list(data)
    model = _ext().train_unigram(items, _uint("precision", precision))
    if path is not None:
        with open(path, "wb") as f:
            f.write(model)
    return model


def m1_random(path=None, *, layers=3, d_model=256, heads=4, head_dim=64, d_ff=1024, context=1024, seed=1):
    """An M1 model file with fixed pseudo-random weights (``eqinfo m1-random``;
    same defaults, the paper's "3m"): for tests and demos, it predicts nothing
    useful. Returns the file's bytes (also written to ``path`` if given)."""
    model = _ext().m1_random(
        _uint("layers", layers),
        _uint("d_model", d_model),
        _uint("heads", heads),
        _uint("head_dim", head_dim),
        _uint("d_ff", d_ff),
        _uint("context", context),
        _count("seed", seed),
    )
    if path is not None:
        with open(path, "wb") as f:
            f.write(model)
    return model
