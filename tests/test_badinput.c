// SPDX-License-Identifier: MIT
/*
 * Description: bad input, one case a line. Each case checks the -errno AND
 * that the address space is unchanged: a snapshot (ptdump JSON of both
 * halves, the VMA list, the counters and the arena's free frames) is taken
 * before and after the call and compared.
 */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include <errno.h>

static struct pw_arena *A;
static struct pw_mm *M;

static char *snap(void)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct pw_ptdump_opts o = { .format = PW_PTDUMP_JSON };
	struct pw_mm_stats st;
	struct pw_vma *vma;

	if (!f)
		abort();
	pw_ptdump(M, f, &o, NULL);
	pw_mmap_read_lock(M);
	pw_for_each_vma(M, vma)
		fprintf(f, "vma %" PRIx64 "-%" PRIx64 " %x %" PRIx64 "\n", vma->vm_start, vma->vm_end,
			vma->vm_flags, vma->vm_pgoff);
	pw_mmap_read_unlock(M);
	pw_mm_get_stats(M, &st);
	fprintf(f, "stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " free %" PRIu64 "\n",
		st.pgtables, st.rss, st.nr_vmas, st.mapped, pw_arena_free_frames(A));
	fclose(f);
	return buf;
}

/* Run @call; it must return @err and leave the snapshot as it was. */
#define BAD(call, err)                                                          \
	do {                                                                    \
		char *b_ = snap();                                              \
		int r_ = (call);                                                \
		char *a_ = snap();                                              \
		CHECK_EQ(r_, err);                                              \
		if (strcmp(b_, a_)) {                                           \
			tap_diag("line %d: the address space changed", __LINE__); \
			CHECK(!"address space changed");                        \
		}                                                               \
		free(b_);                                                       \
		free(a_);                                                       \
	} while (0)

/* Walk helpers that take the mmap lock as the walkers expect. */
static int walk(uint64_t s, uint64_t e, const struct pw_walk_ops *ops)
{
	int r;

	pw_mmap_read_lock(M);
	r = pw_walk_page_range(M, s, e, ops, NULL);
	pw_mmap_read_unlock(M);
	return r;
}

static int walk_novma(uint64_t s, uint64_t e, const struct pw_walk_ops *ops)
{
	int r;

	pw_mmap_read_lock(M);
	r = pw_walk_page_range_novma(M, s, e, ops, PW_ROOT_DEFAULT, NULL);
	pw_mmap_read_unlock(M);
	return r;
}

static int walk_vma(uint64_t in, uint64_t s, uint64_t e, const struct pw_walk_ops *ops)
{
	int r;

	pw_mmap_read_lock(M);
	r = pw_walk_page_range_vma(pw_vma_lookup(M, in), s, e, ops, NULL);
	pw_mmap_read_unlock(M);
	return r;
}

static int iter(uint64_t s, uint64_t e, unsigned flags)
{
	struct pw_walk_state st;
	int r, n = 0;

	pw_mmap_read_lock(M);
	r = pw_walk_begin(&st, M, s, e, flags);
	while (r > 0) {
		n++;
		r = pw_walk_next(&st);
	}
	pw_walk_end(&st);
	pw_mmap_read_unlock(M);
	if (r < 0 && pw_walk_error(&st) != r)
		return -EPROTO; /* the error must be kept in the state */
	return r < 0 ? r : n;
}

static int translate(uint64_t a)
{
	struct pw_translation t;
	int r;

	pw_mmap_read_lock(M);
	r = pw_translate(M, a, &t);
	pw_mmap_read_unlock(M);
	return r;
}

static int count_pte(pw_pte_t *p, uint64_t a, uint64_t n, struct pw_mm_walk *w)
{
	return 0;
}

static const struct pw_walk_ops ops = { .pte_entry = count_pte };
static const struct pw_walk_ops lockless = { .pte_entry = count_pte, .walk_lock = PW_WALK_LOCKLESS };

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define PF (PW_MAP_PRIVATE | PW_MAP_FIXED)
#define P1 0x10000000ULL /* a populated RW mapping of 16 pages */
#define P2 0x10020000ULL /* a read-only shared one of 16 pages, after a 16-page gap */
#define HUGE 0x40000000ULL /* a 2 MiB leaf */

static uint64_t top(void)
{
	return pw_low_half_end(pw_mm_paging(M)->levels);
}

