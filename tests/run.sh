#!/bin/sh
# Test programs' TAP, in three modes:
#
#   tests/run.sh --run RESULT PROG [LABEL]
#	run one program (ASan/UBSan, TSan or a script), keep what it prints in
#	RESULT (a .tap file, led by a "# --- PROG LABEL" comment) and its exit
#	status in RESULT's .rc; always exits 0 (the summary judges). `make test`
#	runs one of these per program, in parallel.
#   tests/run.sh --summary RESULT...
#	print each RESULT in the order given and end with one line:
#	"N passed, N failed, N skipped"; exit 1 if anything failed.
#   tests/run.sh PROG... [-- TSAN_PROG...]
#	both, one program after another (programs after "--" are labelled
#	"(tsan)").
#
# Counting: "ok N" lines pass, "ok N ... # SKIP" lines skip, "not ok N" lines
# fail; a program that crashes or exits non-zero without a failed check, or
# that left no result, counts as one failure of its own.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

rc_of() { echo "${1%.tap}.rc"; }

run_one() { # RESULT PROG [LABEL]
	_out=$1 _prog=$2 _label=${3:+ $3}
	_rcf=$(rc_of "$_out")
	mkdir -p "$(dirname "$_out")"
	rm -f "$_rcf"
	{
		echo "# --- $_prog$_label"
		"$_prog" 2>&1
		echo $? >"$_rcf.tmp"
	} >"$_out.tmp" 2>&1
	mv "$_out.tmp" "$_out"
	mv "$_rcf.tmp" "$_rcf" # last: a result without its .rc did not finish
}

summary() { # RESULT...
	passed=0 failed=0 skipped=0
	for r in "$@"; do
		rcf=$(rc_of "$r")
		if [ ! -f "$r" ] || [ ! -f "$rcf" ]; then
			echo "# --- $r"
			echo "not ok - $r: no result (the run did not finish)"
			failed=$((failed + 1))
			continue
		fi
		cat "$r"
		rc=$(cat "$rcf")
		p=$(grep -cE '^ok [0-9]+' "$r")
		s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$r")
		f=$(grep -cE '^not ok [0-9]+' "$r")
		p=$((p - s))
		if [ "$rc" != 0 ] && [ "$f" -eq 0 ]; then
			prog=$(sed -n '1s/^# --- //p' "$r")
			echo "not ok - ${prog:-$r} exited with status $rc"
			f=1
		fi
		passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	done
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}

case $1 in
--run)
	shift
	[ $# -ge 2 ] || { echo "usage: $0 --run RESULT PROG [LABEL]" >&2; exit 2; }
	run_one "$@"
	exit 0
	;;
--summary)
	shift
	summary "$@"
	exit
	;;
esac

dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
i=0 label="" results=""
for t in "$@"; do
	if [ "$t" = "--" ]; then label="(tsan)"; continue; fi
	i=$((i + 1))
	run_one "$dir/$i.tap" "$t" "$label"
	results="$results $dir/$i.tap"
done
# shellcheck disable=SC2086
summary $results
