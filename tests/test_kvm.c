// SPDX-License-Identifier: MIT
/*
 * Description: a real vCPU (KVM) on pagewalk's tables: data, fault,
 * Accessed/Dirty, TLB-flush and KVM_TRANSLATE oracles.
 *
 * Without /dev/kvm (or when a VM cannot be created) every test prints SKIP
 * with the reason; PW_REQUIRE_KVM=1 turns those skips into failures.
 * Features the vCPU refuses (1 GiB pages, 5-level paging) are tried and
 * skipped one by one, also under PW_REQUIRE_KVM=1: KVM is present then, it
 * only does not offer the feature (the library's own walker covers them).
 */
#include <pagewalk/dirty.h>
#include <pagewalk/file.h>
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "../tests/tap.h"
#include <errno.h>
#include <pthread.h>

struct env {
	struct pw_arena *arena;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_kvm_caps caps;
};

static char skip_buf[256];

static bool require_kvm(void)
{
	const char *s = getenv("PW_REQUIRE_KVM");

	return s && strcmp(s, "1") == 0;
}

/* KVM is unavailable: a skip, or a failure under PW_REQUIRE_KVM=1. */
static void kvm_unavailable(const char *what, int err)
{
	snprintf(skip_buf, sizeof(skip_buf), "KVM unavailable: %s: %s", what, strerror(-err));
	if (require_kvm()) {
		tap_cur_failed = true;
		printf("# %s (PW_REQUIRE_KVM=1)\n", skip_buf);
	} else {
		SKIP(skip_buf);
	}
}

static void env_free(struct env *e)
{
	pw_kvm_destroy(e->kvm);
	pw_mm_destroy(e->mm);
	pw_arena_destroy(e->arena);
	memset(e, 0, sizeof(*e));
}

/*
 * A VM over a fresh address space. @cfg_out may adjust the paging mode.
 * Return: 0; otherwise the test has been marked skipped or failed.
 */
static int env_init_n(struct env *e, uint64_t arena_bytes, int levels, bool pdpe1gb, unsigned nr_vcpus)
{
	struct pw_paging cfg;
	int r;

	memset(e, 0, sizeof(*e));
	r = pw_kvm_probe(&e->caps);
	if (r) {
		kvm_unavailable("/dev/kvm", r);
		return r;
	}
	cfg = (struct pw_paging){ .levels = (uint8_t)levels, .maxphyaddr = (uint8_t)e->caps.maxphyaddr,
				  .nxe = true, .pdpe1gb = pdpe1gb, .pke = false };
	r = pw_arena_create(arena_bytes, &e->arena);
	if (!r)
		r = pw_mm_create(e->arena, &cfg, &e->mm);
	if (r) {
		CHECK_EQ(r, 0);
		env_free(e);
		return r;
	}
	r = pw_kvm_create(e->mm, nr_vcpus, &e->kvm);
	if (r) {
		struct pw_kvm_caps caps = e->caps;

		if (r != -EOPNOTSUPP)
			kvm_unavailable("creating the VM", r);
		env_free(e);
		e->caps = caps; /* the caller may explain a refused feature */
		return r;
	}
	return 0;
}

static int env_init(struct env *e, uint64_t arena_bytes, int levels, bool pdpe1gb)
{
	return env_init_n(e, arena_bytes, levels, pdpe1gb, 1);
}

static void *frame_of(struct env *e, uint64_t va, struct pw_translation *tr)
{
	struct pw_translation t;
	int r;

	pw_mmap_read_lock(e->mm);
	r = pw_translate(e->mm, va, &t);
	pw_mmap_read_unlock(e->mm);
	if (tr)
		*tr = t;
	if (r)
		return NULL;
	return (uint8_t *)pw_frame_ptr(e->arena, t.pfn) + (va & (PW_PAGE_SIZE - 1));
}

#define RW (PW_PROT_READ | PW_PROT_WRITE)
#define ARRAY_SIZE_T(a) (sizeof(a) / sizeof((a)[0]))

/* Pointer to the entry at @level on @va's walk, or NULL if the walk stops above it. */
static uint64_t *entry_ptr(struct env *e, uint64_t va, int level)
{
	const struct pw_paging *cfg = pw_mm_paging(e->mm);
	uint64_t pfn = pw_mm_root(e->mm);

	for (int l = pw_root_level(cfg->levels);; l--) {
		uint64_t *t = pw_frame_ptr(e->arena, pfn), v;

		if (!t)
			return NULL;
		if (l == level)
			return t + pw_index(l, va);
		v = t[pw_index(l, va)];
		if (!pw_entry_table(l, v))
			return NULL;
		pfn = pw_entry_pfn(l, v, cfg->maxphyaddr);
	}
}

/* One access in the guest; its first fault (if any) in *f. Return: faults taken. */
static size_t run_one(struct env *e, int cpl, uint32_t op, uint64_t va, struct pw_kvm_access *a,
		      struct pw_kvm_fault *f)
{
	struct pw_kvm_fault fs[8];
	size_t nf = 0;

	*a = (struct pw_kvm_access){ .op = op, .addr = va, .value = 0x1122334455667788ULL };
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pw_kvm_run(e->kvm, 0, cpl, a, 1, fs, 8, &nf), 0);
	if (nf)
		*f = fs[0];
	return nf;
}