TEST(mmap)
{
	uint64_t out = 0x1234;

	BAD(pw_mmap(M, P1 + 1, 4096, RW, PF, NULL), -EINVAL);			/* unaligned addr */
	BAD(pw_mmap(M, 0x20000000, 4095, RW, PF, NULL), -EINVAL);		/* unaligned len */
	BAD(pw_mmap(M, 0x20000000, 4097, RW, PW_MAP_PRIVATE, NULL), -EINVAL);	/* unaligned len, no FIXED */
	BAD(pw_mmap(M, 0x20000000, 0, RW, PF, NULL), -EINVAL);			/* len 0 */
	BAD(pw_mmap(M, 0, 0, RW, PW_MAP_PRIVATE, &out), -EINVAL);		/* len 0, no hint */
	BAD(pw_mmap(M, top() - 4096, 8192, RW, PF, NULL), -EINVAL);		/* past the lower half */
	BAD(pw_mmap(M, top(), 4096, RW, PF, NULL), -EINVAL);			/* non-canonical */
	BAD(pw_mmap(M, pw_high_half_start(pw_mm_paging(M)->levels), 4096, RW, PF, NULL), -EINVAL); /* upper half */
	BAD(pw_mmap(M, 0xfffffffffffff000ULL, 8192, RW, PF, NULL), -EINVAL);	/* wraps */
	BAD(pw_mmap(M, 0, top() + 4096, RW, PW_MAP_PRIVATE, NULL), -EINVAL);	/* longer than the half */
	BAD(pw_mmap(M, P1, 4096, RW, PW_MAP_PRIVATE | PW_MAP_FIXED_NOREPLACE, NULL), -EEXIST);
	BAD(pw_mmap(M, P1, 4096, RW, PW_MAP_SHARED | PW_MAP_FIXED_NOREPLACE, NULL), -EEXIST);
	BAD(pw_mmap(M, P1 - 4096, 8192, RW, PW_MAP_PRIVATE | PW_MAP_FIXED_NOREPLACE, NULL), -EEXIST); /* overlaps the start */
	BAD(pw_mmap(M, P1 + 15 * 4096, 32 * 4096, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED_NOREPLACE, NULL), -EEXIST); /* spans a gap */
	BAD(pw_mmap(M, 0x20000000, 4096, RW, PF | (1u << 20), NULL), -EINVAL);	/* unknown flag */
	BAD(pw_mmap(M, 0x20000000, 4096, 8, PF, NULL), -EINVAL);		/* unknown prot bit */
	BAD(pw_mmap(M, 0x20000000, 4096, -1, PF, NULL), -EINVAL);		/* every prot bit */
	BAD(pw_mmap(M, 0x20000000, 4096, RW, PW_MAP_FIXED, NULL), -EINVAL);	/* neither PRIVATE nor SHARED */
	BAD(pw_mmap(M, 0x20000000, 4096, RW, PF | PW_MAP_SHARED, NULL), -EINVAL); /* both */
	BAD(pw_mmap(NULL, 0x20000000, 4096, RW, PF, NULL), -EINVAL);		/* NULL mm */
	CHECK_EQ(out, 0x1234); /* not written on failure */
}

TEST(munmap)
{
	BAD(pw_munmap(M, P1 + 1, 4096), -EINVAL);				/* unaligned addr */
	BAD(pw_munmap(M, P1, 0), -EINVAL);					/* len 0 */
	BAD(pw_munmap(M, top() - 4096, 8192), -EINVAL);				/* past the lower half */
	BAD(pw_munmap(M, top(), 4096), -EINVAL);				/* non-canonical */
	BAD(pw_munmap(M, 0xfffffffffffff000ULL, 8192), -EINVAL);		/* wraps */
	BAD(pw_munmap(M, pw_high_half_start(pw_mm_paging(M)->levels), 4096), -EINVAL); /* upper half */
	BAD(pw_munmap(NULL, P1, 4096), -EINVAL);				/* NULL mm */
	BAD(pw_munmap(M, 0x30000000, 4096), 0);					/* nothing there: ok, no change */
}

TEST(mprotect)
{
	BAD(pw_mprotect(M, P1 + 1, 4096, PW_PROT_READ), -EINVAL);		/* unaligned addr */
	BAD(pw_mprotect(M, P1, 0, PW_PROT_READ), -EINVAL);			/* len 0 */
	BAD(pw_mprotect(M, P1, 4096, 8), -EINVAL);				/* unknown prot bit */
	BAD(pw_mprotect(M, top() - 4096, 8192, PW_PROT_READ), -EINVAL);	/* past the lower half */
	BAD(pw_mprotect(M, 0xfffffffffffff000ULL, 8192, PW_PROT_READ), -EINVAL); /* wraps */
	BAD(pw_mprotect(M, 0x30000000, 4096, PW_PROT_READ), -ENOMEM);		/* a hole */
	BAD(pw_mprotect(M, P1, 48 * 4096, PW_PROT_READ), -ENOMEM);		/* P1, gap, P2 */
	BAD(pw_mprotect(M, P1 + 8 * 4096, 16 * 4096, PW_PROT_NONE), -ENOMEM);	/* ends in the gap */
	BAD(pw_mprotect(M, P1 - 4096, 2 * 4096, PW_PROT_NONE), -ENOMEM);	/* starts before P1 */
	BAD(pw_mprotect(M, HUGE + 4096, 1ULL << 30, PW_PROT_READ), -ENOMEM);	/* splits nothing on failure */
	BAD(pw_mprotect(NULL, P1, 4096, PW_PROT_READ), -EINVAL);		/* NULL mm */
}

