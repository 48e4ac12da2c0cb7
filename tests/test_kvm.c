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
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "../tests/tap.h"
#include <errno.h>

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
static int env_init(struct env *e, uint64_t arena_bytes, int levels, bool pdpe1gb)
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
	r = pw_kvm_create(e->mm, &e->kvm);
	if (r) {
		if (r != -EOPNOTSUPP)
			kvm_unavailable("creating the VM", r);
		env_free(e);
		return r;
	}
	return 0;
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
		REQUIRE_EQ(pw_kvm_run(e.kvm, cpl, acc, N, faults, 2 * N, &nf), 0);
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
		REQUIRE_EQ(pw_kvm_run(e.kvm, cpl, acc, N, faults, 2 * N, &nf), 0);
		CHECK_EQ(nf, 0);
		for (int i = 0; i < N; i++) {
			CHECK_EQ(acc[i].status, PW_KVM_DONE);
			CHECK_EQ(acc[i].value, *(uint64_t *)frame_of(&e, acc[i].addr, NULL));
		}
	}
	env_free(&e);
}

int main(void)
{
	tap_start();
	tap_seed("test_kvm");
	RUN(data_oracle);
	return tap_done();
}