/* Data: guest writes land at the frames pw_translate names; planted values read back. */
TEST(data_oracle)
{
	struct env e;
	enum { N = 96 };
	struct pw_kvm_access acc[N];
	struct pw_kvm_fault faults[2 * N];
	uint64_t small = 0x10000000, huge = 0x40000000, high = 0x7f0000000000ULL;
	size_t nf;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	REQUIRE_EQ(pw_mmap(e.mm, small, 64 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, huge, 2 * PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M,
			   NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, high, 16 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);

	for (int cpl = 0; cpl <= 3; cpl += 3) {
		/* 1. Writes, first touch: every one faults in through pw_handle_mm_fault. */
		for (int i = 0; i < N; i++) {
			uint64_t base = i % 3 == 0 ? small : i % 3 == 1 ? huge : high;
			uint64_t span = i % 3 == 0 ? 64 * PW_PAGE_SIZE : i % 3 == 1 ? 2 * PW_PMD_SIZE : 16 * PW_PAGE_SIZE;

			acc[i] = (struct pw_kvm_access){ .op = PW_KVM_WRITE,
							 .addr = base + ((tap_rand() % span) & ~7ULL),
							 .value = tap_rand() };
		}
		/* Later writes to the same address win: keep the addresses distinct. */
		for (int i = 0; i < N; i++)
			for (int j = 0; j < i; j++)
				if (acc[j].addr == acc[i].addr)
					acc[i].addr ^= 8;
		REQUIRE_EQ(pw_kvm_run(e.kvm, 0, cpl, acc, N, faults, 2 * N, &nf), 0);
		for (size_t i = 0; i < nf && i < 2 * N; i++) {
			CHECK_EQ(faults[i].vector, 14);
			CHECK_EQ(faults[i].result, 0);
			CHECK_EQ(faults[i].cpl, cpl);
		}
		CHECK(cpl == 3 || nf > 0); /* first touch faulted */
		for (int i = 0; i < N; i++) {
			uint64_t *p = frame_of(&e, acc[i].addr, NULL);

			CHECK_EQ(acc[i].status, PW_KVM_DONE);
			REQUIRE(p != NULL);
			CHECK_EQ(*p, acc[i].value);
		}
		/* 2. Reads of values planted at the frames. */
		for (int i = 0; i < N; i++) {
			uint64_t *p = frame_of(&e, acc[i].addr, NULL);

			REQUIRE(p != NULL);
			*p = tap_rand();
			acc[i].op = PW_KVM_READ;
			acc[i].value = *p ^ 1;
		}
		REQUIRE_EQ(pw_kvm_run(e.kvm, 0, cpl, acc, N, faults, 2 * N, &nf), 0);
		CHECK_EQ(nf, 0);
		for (int i = 0; i < N; i++) {
			CHECK_EQ(acc[i].status, PW_KVM_DONE);
			CHECK_EQ(acc[i].value, *(uint64_t *)frame_of(&e, acc[i].addr, NULL));
		}
	}
	env_free(&e);
}


/*
 * Faults: read/write/exec at CPL 0 and 3 against pages of every kind. The
 * vector and error code the vCPU reports must be the SDM's, which is what
 * pw_access(PW_ACCESS_NOFAULT) computes from the same tables.
 */
enum page_kind {
	PK_USER_RW, PK_USER_RO, PK_USER_RX, PK_SUP_RW, PK_SUP_RX, PK_NOVMA, PK_PROTNONE,
	PK_RSVD, PK_PMD_RO, PK_PMD_SUP, PK_DEMAND, PK_NONCANON, PK_NR
};
static const char *const kind_name[PK_NR] = {
	"user-rw", "user-ro", "user-rx", "sup-rw", "sup-rx", "no-vma", "prot-none",
	"rsvd-bit51", "pmd-ro", "pmd-sup", "demand-zero", "non-canonical",
};

TEST(fault_oracle)
{
	struct env e;
	uint64_t va[PK_NR];
	const uint64_t base = 0x100000000ULL; /* each kind gets its own 2 MiB block */
	int demand_next = 0, cases = 0;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	for (int k = 0; k < PK_NR; k++)
		va[k] = base + (uint64_t)k * PW_PMD_SIZE;
	va[PK_NONCANON] = 0x0000800000000000ULL;
	struct { int kind, prot; unsigned flags; } maps[] = {
		{ PK_USER_RW, RW, 0 },
		{ PK_USER_RO, PW_PROT_READ, 0 },
		{ PK_USER_RX, PW_PROT_READ | PW_PROT_EXEC, 0 },
		{ PK_SUP_RW, RW, PW_MAP_SUPERVISOR },
		{ PK_SUP_RX, PW_PROT_READ | PW_PROT_EXEC, PW_MAP_SUPERVISOR },
		{ PK_PROTNONE, PW_PROT_NONE, 0 },
		{ PK_RSVD, RW | PW_PROT_EXEC, 0 },
		{ PK_PMD_RO, RW | PW_PROT_EXEC, 0 },
		{ PK_PMD_SUP, RW | PW_PROT_EXEC, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE_T(maps); i++) {
		uint64_t a = va[maps[i].kind];

		/* Write-populate through a writable mapping, plant `ret`, then set the protection. */
		REQUIRE_EQ(pw_mmap(e.mm, a, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE |
				   maps[i].flags, NULL), 0);
		*(uint8_t *)frame_of(&e, a, NULL) = 0xc3;
		REQUIRE_EQ(pw_mprotect(e.mm, a, PW_PAGE_SIZE, maps[i].prot), 0);
	}
	/* Demand-zero: a fresh page per case, faulted in by the guest's access. */
	REQUIRE_EQ(pw_mmap(e.mm, va[PK_DEMAND], 64 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	/* Entries changed by hand: a reserved address bit (51 >= MAXPHYADDR) in a
	 * leaf, R/W and U/S cleared in a PMD entry above a user RW leaf. */
	REQUIRE(e.caps.maxphyaddr <= 51);
	*entry_ptr(&e, va[PK_RSVD], 0) |= 1ULL << 51;
	*entry_ptr(&e, va[PK_PMD_RO], 1) &= ~(uint64_t)PW_RW;
	*entry_ptr(&e, va[PK_PMD_SUP], 1) &= ~(uint64_t)PW_US;
	pw_kvm_flush(e.kvm, 0, 0);

	for (int k = 0; k < PK_NR; k++) {
		for (int cpl = 0; cpl <= 3; cpl += 3) {
			for (uint32_t op = PW_KVM_READ; op <= PW_KVM_EXEC; op++) {
				uint64_t a = va[k];
				unsigned flags = PW_ACCESS_NOFAULT | (cpl ? PW_FAULT_USER : 0) |
						 (op == PW_KVM_WRITE ? PW_FAULT_WRITE : 0) |
						 (op == PW_KVM_EXEC ? PW_FAULT_EXEC : 0);
				struct pw_access_result res = { 0 };
				struct pw_kvm_access acc;
				struct pw_kvm_fault f;
				int want;
				size_t nf;

				if (k == PK_DEMAND) {
					if (op == PW_KVM_EXEC)
						continue; /* zeroes are no code; NX is covered above */
					a += (uint64_t)demand_next++ * PW_PAGE_SIZE;
				}
				if (op == PW_KVM_WRITE && k != PK_NONCANON)
					a += 8; /* keep the `ret` at offset 0 */
				want = pw_access(e.mm, NULL, a, flags, &res);
				nf = run_one(&e, cpl, op, a, &acc, &f);
				cases++;
				if (want == 0) {
					CHECK_EQ(nf, 0);
					CHECK_EQ(acc.status, PW_KVM_DONE);
				} else if (want == -ERANGE) {
					CHECK_EQ(nf, 1);
					CHECK_EQ(f.vector, 13); /* #GP(0) */
					CHECK_EQ(f.error_code, 0);
					CHECK_EQ(acc.status, PW_KVM_FAILED);
				} else {
					CHECK_EQ(want, -EFAULT);
					CHECK(nf >= 1);
					CHECK_EQ(f.vector, 14);
					CHECK_EQ(f.error_code, res.pf_error);
					CHECK_EQ(f.cr2, a);
					CHECK_EQ(f.cpl, cpl);
					if (op == PW_KVM_EXEC)
						CHECK_EQ(f.rip, a);
					/* Only demand-zero faults resolve; the rest are real errors
					 * (the hand-made PMD cases after one futile retry: the
					 * library sees a good leaf and says "retry"). */
					CHECK_EQ(acc.status, k == PK_DEMAND ? PW_KVM_DONE : PW_KVM_FAILED);
					if (k == PK_DEMAND)
						CHECK_EQ(f.result, 0);
				}
				if (tap_cur_failed) {
					tap_diag("case %s cpl%d %s: pw_access %d err 0x%x; guest %zu faults vec %u err 0x%x",
						 kind_name[k], cpl, op == 1 ? "read" : op == 2 ? "write" : "exec",
						 want, res.pf_error, nf, f.vector, f.error_code);
					env_free(&e);
					return;
				}
			}
		}
	}
	tap_diag("fault oracle: %d cases agree with the SDM rules of pw_access", cases);
	env_free(&e);
}

/*
 * Accessed/Dirty: the host clears A and D on every entry of every test
 * walk, the guest flushes its TLB and accesses a random subset; then A must
 * be set exactly on the entries some access's walk used (at every level),
 * and D exactly on the leaves of written pages (never on a table entry).
 * Two rounds, so re-arming after a flush is checked too.
 */
struct ad_entry {
	uint64_t *p;
	int level;
	bool leaf;
	bool want_a, want_d;
};

static int ad_find(struct ad_entry *t, int n, uint64_t *p)
{
	for (int i = 0; i < n; i++)
		if (t[i].p == p)
			return i;
	return -1;
}

TEST(accessed_dirty_oracle)
{
	struct env e;
	enum { NP = 48, MAXE = NP * 5 };
	uint64_t pages[NP];
	struct ad_entry ents[MAXE];
	struct pw_kvm_access acc[NP];
	struct pw_kvm_fault faults[8];
	int ne = 0, levels;
	size_t nf;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	levels = pw_mm_paging(e.mm)->levels;
	/* 4 KiB pages in two PML4 slots, and 2 MiB leaves. */
	REQUIRE_EQ(pw_mmap(e.mm, 0x10000000, 32 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0x5a0000000000ULL, 8 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0x40000000, 4 * PW_PMD_SIZE, RW,
			   PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL), 0);
	for (int i = 0; i < NP; i++) {
		if (i < 24)
			pages[i] = 0x10000000 + (uint64_t)(i + (i >= 12) * 8) * PW_PAGE_SIZE;
		else if (i < 32)
			pages[i] = 0x5a0000000000ULL + (uint64_t)(i - 24) * PW_PAGE_SIZE;
		else
			pages[i] = 0x40000000 + (uint64_t)(i - 32) / 4 * PW_PMD_SIZE + (uint64_t)(i % 4) * 0x41000;
	}
	/* The entries of all walks. */
	for (int i = 0; i < NP; i++) {
		for (int l = pw_root_level(levels); l >= 0; l--) {
			uint64_t *p = entry_ptr(&e, pages[i], l);

			REQUIRE(p != NULL);
			if (ad_find(ents, ne, p) < 0) {
				REQUIRE(ne < MAXE);
				ents[ne++] = (struct ad_entry){ .p = p, .level = l, .leaf = pw_entry_leaf(l, *p) };
			}
			if (pw_entry_leaf(l, *p))
				break;
		}
	}
	for (int round = 0; round < 2; round++) {
		int n = 0, nwrites = 0;

		for (int i = 0; i < ne; i++) {
			*ents[i].p &= ~(uint64_t)(PW_A | PW_D);
			ents[i].want_a = ents[i].want_d = false;
		}
		pw_kvm_flush(e.kvm, 0, 0);
		for (int i = 0; i < NP; i++) {
			uint32_t what = (uint32_t)(tap_rand() % 3); /* untouched, read, write */

			if (!what)
				continue;
			acc[n++] = (struct pw_kvm_access){ .op = what == 1 ? PW_KVM_READ : PW_KVM_WRITE,
							   .addr = pages[i] + 64, .value = tap_rand() };
			nwrites += what == 2;
			for (int l = pw_root_level(levels); l >= 0; l--) {
				int j = ad_find(ents, ne, entry_ptr(&e, pages[i], l));

				ents[j].want_a = true;
				if (ents[j].leaf) {
					ents[j].want_d |= what == 2;
					break;
				}
			}
		}
		REQUIRE_EQ(pw_kvm_run(e.kvm, 0, round ? 3 : 0, acc, (size_t)n, faults, 8, &nf), 0);
		CHECK_EQ(nf, 0);
		for (int i = 0; i < ne; i++) {
			uint64_t v = *ents[i].p;

			if (!!(v & PW_A) != ents[i].want_a || !!(v & PW_D) != ents[i].want_d) {
				tap_diag("round %d: %s entry 0x%016llx: A=%d D=%d, want A=%d D=%d", round,
					 pw_level_name(levels, ents[i].level), (unsigned long long)v,
					 !!(v & PW_A), !!(v & PW_D), ents[i].want_a, ents[i].want_d);
				CHECK(false);
			}
		}
		tap_diag("round %d (CPL %d): %d accesses (%d writes), %d entries checked", round, round ? 3 : 0, n,
			 nwrites, ne);
	}
	env_free(&e);
}

/*
 * TLB: the guest caches translations until it flushes. The library's own
 * changes reach the guest through the MMU notifier (the agent executes the
 * invlpg / CR3 reload the library's flush asked for); a change made behind
 * the library's back needs pw_kvm_flush().
 */
TEST(tlb_flush_oracle)
{
	struct env e;
	const uint64_t v = 0x20000000, w = 0x20001000;
	struct pw_translation t1, t2;
	struct pw_kvm_stats st0, st1;
	struct pw_kvm_access a;
	struct pw_kvm_fault f;
	uint64_t filler, *pv, *pw_, sv, sw;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	REQUIRE_EQ(pw_mmap(e.mm, v, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	*(uint64_t *)frame_of(&e, v, &t1) = 0x1111;
	for (int cpl = 0; cpl <= 3; cpl += 3) {
		CHECK_EQ(run_one(&e, cpl, PW_KVM_READ, v, &a, &f), 0);
		CHECK_EQ(a.value, 0x1111); /* the guest now caches v -> frame 1 */
	}
	/* 1. Move v to another frame (unmap, a filler takes the old frame, map
	 * again). No explicit flush: munmap's flush reaches the guest. */
	pw_kvm_get_stats(e.kvm, -1, &st0);
	REQUIRE_EQ(pw_munmap(e.mm, v, PW_PAGE_SIZE), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &filler), 0);
	REQUIRE_EQ(pw_mmap(e.mm, v, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	*(uint64_t *)frame_of(&e, v, &t2) = 0x2222;
	CHECK(t1.pfn != t2.pfn);
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v, &a, &f), 0);
	CHECK_EQ(a.value, 0x2222);
	pw_kvm_get_stats(e.kvm, -1, &st1);
	CHECK(st1.invlpgs + st1.cr3_flushes > st0.invlpgs + st0.cr3_flushes);

	/* 2. Write-protect v after the guest wrote it: the next write faults (W|P|U). */
	CHECK_EQ(run_one(&e, 3, PW_KVM_WRITE, v, &a, &f), 0);
	REQUIRE_EQ(pw_mprotect(e.mm, v, PW_PAGE_SIZE, PW_PROT_READ), 0);
	CHECK_EQ(run_one(&e, 3, PW_KVM_WRITE, v, &a, &f), 1);
	CHECK_EQ(f.error_code, PW_PF_P | PW_PF_W | PW_PF_U);
	CHECK_EQ(f.result, -EACCES);
	CHECK_EQ(a.status, PW_KVM_FAILED);
	pw_kvm_get_stats(e.kvm, -1, &st0);
	CHECK(st0.invlpgs + st0.cr3_flushes > st1.invlpgs + st1.cr3_flushes);

	/* 3. Behind the library's back: swap the frames of v and w in their
	 * PTEs by hand; pw_kvm_flush() (a full flush) makes the guest see it. */
	REQUIRE_EQ(pw_mmap(e.mm, w, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	*(uint64_t *)frame_of(&e, w, NULL) = 0x3333;
	*(uint64_t *)frame_of(&e, v, NULL) = 0x2222; /* the guest wrote v above */
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v, &a, &f), 0);
	CHECK_EQ(a.value, 0x2222);
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, w, &a, &f), 0);
	CHECK_EQ(a.value, 0x3333);
	pv = entry_ptr(&e, v, 0);
	pw_ = entry_ptr(&e, w, 0);
	sv = *pv;
	sw = *pw_;
	*pv = (sv & ~pw_frame_field_mask(e.caps.maxphyaddr)) | (sw & pw_frame_field_mask(e.caps.maxphyaddr));
	*pw_ = (sw & ~pw_frame_field_mask(e.caps.maxphyaddr)) | (sv & pw_frame_field_mask(e.caps.maxphyaddr));
	CHECK_EQ(pw_kvm_flush(e.kvm, 0, 0), 0);
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v, &a, &f), 0);
	CHECK_EQ(a.value, 0x3333);
	CHECK_EQ(run_one(&e, 3, PW_KVM_READ, w, &a, &f), 0);
	CHECK_EQ(a.value, 0x2222);
	pw_kvm_get_stats(e.kvm, -1, &st1);
	CHECK_EQ(st1.cr3_flushes, st0.cr3_flushes + 1); /* the guest reloaded CR3 */
	/* ... and back, with a page flush (invlpg) of each. */
	*pv = sv;
	*pw_ = sw;
	CHECK_EQ(pw_kvm_flush(e.kvm, v, v + PW_PAGE_SIZE), 0);
	CHECK_EQ(pw_kvm_flush(e.kvm, w, w + PW_PAGE_SIZE), 0);
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v, &a, &f), 0);
	CHECK_EQ(a.value, 0x2222);
	pw_kvm_get_stats(e.kvm, -1, &st0);
	CHECK_EQ(st0.invlpgs, st1.invlpgs + 2);

	/* 4. Unmapped: the next read faults (not present) and fails. */
	REQUIRE_EQ(pw_munmap(e.mm, v, PW_PAGE_SIZE), 0);
	CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v, &a, &f), 1);
	CHECK_EQ(f.error_code, 0);
	CHECK_EQ(f.result, -EFAULT);
	env_free(&e);
}

