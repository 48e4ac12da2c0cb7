// SPDX-License-Identifier: MIT
/*
 * scan.c - find the next entry that is not none in a table, a vector at a
 * time: AVX2 (four entries per compare) or SSE2 (two), chosen once at run
 * time, with a scalar loop for the ends. Walkers of tables that keep no
 * occupancy summary (memory images, foreign tables) skip runs of none
 * entries with it instead of testing 512 slots one by one.
 */
#include <immintrin.h>
#include <string.h>

#include "pt/pt.h"

static unsigned scalar_next(const uint64_t *t, unsigned i, unsigned end)
{
	for (; i < end; i++)
		if (__atomic_load_n(&t[i], __ATOMIC_RELAXED))
			return i;
	return end;
}

/*
 * The vector loops read entries without atomics: they only look for a
 * candidate; the caller reads the entry it lands on once, atomically, and
 * decides on that value (an entry that became none meanwhile is a none
 * entry read once, an entry that became used after the scan passed it is
 * a change the walk did not see, as with a one-by-one loop).
 */
__attribute__((target("avx2"), no_sanitize("thread"))) static unsigned
avx2_next(const uint64_t *t, unsigned i, unsigned end)
{
	for (; i < end && (i & 3); i++)
		if (t[i])
			return i;
	for (; i + 8 <= end; i += 8) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(t + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(t + i + 4));

		if (!_mm256_testz_si256(_mm256_or_si256(a, b), _mm256_or_si256(a, b)))
			return scalar_next(t, i, i + 8);
	}
	return scalar_next(t, i, end);
}

__attribute__((no_sanitize("thread"))) static unsigned sse2_next(const uint64_t *t, unsigned i,
								  unsigned end)
{
	for (; i < end && (i & 1); i++)
		if (t[i])
			return i;
	for (; i + 4 <= end; i += 4) {
		__m128i a = _mm_loadu_si128((const __m128i *)(t + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(t + i + 2));
		__m128i z = _mm_cmpeq_epi32(_mm_or_si128(a, b), _mm_setzero_si128());

		if (_mm_movemask_epi8(z) != 0xffff)
			return scalar_next(t, i, i + 4);
	}
	return scalar_next(t, i, end);
}

pw_pt_scan_fn pw_pt_scan_by_name(const char *name)
{
	__builtin_cpu_init();
	if (!name)
		return __builtin_cpu_supports("avx2") ? avx2_next : sse2_next;
	if (!strcmp(name, "scalar"))
		return scalar_next;
	if (!strcmp(name, "sse2"))
		return sse2_next;
	if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2"))
		return avx2_next;
	return NULL;
}

static pw_pt_scan_fn resolve(void)
{
	pw_pt_scan_fn fn = pw_pt_scan_by_name(getenv("PW_SCAN"));

	return fn ? fn : pw_pt_scan_by_name(NULL);
}

static pw_pt_scan_fn next_impl;

unsigned pw_pt_next_used(const uint64_t *t, unsigned i, unsigned end)
{
	pw_pt_scan_fn fn = __atomic_load_n(&next_impl, __ATOMIC_RELAXED);

	if (unlikely(!fn)) {
		fn = resolve();
		__atomic_store_n(&next_impl, fn, __ATOMIC_RELAXED);
	}
	return fn(t, i, end);
}

const char *pw_pt_scan_impl(void)
{
	pw_pt_next_used((const uint64_t[4]){ 0 }, 0, 0);
	return next_impl == avx2_next ? "avx2" : next_impl == sse2_next ? "sse2" : "scalar";
}
