#!/bin/sh
# A short libFuzzer run over tests/fuzz/fuzz_image.c for `make test`, as
# one TAP line. FUZZ_SMOKE_TIME seconds (default 5); a crash, sanitizer
# report or leak fails it.
bin=${FUZZ_BIN:-build/fuzz/fuzz_image}
t=${FUZZ_SMOKE_TIME:-5}
echo "TAP version 13"
if [ ! -x "$bin" ]; then
	echo "ok 1 - fuzz_image smoke # SKIP $bin not built (needs clang and libFuzzer: tools/deps.sh)"
	echo "1..1"
	exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if "$bin" -max_total_time="$t" -seed=1 -max_len=16384 -rss_limit_mb=4096 \
	-artifact_prefix="$dir/" "$dir" tests/fuzz/seeds >"$dir/log" 2>&1; then
	runs=$(grep -o 'Done [0-9]* runs' "$dir/log" | tail -1)
	echo "ok 1 - fuzz_image smoke ($t s: $runs)"
else
	tail -40 "$dir/log" | sed 's/^/# /'
	echo "not ok 1 - fuzz_image smoke (see the log above; make fuzz to reproduce)"
fi
echo "1..1"