TEST(walks)
{
	uint64_t nc = top(); /* first non-canonical address */

	BAD(walk(P1, P1, &ops), -EINVAL);					/* start == end */
	BAD(walk(P1 + 4096, P1, &ops), -EINVAL);				/* start > end */
	BAD(walk(P1 + 1, P1 + 4096, &ops), -EINVAL);				/* unaligned start */
	BAD(walk(P1, P1 + 4095, &ops), -EINVAL);				/* unaligned end */
	BAD(walk(nc, nc + 4096, &ops), -ERANGE);				/* non-canonical start */
	BAD(walk(P1, nc + 4096, &ops), -ERANGE);				/* non-canonical end */
	BAD(walk(P1, P1 + 4096, NULL), -EINVAL);				/* NULL ops */
	BAD(walk(P1, P1 + 4096, &lockless), -EINVAL);				/* LOCKLESS on an arena mm */
	BAD(walk_novma(P1, P1, &ops), -EINVAL);					/* start == end */
	BAD(walk_novma(P1 + 8192, P1, &ops), -EINVAL);				/* start > end */
	BAD(walk_novma(P1 + 4, P1 + 8192, &ops), -EINVAL);			/* unaligned */
	BAD(walk_novma(nc, 0, &ops), -ERANGE);					/* non-canonical start */
	BAD(walk_novma(0, nc + 8192, &ops), -ERANGE);				/* non-canonical end */
	BAD(walk_novma(P1, P1 + 4096, NULL), -EINVAL);				/* NULL ops */
	BAD(walk_novma(P1, P1 + 4096, &lockless), -EINVAL);			/* LOCKLESS on an arena mm */
	BAD(walk_vma(P1, P1, P1 + 32 * 4096, &ops), -EINVAL);			/* past the VMA */
	BAD(walk_vma(P1, P1 - 4096, P1 + 4096, &ops), -EINVAL);			/* before the VMA */
	BAD(walk_vma(0x30000000, P1, P1 + 4096, &ops), -EINVAL);		/* NULL vma */
	BAD(pw_walk_page_vma(NULL, &ops, NULL), -EINVAL);			/* NULL vma */
	BAD(pw_walk_page_range(NULL, P1, P1 + 4096, &ops, NULL), -EINVAL);	/* NULL mm */
	BAD(pw_walk_page_range_novma(NULL, P1, P1 + 4096, &ops, PW_ROOT_DEFAULT, NULL), -EINVAL); /* NULL mm */
}

TEST(iterator)
{
	uint64_t nc = top();
	struct pw_walk_state st;

	BAD(iter(P1, P1 + 4096, 1u << 7), -EINVAL);				/* unknown flag */
	BAD(iter(P1, P1 + 4096, ~0u), -EINVAL);					/* every flag */
	BAD(iter(P1, P1, 0), -EINVAL);						/* start == end */
	BAD(iter(P1 + 4096, P1, 0), -EINVAL);					/* start > end */
	BAD(iter(P1 + 8, P1 + 4096, 0), -EINVAL);				/* unaligned */
	BAD(iter(nc, 0, 0), -ERANGE);						/* non-canonical start */
	BAD(iter(0, nc + 4096, 0), -ERANGE);					/* non-canonical end */
	BAD(pw_walk_begin(&st, NULL, 0, 0, 0), -EINVAL);			/* NULL mm */
	BAD(pw_walk_begin(NULL, M, 0, 0, 0), -EINVAL);				/* NULL state */
	BAD(iter(P1, P1 + 16 * 4096, 0), 16);					/* good input still works */
}

