#!/usr/bin/env python3
"""The SentencePiece baseline: a Unigram model (T5's kind) trained on our training split.

    /usr/bin/python3 -m training.train_sentencepiece --data-dir ~/.cache/eqinfo/data \
        --vocab-size 32000 --out models/spm/en32k

writes en32k.model and en32k.vocab. `count_tokens(processor, data)` is how every figure in
docs/results/ counts SentencePiece tokens of a byte string, so the methods compare on the
same bytes:

- Settings that keep the text as it is (our other methods are lossless): identity
  normalisation (T5's nmt_nfkc would rewrite bytes), no whitespace collapsing, and byte
  fallback so that any character is representable (its UTF-8 bytes become byte pieces).
- SentencePiece works on lines; a newline is not a piece of any line, so each '\\n' counts as
  one token (byte fallback's <0x0A>), which is what a lossless line-joining tokenizer costs.
- Bytes that are not UTF-8 cannot be passed to SentencePiece; each such byte counts as one
  token (a byte-fallback piece). Our corpora are UTF-8, so this does not arise in the tables.
"""
import argparse
import os
import sys
import time


def train(text_path: str, out_prefix: str, vocab_size: int, sentences: int, threads: int) -> None:
    import sentencepiece as spm

    os.makedirs(os.path.dirname(out_prefix) or ".", exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=out_prefix, vocab_size=vocab_size, model_type="unigram",
        character_coverage=0.9995, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=False, input_sentence_size=sentences,
        shuffle_input_sentence=True, max_sentence_length=16384, num_threads=threads,
        train_extremely_large_corpus=False, seed_sentencepiece_size=1000000, minloglevel=1)


def count_tokens(processor, data: bytes) -> int:
    """SentencePiece tokens of `data` (see the module docstring for newlines and non-UTF-8)."""
    total = 0
    lines = data.split(b"\n")
    total += len(lines) - 1  # one token per newline
    batch = []
    for line in lines:
        if not line:
            continue
        try:
            batch.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            text = line.decode("utf-8", errors="ignore")
            total += len(line) - len(text.encode("utf-8"))
            batch.append(text)
    if batch:
        total += sum(len(ids) for ids in processor.encode(batch))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", help="prepare_data.py output (uses DIR/train.txt)")
    ap.add_argument("--train", help="training text file (instead of --data-dir)")
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--sentences", type=int, default=2000000, help="lines sampled for training")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True, help="output prefix: writes PREFIX.model and PREFIX.vocab")
    args = ap.parse_args()
    path = args.train or (args.data_dir and os.path.join(args.data_dir, "train.txt"))
    if not path or not os.path.exists(path):
        sys.exit("train_sentencepiece: give --data-dir (with train.txt) or --train FILE")
    t0 = time.time()
    train(path, args.out, args.vocab_size, args.sentences, args.threads)
    print(f"train_sentencepiece: {args.out}.model ({args.vocab_size} pieces) in {time.time() - t0:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
