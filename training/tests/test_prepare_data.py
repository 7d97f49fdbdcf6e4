"""Tests of the pure functions of training/prepare_data.py (no network, no downloads).

Run:  /usr/bin/python3 -m pytest training/tests/test_prepare_data.py   (or run this file directly).
"""

import gzip
import struct
import zlib

from training import prepare_data as P


def test_split_rule_is_a_pure_function_of_the_key():
    keys = [f"src:doc{i}" for i in range(20000)]
    a = [P.split_of(k) for k in keys]
    assert a == [P.split_of(k) for k in keys]                     # deterministic
    n = {s: a.count(s) for s in ("train", "valid", "test")}
    assert 300 <= n["valid"] <= 500 and 300 <= n["test"] <= 500   # ~2 % each of 20000
    assert n["train"] == 20000 - n["valid"] - n["test"]
    # pinned values: changing the salt or the rule must be a conscious decision
    assert P.unit_hash("eqinfo-split-v1", "sotu:1790_george_washington_n") == \
        int.from_bytes(__import__("hashlib").sha256(
            b"eqinfo-split-v1:sotu:1790_george_washington_n").digest()[:8], "big") / 2.0 ** 64
    assert [P.split_of(f"k{i}") for i in range(8)] == [P.split_of(f"k{i}") for i in range(8)]


def test_parallel_bible_chapters_share_a_split():
    kjv = P.Doc("kjv", "Gen.1", "In the beginning", key=P.bible_split_key("Gen.1"))
    web = P.Doc("web", "Gen.1", "In the beginning", key=P.bible_split_key("Gen.1"))
    assert kjv.key == web.key == "bible:Gen.1"
    assert P.split_of(kjv.key) == P.split_of(web.key)
    assert P.bible_split_key("DanGr.3") == P.bible_split_key("Dan.12") == "bible:Dan"
    assert P.bible_split_key("EsthGr.2") == "bible:Esth"
    assert P.Doc("sotu", "x", "t").key == "sotu:x"


def test_join_and_normalize():
    assert P.normalize_doc("\n\n  indented\nbody  \n\n") == "  indented\nbody"
    assert P.join_docs(["a", "b\nc"]) == "a\n\nb\nc\n"
    assert P.join_docs([]) == ""
    assert P.doc_bytes(P.Doc("s", "i", "é")) == 2 + len(P.SEPARATOR)


def test_waterfill():
    caps = P.waterfill(100, {"a": 1000, "b": 1000}, {"a": 0.5, "b": 0.5})
    assert caps == {"a": 50, "b": 50}
    caps = P.waterfill(100, {"a": 10, "b": 1000, "c": 1000}, {"a": 0.5, "b": 0.25, "c": 0.25})
    assert caps["a"] == 10 and caps["b"] == caps["c"] == 45        # a's unused share goes to b, c
    caps = P.waterfill(10**9, {"a": 10, "b": 20}, {"a": 1, "b": 1})
    assert caps == {"a": 10, "b": 20}                                # everything fits


def test_take_prefix_is_monotone():
    docs = [P.Doc("s", f"d{i}", "x" * (10 + i % 7)) for i in range(200)]
    small = P.take_prefix(docs, 500)
    big = P.take_prefix(docs, 1500)
    assert sum(P.doc_bytes(d) for d in small) <= 500
    assert {d.id for d in small} <= {d.id for d in big}
    assert P.take_prefix(docs, None) == docs


