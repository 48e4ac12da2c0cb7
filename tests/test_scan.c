// SPDX-License-Identifier: MIT
/*
 * test_scan.c - pw_pt_next_used(): each implementation (AVX2, SSE2,
 * scalar) against a plain loop, on random tables of every density, for
 * every start and many ends, including unaligned ones.
 */
#include <stdlib.h>

#include "fixture.h"
#include "pt/pt.h"

static unsigned plain(const uint64_t *t, unsigned i, unsigned end)
{
	while (i < end && !t[i])
		i++;
	return i;
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void check_impl(const char *name)
{
	pw_pt_scan_fn fn = pw_pt_scan_by_name(name);
	static uint64_t t[PW_PTRS_PER_TABLE] __attribute__((aligned(4096)));
	const unsigned dens[] = { 0, 1, 2, 8, 64, 256, 511, 512 };
	int bad = 0, cases = 0;

	if (!fn) {
		SKIP("this CPU lacks it");
		return;
	}
	for (unsigned d = 0; d < ARRAY_SIZE(dens); d++) {
		for (int rep = 0; rep < 8; rep++) {
			for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
				t[i] = rnd() % PW_PTRS_PER_TABLE < dens[d] ? (rnd() | 1) >> (rnd() % 64) : 0;
			/* entries whose only bit is high or low, in every lane */
			if (rep == 1 && d == 1)
				for (unsigned i = 0; i < PW_PTRS_PER_TABLE; i++)
					t[i] = i % 37 == 5 ? 1ULL << 63 : 0;
			for (unsigned i = 0; i <= PW_PTRS_PER_TABLE; i++) {
				for (int k = 0; k < 6; k++) {
					unsigned end = k == 0 ? PW_PTRS_PER_TABLE
						       : i + (unsigned)(rnd() % (PW_PTRS_PER_TABLE + 1 - i));

					cases++;
					if (fn(t, i, end) != plain(t, i, end)) {
						if (bad++ < 5)
							tap_diag("%s: density %u, [%u, %u): %u, want %u", name,
								 dens[d], i, end, fn(t, i, end),
								 plain(t, i, end));
					}
				}
			}
		}
	}
	tap_diag("%s: %d cases", name, cases);
	CHECK_EQ(bad, 0);
}

TEST(avx2) { check_impl("avx2"); }
TEST(sse2) { check_impl("sse2"); }
TEST(scalar) { check_impl("scalar"); }

int main(void)
{
	tap_start();
	tap_diag("pw_pt_next_used() runs %s here", pw_pt_scan_impl());
	RUN(avx2);
	RUN(sse2);
	RUN(scalar);
	return tap_done();
}
