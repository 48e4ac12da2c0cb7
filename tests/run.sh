#!/bin/sh
# Run test programs (ASan/UBSan builds, then the TSan builds after "--"),
# show their TAP, and end with one line: "N passed, N failed, N skipped".
# A program that crashes or exits non-zero without a failed check counts as
# one failure of its own.
passed=0; failed=0; skipped=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
label=""
for t in "$@"; do
	if [ "$t" = "--" ]; then label=" (tsan)"; continue; fi
	echo "# --- $t$label"
	"$t" >"$tmp" 2>&1
	rc=$?
	cat "$tmp"
	p=$(grep -cE '^ok [0-9]+' "$tmp")
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$tmp")
	f=$(grep -cE '^not ok [0-9]+' "$tmp")
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		f=1
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
