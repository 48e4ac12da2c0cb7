/* SPDX-License-Identifier: MIT */
/*
 * tap.h - a small TAP emitter for the test programs.
 *
 * Each program prints "TAP version 13", one "ok N - name" or "not ok N - name"
 * per check (with "# SKIP reason" for skips), the plan "1..N" at the end, and
 * exits 0 only if nothing failed. tests/run.sh adds up the programs' counts.
 *
 *	TEST(name) { CHECK(x == 1); CHECK_EQ(a, b); }
 *	int main(void) { tap_start(); RUN(name); return tap_done(); }
 */
#ifndef PAGEWALK_TESTS_TAP_H
#define PAGEWALK_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_skipped;
static bool tap_cur_failed;
static const char *tap_cur_skip;

static inline void tap_start(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Record one result line directly. */
static inline void tap_result(bool ok, const char *name)
{
	tap_n++;
	if (!ok)
		tap_failed++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tap_n, name);
}

static inline void tap_skip(const char *name, const char *why)
{
	tap_n++;
	tap_skipped++;
	printf("ok %d - %s # SKIP %s\n", tap_n, name, why);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	printf("# %d passed, %d failed, %d skipped\n", tap_n - tap_failed - tap_skipped, tap_failed,
	       tap_skipped);
	return tap_failed ? 1 : 0;
}

/* A test is a function; its checks mark it failed; it reports once. */
#define TEST(name) static void test_##name(void)
#define RUN(name)                                                       \
	do {                                                            \
		tap_cur_failed = false;                                 \
		tap_cur_skip = NULL;                                    \
		test_##name();                                          \
		if (tap_cur_skip)                                       \
			tap_skip(#name, tap_cur_skip);                  \
		else                                                    \
			tap_result(!tap_cur_failed, #name);             \
	} while (0)

/* Mark the running test skipped (it should return right after). */
#define SKIP(why) (tap_cur_skip = (why))

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			tap_cur_failed = true;                                        \
			printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)

#define CHECK_EQ(a, b)                                                                     \
	do {                                                                               \
		long long __a = (long long)(a), __b = (long long)(b);                      \
		if (__a != __b) {                                                          \
			tap_cur_failed = true;                                             \
			printf("# %s:%d: %s == %s failed: 0x%llx != 0x%llx (%lld != %lld)\n", \
			       __FILE__, __LINE__, #a, #b, (unsigned long long)__a,           \
			       (unsigned long long)__b, __a, __b);                          \
		}                                                                          \
	} while (0)

/* Like CHECK, and leave the test function when it fails. */
#define REQUIRE(cond)                    \
	do {                             \
		CHECK(cond);             \
		if (tap_cur_failed)      \
			return;          \
	} while (0)

#define REQUIRE_EQ(a, b)                 \
	do {                             \
		CHECK_EQ(a, b);          \
		if (tap_cur_failed)      \
			return;          \
	} while (0)

/* A seeded generator (xorshift64*), so that random tests print their seed. */
static uint64_t tap_rng_state = 0x9e3779b97f4a7c15ULL;

static inline void tap_seed(const char *prog)
{
	const char *s = getenv("PW_SEED");

	if (s)
		tap_rng_state = strtoull(s, NULL, 0);
	if (!tap_rng_state)
		tap_rng_state = 1;
	printf("# %s: seed 0x%" PRIx64 " (set PW_SEED to repeat)\n", prog, tap_rng_state);
}

static inline uint64_t tap_rand(void)
{
	tap_rng_state ^= tap_rng_state >> 12;
	tap_rng_state ^= tap_rng_state << 25;
	tap_rng_state ^= tap_rng_state >> 27;
	return tap_rng_state * 0x2545f4914f6cdd1dULL;
}

#endif /* PAGEWALK_TESTS_TAP_H */
