#!/bin/sh
# SPDX-License-Identifier: MIT
#
# callgrind_walk.sh - instructions per PTE of each dense loop of bench_walk
# (bench/RESULTS.md, "Walk (issue 2)", "Instruction counts").
#
# Usage: bench/callgrind_walk.sh [BENCH_WALK [KEEP_DIR]]
#
#   BENCH_WALK  the bench_walk binary (default build/bench/bench_walk);
#               built with -g, as the Makefile does
#   KEEP_DIR    if given, callgrind.out, the bench's output and valgrind's
#               log are kept there; otherwise they go in a temporary
#               directory that is removed
#
# Runs `valgrind --tool=callgrind BENCH_WALK 256M --reps 1 --dense-only`
# (65,536 PTEs in 128 PTE tables) and, for each timed loop function of
# bench/bench_walk.c (loop_iter, loop_walk, loop_novma, loop_runs, loop_inline, loop_plain), takes
# its inclusive instruction count from `callgrind_annotate --inclusive=yes`
# and divides it by the PTEs it visited: its number of calls (the warm-up
# and the one timed repetition: 2) times the PTE count the bench printed.
# Exits non-zero with a message if a tool, the run, or a loop function is
# missing, or the figures do not add up.
#
# bench_dirty has no equivalent here: its rounds (pw_round, uffd_round,
# sd_round) are not noinline functions, each includes untimed writes, and
# the kernel variants do their work inside syscalls, which callgrind does
# not count.
set -u

die() {
	echo "callgrind_walk.sh: $*" >&2
	exit 1
}

bin=${1:-build/bench/bench_walk}
keep=${2:-}
size=256M
want_npte=65536 # 256 MiB of 4 KiB pages

[ $# -le 2 ] || die "usage: $0 [BENCH_WALK [KEEP_DIR]]"
{ [ -f "$bin" ] && [ -x "$bin" ]; } || die "$bin: not an executable file (build it: make build/bench/bench_walk)"
command -v valgrind >/dev/null 2>&1 || die "valgrind not found (Debian: apt-get install valgrind)"
command -v callgrind_annotate >/dev/null 2>&1 || die "callgrind_annotate not found (it comes with valgrind)"

if [ -n "$keep" ]; then
	mkdir -p "$keep" || die "cannot create $keep"
	dir=$keep
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/callgrind_walk.XXXXXX") || die "mktemp failed"
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
fi
out=$dir/callgrind.out
log=$dir/valgrind.log
stdout=$dir/bench_walk.out

echo "# valgrind --tool=callgrind $bin $size --reps 1 --dense-only"
if ! valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$size" --reps 1 --dense-only \
	>"$stdout" 2>"$log"; then
	echo "--- bench output (tail):" >&2
	tail -n 10 "$stdout" >&2
	echo "--- valgrind log (tail):" >&2
	tail -n 20 "$log" >&2
	die "the callgrind run of $bin failed${keep:+ (files in $keep)}"
fi
[ -s "$out" ] || die "callgrind wrote no profile ($out)"

# "## dense: 256 MiB of 4 KiB pages, 65536 PTEs in 128 PTE tables ..."
npte=$(sed -n 's/^## dense: .* of 4 KiB pages, \([0-9][0-9]*\) PTEs in .*/\1/p' "$stdout")
[ -n "$npte" ] || die "no '## dense: ... PTEs' line in the bench output ($stdout)"
[ "$npte" -eq "$want_npte" ] || die "the bench reports $npte PTEs at $size, expected $want_npte"

ann=$dir/annotate.txt
callgrind_annotate --inclusive=yes --tree=caller --threshold=100 --auto=no "$out" >"$ann" 2>"$dir/annotate.err" ||
	die "callgrind_annotate failed: $(cat "$dir/annotate.err")"

# For function $1: "INCLUSIVE CALLS" from the caller tree. A function's block
# is its callers ("<" lines, "(Nx)" each) followed by its own "*" line. Only
# "*" entries with callers count: inlined header code shows up as a second
# entry of the same name under the header's file, without callers.
lookup() {
	awk -v fn="$1" '
	/^[ \t]*$/ { calls = 0; next }
	{
		marker = ""
		for (i = 1; i <= NF; i++)
			if ($i == "<" || $i == "*") { marker = $i; break }
		if (marker == "")
			next
		if (marker == "<") {
			if (match($0, /\([0-9]+x\)/))
				calls += substr($0, RSTART + 1, RLENGTH - 3)
			next
		}
		name = $(i + 1)
		sub(/^.*:/, "", name)
		if (name == fn && calls > 0) {
			ir = $1
			gsub(/,/, "", ir)
			print ir, calls
			found++
		}
		calls = 0
	}
	END { if (found != 1) exit 1 }' "$ann"
}

printf '%-8s %-12s %6s %14s %14s %10s\n' loop function calls "Ir inclusive" "Ir per call" "Ir per PTE"
status=0
for pair in iterator:loop_iter callback:loop_walk novma:loop_novma runs:loop_runs inlined:loop_inline plain:loop_plain; do
	label=${pair%%:*}
	fn=${pair#*:}
	if ! res=$(lookup "$fn"); then
		echo "callgrind_walk.sh: $fn: not found exactly once with callers in the profile" \
			"(renamed in bench/bench_walk.c, inlined, or no debug info?)" >&2
		status=1
		continue
	fi
	ir=${res% *}
	calls=${res#* }
	[ "$calls" -eq 2 ] ||
		echo "callgrind_walk.sh: warning: $fn called $calls times (expected 2: warm-up + 1 rep)" >&2
	awk -v l="$label" -v f="$fn" -v ir="$ir" -v c="$calls" -v n="$npte" 'BEGIN {
		printf "%-8s %-12s %6d %14d %14.0f %10.1f\n", l, f, c, ir, ir / c, ir / (c * n) }'
done
echo "# $npte PTEs per call; Ir per PTE = inclusive Ir / (calls x $npte)"
[ -n "$keep" ] && echo "# kept: $out $stdout $log $ann"
[ $status -eq 0 ] || die "some loop functions are missing"
exit 0
