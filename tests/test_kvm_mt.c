// SPDX-License-Identifier: MIT
/*
 * Description: KVM vCPUs running on their own threads while another thread
 * changes the address space (mprotect, munmap + mmap): the MMU notifier
 * queues flushes for every vCPU while they run and fault. Built and run
 * under ThreadSanitizer too (a *_mt test).
 *
 * Oracle: no run fails; every access ends done or failed (never left
 * pending); a write that failed faulted as a write to a present read-only
 * page, or to an unmapped one; and once the mutator has stopped, every
 * vCPU's writes land at the frames pw_translate names.
 */
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "../tests/tap.h"
#include <errno.h>
#include <pthread.h>

enum { NV = 3, PAGES = 16, ROUNDS = 60 };

static const uint64_t shared_base = 0x50000000; /* toggled RO/RW by the mutator */
static const uint64_t moving = 0x58000000;	  /* unmapped and mapped again */

struct ctx {
	struct pw_arena *arena;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	int stop;
};

struct vjob {
	struct ctx *c;
	unsigned id;
	int bad;
	unsigned long faults, failed;
	char why[160];
};

static void *vcpu_main(void *arg)
{
	struct vjob *j = arg;
	struct pw_kvm_access acc[PAGES + 1];
	struct pw_kvm_fault f[4 * PAGES];

	for (int round = 0; round < ROUNDS && !j->bad; round++) {
		size_t nf = 0;
		int r;

		for (unsigned k = 0; k < PAGES; k++)
			acc[k] = (struct pw_kvm_access){ .op = PW_KVM_WRITE,
							 .addr = shared_base + k * 4096 + 8 * j->id,
							 .value = ((uint64_t)j->id << 32) | (uint64_t)round };
		acc[PAGES] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = moving };
		r = pw_kvm_run(j->c->kvm, j->id, round & 1 ? 3 : 0, acc, PAGES + 1, f, 4 * PAGES, &nf);
		if (r) {
			j->bad = 1;
			snprintf(j->why, sizeof(j->why), "vCPU %u round %d: pw_kvm_run %d", j->id, round, r);
			break;
		}
		j->faults += nf;
		for (unsigned k = 0; k <= PAGES; k++)
			j->failed += acc[k].status == PW_KVM_FAILED;
		for (unsigned k = 0; k <= PAGES; k++)
			if (acc[k].status != PW_KVM_DONE && acc[k].status != PW_KVM_FAILED) {
				j->bad = 1;
				snprintf(j->why, sizeof(j->why), "vCPU %u: access %u left %u", j->id, k, acc[k].status);
			}
		for (size_t i = 0; i < nf && i < 4 * PAGES; i++) {
			uint32_t err = f[i].error_code & ~(uint32_t)PW_PF_U;

			/* Writes: not present (first touch, or unmapped) or present read-only. */
			if (f[i].vector != 14 || (f[i].access < PAGES && err != PW_PF_W && err != (PW_PF_P | PW_PF_W)) ||
			    (f[i].access == PAGES && err != 0)) {
				j->bad = 1;
				snprintf(j->why, sizeof(j->why), "vCPU %u: fault vec %u err 0x%x on access %u", j->id,
					 f[i].vector, f[i].error_code, f[i].access);
			}
		}
	}
	return NULL;
}

static void *mutator_main(void *arg)
{
	struct ctx *c = arg;

	for (unsigned i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
		pw_mprotect(c->mm, shared_base, PAGES * 4096, i & 1 ? PW_PROT_READ | PW_PROT_WRITE : PW_PROT_READ);
		pw_munmap(c->mm, moving, 4096);
		pw_mmap(c->mm, moving, 4096, PW_PROT_READ | PW_PROT_WRITE,
			PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL);
	}
	return NULL;
}

TEST(vcpus_vs_mutator)
{
	static struct vjob jobs[NV];
	struct pw_kvm_caps caps;
	struct pw_paging cfg;
	pthread_t th[NV], mut;
	struct ctx c = { 0 };
	int r;

	r = pw_kvm_probe(&caps);
	if (r) {
		const char *req = getenv("PW_REQUIRE_KVM");

		if (req && !strcmp(req, "1")) {
			printf("# KVM unavailable: %s (PW_REQUIRE_KVM=1)\n", strerror(-r));
			tap_cur_failed = true;
		} else {
			SKIP("KVM unavailable: /dev/kvm");
		}
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = true };
	REQUIRE_EQ(pw_arena_create(64 << 20, &c.arena), 0);
	REQUIRE_EQ(pw_mm_create(c.arena, &cfg, &c.mm), 0);
	r = pw_kvm_create(c.mm, NV, &c.kvm);
	if (r) {
		const char *req = getenv("PW_REQUIRE_KVM");

		if (req && !strcmp(req, "1")) {
			printf("# creating the VM: %s (PW_REQUIRE_KVM=1)\n", strerror(-r));
			tap_cur_failed = true;
		} else {
			SKIP("KVM unavailable: creating the VM failed");
		}
		pw_mm_destroy(c.mm);
		pw_arena_destroy(c.arena);
		return;
	}
	REQUIRE_EQ(pw_mmap(c.mm, shared_base, PAGES * 4096, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED, NULL), 0);
	REQUIRE_EQ(pw_mmap(c.mm, moving, 4096, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL), 0);
	REQUIRE_EQ(pthread_create(&mut, NULL, mutator_main, &c), 0);
	for (unsigned i = 0; i < NV; i++) {
		jobs[i] = (struct vjob){ .c = &c, .id = i };
		REQUIRE_EQ(pthread_create(&th[i], NULL, vcpu_main, &jobs[i]), 0);
	}
	for (unsigned i = 0; i < NV; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(mut, NULL);
	for (unsigned i = 0; i < NV; i++)
		tap_diag("vCPU %u: %d runs, %lu faults, %lu accesses failed", i, ROUNDS, jobs[i].faults, jobs[i].failed);
	for (unsigned i = 0; i < NV; i++)
		if (jobs[i].bad) {
			tap_diag("%s", jobs[i].why);
			CHECK(false);
		}

	/* Quiet now: every vCPU's writes land where the tables say. */
	REQUIRE_EQ(pw_mprotect(c.mm, shared_base, PAGES * 4096, PW_PROT_READ | PW_PROT_WRITE), 0);
	for (unsigned i = 0; i < NV; i++) {
		struct pw_kvm_access acc[PAGES];

		for (unsigned k = 0; k < PAGES; k++)
			acc[k] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = shared_base + k * 4096 + 8 * i,
							 .value = 0xabc000 + i * 100 + k };
		CHECK_EQ(pw_kvm_run(c.kvm, i, 3, acc, PAGES, NULL, 0, NULL), 0);
		for (unsigned k = 0; k < PAGES; k++) {
			struct pw_translation t;
			uint64_t *p;

			CHECK_EQ(acc[k].status, PW_KVM_DONE);
			pw_mmap_read_lock(c.mm);
			r = pw_translate(c.mm, acc[k].addr, &t);
			pw_mmap_read_unlock(c.mm);
			REQUIRE_EQ(r, 0);
			p = (uint64_t *)((uint8_t *)pw_frame_ptr(c.arena, t.pfn) + (acc[k].addr & 4095));
			CHECK_EQ(*p, acc[k].value);
		}
	}
	pw_kvm_destroy(c.kvm);
	pw_mm_destroy(c.mm);
	pw_arena_destroy(c.arena);
}

int main(void)
{
	tap_start();
	RUN(vcpus_vs_mutator);
	return tap_done();
}