def test_dict_index_and_entries():
    assert P.dict_b64("A") == 0 and P.dict_b64("B") == 1 and P.dict_b64("BA") == 64
    data = b"00-database-short\n   x\nHELLO\n   a greeting\n\nWORLD\n   the earth\n"
    h0, e1, e2 = 0, data.index(b"HELLO"), data.index(b"WORLD")
    enc = lambda v: P._DICT_B64[v // 64] + P._DICT_B64[v % 64]  # noqa: E731
    index = "\n".join([f"00databaseshort\t{enc(h0)}\t{enc(e1)}",
                       f"hello\t{enc(e1)}\t{enc(e2 - e1)}",
                       f"hi\t{enc(e1)}\t{enc(e2 - e1)}",            # same entry, second headword
                       f"world\t{enc(e2)}\t{enc(len(data) - e2)}"]) + "\n"
    ents = P.dict_entries(index, data)
    assert [h for h, _ in ents] == [["hello", "hi"], ["world"]]
    assert ents[0][1] == b"HELLO\n   a greeting\n\n"


def test_xref_braces():
    assert P.strip_xref_braces("see {Jury} and {parser\n   generator}.") == "see Jury and parser\n   generator."
    assert P.strip_xref_braces("int main() { return 0; }") == "int main() { return 0; }"
    assert P.strip_xref_braces("{(http://x.org/)}") == "(http://x.org/)"


def test_clean_gcide():
    entry = ('Zythum \\Zy"thum\\ (z[i^]"th[u^]m), n. [L., fr. Gr. zy^qos a kind\n'
             '   of beer.] A kind of malt beverage. [Written also {zythem}.]\n'
             '   [1913 Webster] Zythem\n'
             '\n'
             '   2. A caf[\'e]; [ae]ther. [R.] [Webster 1913 Suppl. +PJC]\n'
             '   [WordNet 1.5]\n')
    out = P.clean_gcide(entry)
    assert out == ('Zythum, n. [L., fr. Gr. zy^qos a kind\n'
                   '   of beer.] A kind of malt beverage. [Written also zythem.]\n'
                   '\n'
                   '   2. A caf\u00e9; \u00e6ther. [R.]\n')
    assert P.decode_utf8_or_cp1252(b"market\x92s") == "market\u2019s"


def test_fortunes():
    text = "First\nfortune.\n%\n  Second, with _\b_u\bun\bnd\bde\ber\brl\bli\bin\bne\be\x07.\n%\n%\n"
    forts = P.split_fortunes(P.clean_fortune(text))
    assert forts == ["First\nfortune.", "  Second, with _underline."]


def test_split_chapters():
    lines = ["EMMA", "", "VOLUME I", "", "CHAPTER I", "", "Emma Woodhouse.", "",
             "CHAPTER II", "Mr. Weston.", "VOLUME II", "", "", "CHAPTER I", "Text."]
    ch = P.split_chapters(lines)
    assert ch == ["EMMA\n\nVOLUME I\n\nCHAPTER I\n\nEmma Woodhouse.\n",
                  "CHAPTER II\nMr. Weston.",
                  "VOLUME II\n\n\nCHAPTER I\nText."]
    assert P.split_chapters(["no", "chapters"]) == ["no\nchapters"]


def test_split_jargon():
    nb = "\u00a0"
    text = "\n".join([
        "The Jargon File", "   1. Hacker Slang (toc)", "",
        f"Chapter{nb}1.{nb}Hacker Slang", "", "   Intro prose.", "",
        "Glossary", "", "   0", "", "  A", "", "   abbrev", "", "   ACK", "",
        "   :abbrev: /@·breev'/, n.", "", "   Common abbreviation for {abbreviation}.", "",
        "   :ACK: /ak/, interj.", "", "   Acknowledge.", "",
        "  B", "", "   bar", "",
        "   :bar: n.", "", "   See {foo}.", "",
        f"Appendix{nb}A.{nb}Hacker Folklore", "", "   Stories.", ""])
    docs = P.split_jargon(text)
    assert [h for h, _ in docs] == [f"Chapter{nb}1.{nb}Hacker Slang", ":abbrev: /@·breev'/, n.",
                                    ":ACK: /ak/, interj.", ":bar: n.", f"Appendix{nb}A.{nb}Hacker Folklore"]
    assert docs[1][1] == "   :abbrev: /@·breev'/, n.\n\n   Common abbreviation for {abbreviation}."


def test_osis():
    frag = ('<w lemma="strong:H0430">God</w><note placement="foot"><reference>1:1 </reference>'
            'Elohim.</note><w lemma="x">created</w>, \u201c<w>Let</w> there be &amp; light,\u201d'
            '<l eID="a"/><l sID="b"/>and<note>n</note>, it was.')
    assert P.osis_to_text(frag) == "God created, \u201cLet there be & light,\u201d and, it was."
    verses = ['<div sID="g1" type="front"/><title>Preface</title>',
              '<div canonical="true" osisID="Gen" sID="g2" type="book"/><title>Genesis</title>',
              '<chapter n="1" osisID="Gen.1" sID="Gen.1"/>',
              'In the beginning.', 'And the earth.',
              'The end of Gen 1.<chapter eID="Gen.1"/><chapter n="2" osisID="Gen.2" sID="Gen.2"/>Thus.',
              'Last verse. <div canonical="true" eID="g2" osisID="Gen" type="book"/>',
              '<div canonical="true" osisID="Exod" sID="g3" type="book"/><title>Exodus</title>',
              '<chapter n="1" osisID="Exod.1" sID="Exod.1"/>', 'Names.']
    assert P.group_osis_chapters(verses) == [
        ("Gen.1", "Preface\nGenesis\nIn the beginning.\nAnd the earth.\nThe end of Gen 1."),
        ("Gen.2", "Thus.\nLast verse."),
        ("Exod.1", "Exodus\nNames.")]


def test_kjv_chapters():
    books = ["Ge", "Exo"] + [f"B{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(64)]
    lines = ["Ge1:1 In the beginning.", "Ge1:2 And the earth.", "Ge2:1 Thus.", "Exo1:1 Now these."]
    lines += [f"{b}1:1 v." for b in books[2:]]
    ch = P.group_kjv_chapters(lines)
    assert ch[:3] == [("Gen.1", "In the beginning.\nAnd the earth."), ("Gen.2", "Thus."),
                      ("Exod.1", "Now these.")]
    assert ch[-1] == ("Rev.1", "v.")


def test_wordnet_glosses():
    text = ("  1 This software and database is being provided\n"
            "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived; "
            "\"the entity\"  \n"
            "00001930 03 n 01 physical_entity 0 000 | an entity that has physical existence\n")
    assert P.wordnet_glosses(text) == ['that which is perceived; "the entity"',
                                      "an entity that has physical existence"]


def test_factbook_texts():
    obj = {"Introduction": {"Background": {"text": "B" * 250}},
           "Geography": {"Location": {"text": "short"}, "Area": [{"text": "C" * 200}]}}
    assert P.factbook_texts(obj) == ["B" * 250, "C" * 200]


def test_r_char_vector_and_index():
    def xdr(strings):
        b = b"X\n" + struct.pack(">iii", 3, 0x040201, 0x030500) + struct.pack(">i", 5) + b"UTF-8"
        b += struct.pack(">ii", 16, len(strings))
        for s in strings:
            if s is None:
                b += struct.pack(">ii", 9, -1)
            else:
                e = s.encode()
                b += struct.pack(">ii", 0x00040009, len(e)) + e
        return b
    raw = xdr(["Chapter 1", "", None, "It is a truth."])
    blob = struct.pack(">i", len(raw)) + zlib.compress(raw)
    assert P.r_char_vector(blob) == ["Chapter 1", "", "", "It is a truth."]
    # a minimal rdx: two (offset, length) integer vectors, then the names
    rdx = b"X\n" + b"\x00\x00\x00\x0d\x00\x00\x00\x02" + struct.pack(">ii", 0, 10)
    rdx += b"\x00\x00\x00\x0d\x00\x00\x00\x02" + struct.pack(">ii", 10, 20)
    rdx += b"\x00\x04\x00\x09\x00\x00\x00\x05names\x00\x00\x00\x10\x00\x00\x00\x02"
    for n in (b"emma", b"persuasion"):
        rdx += b"\x00\x04\x00\x09" + struct.pack(">i", len(n)) + n
    assert P.r_rdx_variables(gzip.compress(rdx)) == (["emma", "persuasion"], [(0, 10), (10, 20)])


def test_decontaminate():
    held = P.heldout_line_set(["Of Man's first disobedience, and the fruit\nshort line\n"])
    docs = [P.Doc("gcide", "a", "Fruit, n.\n      Of Man's first disobedience, and the fruit   --Milton."),
            P.Doc("gcide", "b", "Quote:\n     Of Man's first disobedience, and the fruit\n"),
            P.Doc("gcide", "c", "short line")]
    kept, dropped = P.decontaminate(docs, held)
    assert [d.id for d in kept] == ["a", "c"] and [d.id for d in dropped] == ["b"]


if __name__ == "__main__":
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            fn()
            print("ok", name)
