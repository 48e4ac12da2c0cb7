#!/bin/sh
# Install the Debian packages the build and tests need, if missing.
# Runs as root on CI and developer machines; elsewhere it says what to install.
need=""
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
# Memory images: zstd-compressed images are opened with libzstd.
[ -e /usr/include/zstd.h ] || need="$need libzstd-dev"
# Page tables freed through RCU: liburcu (memb flavour).
[ -e /usr/include/x86_64-linux-gnu/urcu/urcu-memb.h ] || [ -e /usr/include/urcu/urcu-memb.h ] ||
	need="$need liburcu-dev"
# The image fuzz target (tests/fuzz): clang with libFuzzer.
command -v clang >/dev/null 2>&1 || need="$need clang"
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
	need="$need libclang-rt-14-dev"
[ -n "$need" ] || exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
else
	echo "pagewalk needs:$need (Debian: apt-get install$need)" >&2
	exit 1
fi
