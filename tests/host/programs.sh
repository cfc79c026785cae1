#!/usr/bin/env bash
# programs.sh PROGRAM LIB WORKDIR: a Debian program doing real work, run once
# with glibc's malloc and once with LIB preloaded; the outputs must be
# identical (after removing what legitimately differs between two runs:
# timings), and LIB must have served the second run (its statistics line).
# Exit 77 (SKIP) if the program is not installed.
set -uo pipefail
prog=$1 lib=$2 work=$3/$1
here=$(cd "$(dirname "$0")" && pwd)
case $prog in
  python3) exe=/usr/bin/python3 ;;  # Debian's, not a shim on PATH
  *) exe=$(command -v "$prog" || true) ;;
esac
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
  echo "SKIP: $prog is not installed (tools/setup.sh installs it)"
  exit 77
fi
[ -f "$lib" ] || { echo "FAIL: $lib missing"; exit 1; }

# The work, in a fresh directory each time; prints everything to stdout.
run_once() {
  rm -rf "$work/run" && mkdir -p "$work/run" && cd "$work/run" || exit 1
  case $prog in
    python3)
      "$exe" "$here/alloc_heavy.py"
      ;;
    sqlite3)
      "$exe" db.sqlite <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO t SELECT i, printf('name-%08d-%s', i, hex(i * 7919)), i % 97, zeroblob(i % 300) FROM n;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, id);
SELECT grp, count(*), sum(length(payload)), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 10;
SELECT count(*) FROM t WHERE name LIKE 'name-0001%';
UPDATE t SET name = upper(name) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY name DESC LIMIT 20);
SELECT sum(id), total(length(name)) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT count(*) FROM t;
SQL
      ;;
    git)
      export GIT_AUTHOR_NAME=sdmm GIT_AUTHOR_EMAIL=sdmm@example.org GIT_COMMITTER_NAME=sdmm \
             GIT_COMMITTER_EMAIL=sdmm@example.org GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' \
             GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' HOME="$work/run" GIT_CONFIG_NOSYSTEM=1
      "$exe" init -q -b main repo && cd repo || exit 1
      for i in $(seq 1 200); do printf 'line %s\n%.0s' "$i" $(seq 1 $((i % 50 + 1))) > "file$i.txt"; done
      "$exe" add . && "$exe" commit -q -m "first: 200 files"
      for i in $(seq 1 200 | awk 'NR % 3 == 0'); do echo "changed $i" >> "file$i.txt"; done
      "$exe" mv file1.txt renamed.txt && "$exe" rm -q file2.txt
      "$exe" commit -q -a -m "second: edits, a move, a removal"
      "$exe" log --stat --format='%H %an %ad %s' --date=iso-strict
      "$exe" diff --stat HEAD~1 HEAD | tail -3
      "$exe" gc -q --aggressive 2>&1 && "$exe" count-objects -v | grep -v -E '^(size|size-pack|size-garbage)'
      "$exe" fsck --full 2>&1
      "$exe" grep -c 'line 17' -- 'file1*.txt'
      ;;
    cmake)
      mkdir -p src && cat > src/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.20)
project(tiny C CXX)
include(CheckIncludeFile)
include(CheckFunctionExists)
check_include_file(stdlib.h HAVE_STDLIB_H)
check_function_exists(malloc_usable_size HAVE_MALLOC_USABLE_SIZE)
foreach(i RANGE 1 40)
  list(APPEND items "item_${i}")
endforeach()
string(JOIN "," joined ${items})
message(STATUS "joined length: ${joined}")
add_executable(tiny main.c)
CM
      echo 'int main(void) { return 0; }' > src/main.c
      "$exe" -S src -B build -G Ninja 2>&1 && "$exe" --build build 2>&1 | sed 's/\[[0-9]*\/[0-9]*\]//'
      ;;
  esac
}
# What legitimately differs between two runs: timings.
normalise() { sed -E 's/\(([0-9.]+)s\)/(TIME)/g; s/[0-9]+(\.[0-9]+)?s\b/TIMEs/g'; }

mkdir -p "$work"
( run_once ) >"$work/want.out" 2>"$work/want.err"
want_status=$?
rm -f "$work/stats"
( export SDMM_MALLOC_STATS="$work/stats" LD_PRELOAD="$lib"; run_once ) >"$work/got.out" 2>"$work/got.err"
got_status=$?
# Every process the library served appended its statistics line there.
stats=$(grep -c '^sdmm stats: mallocs=[1-9]' "$work/stats" 2>/dev/null)
if [ "${stats:-0}" = 0 ]; then
  echo "FAIL: $lib did not serve $prog (no statistics line)"; exit 1
fi
failed=0
for stream in out err; do
  want=$work/want.$stream got=$work/got.$stream
  if ! diff <(normalise <"$want") <(normalise <"$got") >"$work/diff.$stream"; then
    echo "FAIL: $prog's std$stream differs under $lib:"; head -40 "$work/diff.$stream"; failed=1
  fi
done
if [ "$want_status" != "$got_status" ]; then echo "FAIL: exit status $want_status vs $got_status"; failed=1; fi
if [ ! -s "$work/want.out" ]; then echo "FAIL: $prog printed nothing: the comparison would prove nothing"; failed=1; fi
[ "$failed" = 0 ] || exit 1
echo "ok: $prog, $(wc -l <"$work/want.out") lines of output identical (exit $want_status); $stats processes served by sdmm"
echo "    first: $(grep '^sdmm stats' "$work/stats" | head -1)"