/*
 * KVM_TRANSLATE agrees with pw_translate() for random addresses: 4 KiB and
 * 2 MiB leaves, holes, unmapped, reserved-bit and non-canonical addresses.
 * (It sets Accessed bits, so it runs in its own VM, after nothing.)
 */
TEST(translate_oracle)
{
	struct env e;
	int valid = 0, invalid = 0;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	REQUIRE_EQ(pw_mmap(e.mm, 0x10000000, 64 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0x40000000, 4 * PW_PMD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M, NULL), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0x7e0000000000ULL, 16 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	/* Populate about half (holes stay), with both page sizes. */
	for (int i = 0; i < 64; i += 2)
		REQUIRE_EQ(pw_mm_populate(e.mm, 0x10000000 + (uint64_t)i * PW_PAGE_SIZE,
					  0x10000000 + (uint64_t)(i + 1) * PW_PAGE_SIZE, true), 0);
	REQUIRE_EQ(pw_mm_populate(e.mm, 0x40000000, 0x40000000 + 3 * PW_PMD_SIZE, true), 0);
	REQUIRE_EQ(pw_mm_populate(e.mm, 0x7e0000000000ULL, 0x7e0000000000ULL + 8 * PW_PAGE_SIZE, true), 0);
	*entry_ptr(&e, 0x7e0000000000ULL, 0) |= 1ULL << 51; /* reserved bit */
	for (int i = 0; i < 4000; i++) {
		uint64_t r = tap_rand(), a, gpa = 0;
		struct pw_translation t;
		int want, got;

		switch (i % 5) {
		case 0: a = 0x10000000 + r % (64 * PW_PAGE_SIZE); break;
		case 1: a = 0x40000000 + r % (4 * PW_PMD_SIZE); break;
		case 2: a = 0x7e0000000000ULL + r % (16 * PW_PAGE_SIZE); break;
		case 3: a = r & 0x00007fffffffffffULL; break;	  /* anywhere in the lower half */
		default: a = r; break;				  /* mostly non-canonical */
		}
		pw_mmap_read_lock(e.mm);
		want = pw_translate(e.mm, a, &t);
		pw_mmap_read_unlock(e.mm);
		got = pw_kvm_translate(e.kvm, a, &gpa);
		if (a >= PW_KVM_AREA_START && a < PW_KVM_AREA_END)
			continue;
		if (want == 0) {
			valid++;
			CHECK_EQ(got, 0);
			CHECK_EQ(gpa, t.phys);
		} else {
			invalid++;
			CHECK_EQ(got, -ENOENT);
		}
		if (tap_cur_failed) {
			tap_diag("address 0x%llx: pw_translate %d phys 0x%llx, KVM_TRANSLATE %d 0x%llx",
				 (unsigned long long)a, want, (unsigned long long)t.phys, got, (unsigned long long)gpa);
			break;
		}
	}
	tap_diag("translate oracle: %d mapped, %d unmapped addresses agree", valid, invalid);
	CHECK(valid > 1000 && invalid > 1000);
	env_free(&e);
}

/*
 * Dirty tracking of a shared file mapping, with the D bits the vCPU sets:
 * 1. clean-record: after a clean, the guest writes a random set of pages
 *    (no faults: the entries stay writable); the next clean-record returns
 *    exactly those pages.
 * 2. write-notify: after write-protecting the range, each guest write to a
 *    page faults once (W|P), pw_handle_mm_fault makes it writable and
 *    dirty, and the next clean-record returns exactly the written pages.
 */
TEST(dirty_tracking_oracle)
{
	enum { NP = 64 };
	const uint64_t base = 0x30000000;
	struct pw_kvm_access acc[2 * NP];
	struct pw_kvm_fault faults[4 * NP];
	struct pw_file *file = NULL;
	uint64_t bm[NP / 64], s0, e0;
	bool want[NP];
	struct env e;
	size_t nf;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	REQUIRE_EQ(pw_file_create(e.arena, NP * PW_PAGE_SIZE, &file), 0);
	REQUIRE_EQ(pw_mmap_file(e.mm, base, NP * PW_PAGE_SIZE, RW, PW_MAP_SHARED | PW_MAP_FIXED | PW_MAP_POPULATE,
				file, 0, NULL), 0);
	for (int round = 0; round < 4; round++) {
		bool wp = round >= 2;
		int n = 0, nw = 0;

		/* Start clean (and, for write-notify, write-protected). */
		memset(bm, 0, sizeof(bm));
		s0 = NP, e0 = 0;
		pw_clean_record_shared_mapping_range(file, 0, NP, 0, bm, &s0, &e0);
		if (wp)
			pw_wp_shared_mapping_range(file, 0, NP);
		for (int i = 0; i < NP; i++) {
			want[i] = tap_rand() % 3 == 0;
			if (!want[i])
				continue;
			nw++;
			/* Two writes per page: only the first may fault. */
			for (int k = 0; k < 2; k++)
				acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_WRITE,
								   .addr = base + (uint64_t)i * PW_PAGE_SIZE + 8 * (uint64_t)k,
								   .value = tap_rand() };
		}
		REQUIRE_EQ(pw_kvm_run(e.kvm, 0, round & 1 ? 3 : 0, acc, (size_t)n, faults, 4 * NP, &nf), 0);
		for (int i = 0; i < n; i++)
			CHECK_EQ(acc[i].status, PW_KVM_DONE);
		if (!wp) {
			CHECK_EQ(nf, 0); /* the D bits are the vCPU's */
		} else {
			CHECK_EQ(nf, (size_t)nw); /* one write-notify fault per page */
			for (size_t i = 0; i < nf && i < 4 * NP; i++) {
				CHECK_EQ(faults[i].error_code, PW_PF_P | PW_PF_W | (round & 1 ? PW_PF_U : 0));
				CHECK_EQ(faults[i].result, 0);
				CHECK_EQ(faults[i].cr2 & 0xfff, 0);
			}
		}
		memset(bm, 0, sizeof(bm));
		s0 = NP, e0 = 0;
		CHECK_EQ(pw_clean_record_shared_mapping_range(file, 0, NP, 0, bm, &s0, &e0), (uint64_t)nw);
		for (int i = 0; i < NP; i++)
			if (!!(bm[i / 64] & (1ULL << (i % 64))) != want[i]) {
				tap_diag("round %d: page %d recorded %d, written %d", round, i,
					 !!(bm[i / 64] & (1ULL << (i % 64))), want[i]);
				CHECK(false);
			}
		/* The data went to the file's pages. */
		for (int i = 0; i < n; i++) {
			uint64_t v = 0;

			CHECK_EQ(pw_file_read(file, acc[i].addr - base, &v, 8), 0);
			CHECK_EQ(v, acc[i].value);
		}
		tap_diag("round %d (%s, CPL %d): %d pages written, %zu faults", round,
			 wp ? "write-notify" : "clean-record", round & 1 ? 3 : 0, nw, nf);
	}
	pw_kvm_destroy(e.kvm);
	e.kvm = NULL;
	CHECK_EQ(pw_munmap(e.mm, base, NP * PW_PAGE_SIZE), 0);
	CHECK_EQ(pw_file_destroy(file), 0);
	env_free(&e);
}

