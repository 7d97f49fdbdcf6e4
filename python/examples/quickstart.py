#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""eqinfo from Python in a dozen lines: train a unigram model, encode, decode, batch."""

import eqinfo

text = open(__file__, "rb").read()
model = eqinfo.train_unigram(text)  # the bytes of a unigram model file (or path=... to save it)
tok = eqinfo.Tokenizer(model, method="equal-info", window_bits=16, token_bits=16)
tokens = tok.encode(text)  # numpy uint16
print(f"{tok}\n{len(text)} bytes -> {len(tokens)} tokens ({len(text) / len(tokens):.2f} bytes/token)")
assert tok.decode(tokens, len(text)) == text  # exact decoding needs the byte count

lines = text.splitlines()
batch = tok.encode_batch(lines, threads=0)  # oneTBB, GIL released, same tokens as encode()
assert tok.decode_batch(batch, [len(x) for x in lines]) == lines

try:
    tok.decode(tokens[:-1], len(text))
except eqinfo.Error as e:  # a ValueError with a stable code
    print(f"{e.code.name}: {e}")