TEST(access_translate_ptdump)
{
	struct pw_ptdump_marker nomark[] = { { ~0ULL, NULL, 0 } };
	struct pw_ptdump_opts o = { .markers = nomark };
	uint64_t nc = top();

	BAD(translate(nc), -ERANGE);						/* non-canonical */
	BAD(translate(0x30000000), -ENOENT);					/* nothing mapped */
	BAD(pw_translate(NULL, P1, NULL), -EINVAL);				/* NULL mm */
	BAD(pw_access(M, NULL, nc, 0, NULL), -ERANGE);				/* non-canonical */
	BAD(pw_access(M, NULL, P1, PW_FAULT_WRITE | PW_FAULT_EXEC, NULL), -EINVAL); /* write and fetch */
	BAD(pw_access(M, NULL, P1, 1u << 12, NULL), -EINVAL);			/* unknown flag */
	BAD(pw_access(NULL, NULL, P1, 0, NULL), -EINVAL);			/* NULL mm */
	BAD(pw_access(M, NULL, 0x30000000, PW_FAULT_USER, NULL), -EFAULT);	/* no VMA */
	BAD(pw_access(M, NULL, P2, PW_FAULT_WRITE | PW_FAULT_USER, NULL), -EFAULT); /* read-only VMA */
	BAD(pw_handle_mm_fault(NULL, P1, 0), -EINVAL);				/* NULL mm */
	BAD(pw_mm_populate(NULL, P1, P1 + 4096, false), -EINVAL);		/* NULL mm */
	BAD(pw_mm_populate(M, P1, P1, false), -EINVAL);				/* empty range */
	BAD(pw_ptdump(NULL, stdout, NULL, NULL), -EINVAL);			/* NULL mm */
	BAD(pw_ptdump(M, NULL, NULL, NULL), -EINVAL);				/* NULL stream */
	BAD(pw_ptdump(M, stdout, &o, NULL), -EINVAL);				/* empty marker list */
}

TEST(create)
{
	struct pw_paging bad = PW_PAGING_DEFAULT;
	struct pw_mm *mm = (struct pw_mm *)0x1;

	bad.levels = 3;
	BAD(pw_mm_create(A, &bad, &mm), -EINVAL);				/* 3 levels */
	bad.levels = 4;
	bad.maxphyaddr = 30;
	BAD(pw_mm_create(A, &bad, &mm), -EINVAL);				/* MAXPHYADDR < 36 */
	bad.maxphyaddr = 53;
	BAD(pw_mm_create(A, &bad, &mm), -EINVAL);				/* MAXPHYADDR > 52 */
	BAD(pw_mm_create(NULL, NULL, &mm), -EINVAL);				/* NULL arena */
	BAD(pw_mm_create(A, NULL, NULL), -EINVAL);				/* NULL out */
	BAD(pw_mm_create_foreign(NULL, &bad, 1, &mm), -EINVAL);			/* NULL phys */
	BAD(pw_mm_create_foreign(pw_arena_phys(A), NULL, 1, &mm), -EINVAL);	/* NULL cfg */
	CHECK(mm == (struct pw_mm *)0x1); /* not written on failure */
}

/* Walkers on a foreign mm: only the no-VMA walk, the iterator, translate, ptdump. */
TEST(foreign)
{
	struct pw_mm *f;
	struct pw_walk_state st;

	REQUIRE_EQ(pw_mm_create_foreign(pw_arena_phys(A), pw_mm_paging(M), pw_mm_root(M), &f), 0);
	BAD(pw_walk_page_range(f, P1, P1 + 4096, &lockless, NULL), -EINVAL);	/* needs VMAs */
	BAD(pw_mmap(f, 0x20000000, 4096, RW, PF, NULL), -EINVAL);		/* no arena */
	BAD(pw_munmap(f, P1, 4096), -EINVAL);					/* no arena */
	BAD(pw_mprotect(f, P1, 4096, PW_PROT_READ), -EINVAL);			/* no arena */
	BAD(pw_handle_mm_fault(f, P1, 0), -EINVAL);				/* no arena */
	BAD(pw_walk_page_range_novma(f, P1, P1 + 16 * 4096, &lockless, PW_ROOT_DEFAULT, NULL), 0);
	BAD(pw_walk_begin(&st, f, P1, P1 + 4096, 0), 1);			/* works, no lock needed */
	pw_walk_end(&st);
	pw_mm_destroy(f);
}

int main(void)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	int ret;

	tap_start();
	for (int levels = 4; levels <= 5; levels++) {
		tap_diag("%d-level paging", levels);
		cfg.levels = (uint8_t)levels;
		if (pw_arena_create(64 << 20, &A) || pw_mm_create(A, &cfg, &M))
			return 1;
		ret = pw_mmap(M, P1, 16 * 4096, RW, PF | PW_MAP_POPULATE, NULL);
		ret |= pw_mmap(M, P2, 16 * 4096, PW_PROT_READ, PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_POPULATE, NULL);
		ret |= pw_mmap(M, HUGE, PW_PMD_SIZE, RW, PF | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL);
		if (ret)
			return 1;
		RUN(mmap);
		RUN(munmap);
		RUN(mprotect);
		RUN(walks);
		RUN(iterator);
		RUN(access_translate_ptdump);
		RUN(create);
		RUN(foreign);
		pw_mm_destroy(M);
		pw_arena_destroy(A);
	}
	return tap_done();
}