/*
 * Several vCPUs on the same tables. (1) They fault in disjoint pages of one
 * region at the same time, from one thread each: pw_handle_mm_fault runs
 * concurrently under the mmap read lock; every marker must land at the
 * frame pw_translate names. (2) A TLB shootdown: every vCPU caches a page;
 * the library moves and then write-protects it; every vCPU must see it.
 */
enum { NV = 4, PER_V = 192 };

struct vcpu_job {
	struct env *e;
	unsigned id;
	struct pw_kvm_access acc[PER_V];
	struct pw_kvm_fault faults[PER_V];
	size_t nf;
	int ret;
};

static void *vcpu_thread(void *arg)
{
	struct vcpu_job *j = arg;

	j->ret = pw_kvm_run(j->e->kvm, j->id, j->id & 1 ? 3 : 0, j->acc, PER_V, j->faults, PER_V, &j->nf);
	return NULL;
}

TEST(multi_vcpu)
{
	static struct vcpu_job jobs[NV];
	const uint64_t region = 0x60000000, v = 0x70000000;
	struct pw_kvm_stats before[NV], after;
	pthread_t th[NV];
	uint64_t filler;
	struct env e;

	if (env_init_n(&e, 64 << 20, 4, false, NV))
		return;
	REQUIRE_EQ(pw_mmap(e.mm, region, NV * PER_V * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	for (unsigned i = 0; i < NV; i++) {
		jobs[i].e = &e;
		jobs[i].id = i;
		for (unsigned k = 0; k < PER_V; k++)
			jobs[i].acc[k] = (struct pw_kvm_access){
				.op = PW_KVM_WRITE, .addr = region + (uint64_t)(k * NV + i) * PW_PAGE_SIZE + 8 * i,
				.value = tap_rand() };
	}
	for (unsigned i = 0; i < NV; i++)
		REQUIRE_EQ(pthread_create(&th[i], NULL, vcpu_thread, &jobs[i]), 0);
	for (unsigned i = 0; i < NV; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < NV; i++) {
		CHECK_EQ(jobs[i].ret, 0);
		CHECK_EQ(jobs[i].nf, PER_V); /* each first touch faulted once */
		for (unsigned k = 0; k < PER_V; k++) {
			uint64_t *p = frame_of(&e, jobs[i].acc[k].addr, NULL);

			CHECK_EQ(jobs[i].acc[k].status, PW_KVM_DONE);
			CHECK(p && *p == jobs[i].acc[k].value);
			if (k < jobs[i].nf)
				CHECK_EQ(jobs[i].faults[k].result, 0);
		}
	}

	/* Shootdown. */
	REQUIRE_EQ(pw_mmap(e.mm, v, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	*(uint64_t *)frame_of(&e, v, NULL) = 0x1111;
	for (unsigned i = 0; i < NV; i++) {
		struct pw_kvm_access r1 = { .op = PW_KVM_READ, .addr = v };

		CHECK_EQ(pw_kvm_run(e.kvm, i, 0, &r1, 1, NULL, 0, NULL), 0);
		CHECK_EQ(r1.value, 0x1111);
		pw_kvm_get_stats(e.kvm, (int)i, &before[i]);
	}
	REQUIRE_EQ(pw_munmap(e.mm, v, PW_PAGE_SIZE), 0);
	REQUIRE_EQ(pw_mmap(e.mm, 0, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_POPULATE, &filler), 0);
	REQUIRE_EQ(pw_mmap(e.mm, v, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	*(uint64_t *)frame_of(&e, v, NULL) = 0x2222;
	for (unsigned i = 0; i < NV; i++) {
		struct pw_kvm_access r2 = { .op = PW_KVM_READ, .addr = v };

		CHECK_EQ(pw_kvm_run(e.kvm, i, 3, &r2, 1, NULL, 0, NULL), 0);
		CHECK_EQ(r2.value, 0x2222);
		pw_kvm_get_stats(e.kvm, (int)i, &after);
		CHECK(after.invlpgs + after.cr3_flushes > before[i].invlpgs + before[i].cr3_flushes);
	}
	/* Every vCPU gets v writable in its TLB; then write-protect it. */
	for (unsigned i = 0; i < NV; i++) {
		struct pw_kvm_access w = { .op = PW_KVM_WRITE, .addr = v, .value = 5 };

		CHECK_EQ(pw_kvm_run(e.kvm, i, 0, &w, 1, NULL, 0, NULL), 0);
	}
	REQUIRE_EQ(pw_mprotect(e.mm, v, PW_PAGE_SIZE, PW_PROT_READ), 0);
	for (unsigned i = 0; i < NV; i++) {
		struct pw_kvm_access w = { .op = PW_KVM_WRITE, .addr = v, .value = 6 };
		struct pw_kvm_fault wf;
		size_t nf;

		CHECK_EQ(pw_kvm_run(e.kvm, i, 3, &w, 1, &wf, 1, &nf), 0);
		CHECK_EQ(nf, 1);
		CHECK_EQ(wf.error_code, PW_PF_P | PW_PF_W | PW_PF_U);
		CHECK_EQ(w.status, PW_KVM_FAILED);
	}
	CHECK_EQ(*(uint64_t *)frame_of(&e, v, NULL), 5);
	env_free(&e);
}

/* Write a marker through @va in the guest and find it at the frame pw_translate names. */
static void check_write_lands(struct env *e, uint64_t va, int cpl)
{
	struct pw_kvm_access a;
	struct pw_kvm_fault f;
	uint64_t *p;

	run_one(e, cpl, PW_KVM_WRITE, va, &a, &f);
	CHECK_EQ(a.status, PW_KVM_DONE);
	p = frame_of(e, va, NULL);
	CHECK(p != NULL);
	if (p)
		CHECK_EQ(*p, a.value);
}

/* 1 GiB leaves, where the vCPU offers them (PDPE1GB). */
TEST(huge_1g)
{
	const uint64_t v = 0x8000000000ULL;
	struct pw_translation t;
	struct env e;
	int r;

	r = env_init(&e, (2ULL << 30) + (64 << 20), 4, true);
	if (r == -EOPNOTSUPP && !e.caps.pdpe1gb) {
		/* Try anyway: plant a 1 GiB leaf in a VM without PDPE1GB. The vCPU
		 * must see a reserved bit, as pw_access() does with pdpe1gb off. */
		struct pw_access_result res;
		struct pw_kvm_access a;
		struct pw_kvm_fault f;
		uint64_t *pud, saved;

		if (env_init(&e, 64 << 20, 4, false))
			return;
		REQUIRE_EQ(pw_mmap(e.mm, v, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
		pud = entry_ptr(&e, v, PW_LEVEL_PUD);
		REQUIRE(pud != NULL);
		saved = *pud;
		*pud = pw_mk_leaf(PW_LEVEL_PUD, 0, PW_P | PW_RW | PW_US | PW_A | PW_D);
		pw_kvm_flush(e.kvm, 0, 0);
		CHECK_EQ(pw_access(e.mm, NULL, v + 0x1000, PW_ACCESS_NOFAULT, &res), -EFAULT);
		CHECK_EQ(run_one(&e, 0, PW_KVM_READ, v + 0x1000, &a, &f), 1);
		CHECK_EQ(f.error_code, PW_PF_P | PW_PF_RSVD);
		CHECK_EQ(f.error_code, res.pf_error);
		*pud = saved;
		env_free(&e);
		if (!tap_cur_failed)
			SKIP("1 GiB pages: the vCPU does not offer PDPE1GB; a 1 GiB leaf faults with RSVD (err 0x9), "
			     "as pw_access says");
		return;
	}
	if (r == -EOPNOTSUPP) {
		SKIP("1 GiB pages: KVM refused the VM");
		return;
	}
	if (r)
		return;
	REQUIRE_EQ(pw_mmap(e.mm, v, PW_PUD_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_1G, NULL), 0);
	check_write_lands(&e, v + 0x12345678, 0);
	check_write_lands(&e, v + 0x3ffff000, 3);
	pw_mmap_read_lock(e.mm);
	CHECK_EQ(pw_translate(e.mm, v, &t), 0);
	pw_mmap_read_unlock(e.mm);
	CHECK_EQ(t.level, PW_LEVEL_PUD);
	CHECK(t.entry & PW_D);
	env_free(&e);
}

/* 5-level paging, where KVM accepts CR4.LA57: an address only 57 bits reach. */
TEST(five_level)
{
	const uint64_t v = 0x0012345678000000ULL;
	struct env e;
	int r;

	r = env_init(&e, 64 << 20, 5, false);
	if (r == -EOPNOTSUPP) {
		SKIP(e.caps.la57 ? "5-level paging: KVM refused CR4.LA57 (KVM_SET_SREGS), though CPUID offers LA57" :
				   "5-level paging: KVM refused CR4.LA57 (KVM_SET_SREGS); CPUID does not offer LA57");
		return;
	}
	if (r)
		return;
	REQUIRE_EQ(pw_mmap(e.mm, v, 4 * PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	check_write_lands(&e, v + 0x1000, 0);
	check_write_lands(&e, v + 0x2008, 3);
	env_free(&e);
}

/* Bad input gives a clear -errno and changes nothing; destroy leaves the mm as it was. */
TEST(bad_input)
{
	struct pw_kvm_access a = { .op = PW_KVM_READ, .addr = 0x1000 };
	struct pw_paging cfg;
	struct pw_mm_stats s0, s1;
	struct pw_mm *mm2 = NULL;
	struct pw_kvm *k2 = NULL;
	uint64_t free0, gpa;
	struct env e;

	if (env_init(&e, 64 << 20, 4, false))
		return;
	CHECK_EQ(pw_kvm_create(NULL, 1, &k2), -EINVAL);
	CHECK_EQ(pw_kvm_create(e.mm, 1, NULL), -EINVAL);
	CHECK_EQ(pw_kvm_create(e.mm, 0, &k2), -EINVAL);
	CHECK_EQ(pw_kvm_create(e.mm, PW_KVM_MAX_VCPUS + 1, &k2), -EINVAL);
	CHECK_EQ(pw_kvm_run(e.kvm, 1, 0, &a, 1, NULL, 0, NULL), -EINVAL); /* no vCPU 1 */
	CHECK_EQ(pw_kvm_create(e.mm, 1, &k2), -EEXIST); /* the reserved range is taken */
	CHECK(k2 == NULL);
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 1, &a, 1, NULL, 0, NULL), -EINVAL);
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 0, NULL, 1, NULL, 0, NULL), -EINVAL);
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 0, &a, PW_KVM_MAX_ACCESSES + 1, NULL, 0, NULL), -E2BIG);
	a.op = 7;
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 0, &a, 1, NULL, 0, NULL), -EINVAL);
	CHECK_EQ(pw_kvm_run(NULL, 0, 0, NULL, 0, NULL, 0, NULL), -EINVAL);
	a = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = PW_KVM_AREA_START + 0x800 }; /* the IDT */
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 0, &a, 1, NULL, 0, NULL), -EINVAL);
	a.op = PW_KVM_READ;
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 0, &a, 1, NULL, 0, NULL), 0);
	CHECK_EQ(a.status, PW_KVM_DONE);
	CHECK_EQ(pw_kvm_flush(e.kvm, 0x2000, 0x1000), -EINVAL);
	CHECK_EQ(pw_kvm_flush(NULL, 0, 0), -EINVAL);
	CHECK_EQ(pw_kvm_translate(e.kvm, 0x1000, NULL), -EINVAL);
	CHECK_EQ(pw_kvm_translate(e.kvm, 0x1000, &gpa), -ENOENT);
	CHECK_EQ(pw_kvm_run(e.kvm, 0, 3, NULL, 0, NULL, 0, NULL), 0); /* still works */
	/* Destroy unmaps the reserved range and gives its frames back. */
	pw_kvm_destroy(e.kvm);
	e.kvm = NULL;
	pw_mm_get_stats(e.mm, &s0);
	CHECK_EQ(s0.nr_vmas, 0);
	CHECK_EQ(s0.rss, 0);
	free0 = pw_arena_free_frames(e.arena);
	/* A paging mode the vCPU does not run: refused, mm untouched. */
	cfg = *pw_mm_paging(e.mm);
	cfg.maxphyaddr = (uint8_t)(e.caps.maxphyaddr - 1);
	REQUIRE_EQ(pw_mm_create(e.arena, &cfg, &mm2), 0);
	CHECK_EQ(pw_kvm_create(mm2, 1, &k2), -EOPNOTSUPP);
	pw_mm_get_stats(mm2, &s1);
	CHECK_EQ(s1.nr_vmas, 0);
	pw_mm_destroy(mm2);
	/* Something in the reserved range: -EEXIST, nothing else mapped. */
	REQUIRE_EQ(pw_mmap(e.mm, PW_KVM_AREA_END - PW_PAGE_SIZE, PW_PAGE_SIZE, RW, PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	CHECK_EQ(pw_kvm_create(e.mm, 1, &k2), -EEXIST);
	pw_mm_get_stats(e.mm, &s1);
	CHECK_EQ(s1.nr_vmas, 1);
	CHECK_EQ(pw_munmap(e.mm, PW_KVM_AREA_END - PW_PAGE_SIZE, PW_PAGE_SIZE), 0);
	CHECK_EQ(pw_arena_free_frames(e.arena), free0);
	env_free(&e);
}

int main(void)
{
	tap_start();
	tap_seed("test_kvm");
	RUN(data_oracle);
	RUN(fault_oracle);
	RUN(accessed_dirty_oracle);
	RUN(tlb_flush_oracle);
	RUN(translate_oracle);
	RUN(dirty_tracking_oracle);
	RUN(multi_vcpu);
	RUN(huge_1g);
	RUN(five_level);
	RUN(bad_input);
	return tap_done();
}
