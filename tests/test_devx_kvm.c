// SPDX-License-Identifier: MIT
/*
 * Description: device-exclusive pages through a real vCPU (KVM): a guest
 * access to a page the device holds exclusively takes a #PF (the entry is
 * not present), the host's fault handler restores the entry (the device's
 * notifier hears EXCLUSIVE with owner NULL), and the access is retried and
 * completes on the same frame, with the dirty state kept. Without /dev/kvm
 * the test prints SKIP with the reason (PW_REQUIRE_KVM=1 makes that a
 * failure).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/devx.h>
#include <pagewalk/gup.h>
#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>
#include <pagewalk/notifier.h>

#include "../tests/tap.h"

#define PG 4096ULL

static char skip_buf[256];

struct dev {
	struct pw_mmu_notifier mn;
	int cpu; /* EXCLUSIVE events with owner NULL: the CPU took a page back */
};

static int dev_start(struct pw_mmu_notifier *mn, const struct pw_mmu_notifier_range *r)
{
	if (r->event == PW_MMU_NOTIFY_EXCLUSIVE && !r->owner)
		((struct dev *)mn)->cpu++;
	return 0;
}

static const struct pw_mmu_notifier_ops dev_ops = { .invalidate_range_start = dev_start };

static uint64_t raw(struct pw_mm *mm, uint64_t addr)
{
	struct pw_translation t = { 0 };

	pw_mmap_read_lock(mm);
	pw_translate(mm, addr, &t);
	pw_mmap_read_unlock(mm);
	return t.entry;
}

TEST(guest_access_to_exclusive_page_restores_and_retries)
{
	struct pw_kvm_caps caps;
	struct pw_arena *a;
	struct pw_mm *mm;
	struct pw_kvm *kvm;
	struct pw_paging cfg;
	struct dev d = { .mn.ops = &dev_ops };
	struct pw_kvm_access acc[2];
	struct pw_kvm_fault f[8];
	size_t nf = 0;
	uint64_t x, fr[2], free0;
	int r = pw_kvm_probe(&caps);
	const char *req = getenv("PW_REQUIRE_KVM");

	if (r) {
		snprintf(skip_buf, sizeof(skip_buf), "KVM unavailable: /dev/kvm: %s", strerror(-r));
		if (req && !strcmp(req, "1"))
			tap_cur_failed = true;
		else
			SKIP(skip_buf);
		return;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = true };
	REQUIRE_EQ(pw_arena_create(64 << 20, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, &cfg, &mm), 0);
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		snprintf(skip_buf, sizeof(skip_buf), "KVM unavailable: creating the VM: %s", strerror(-r));
		SKIP(skip_buf);
		pw_mm_destroy(mm);
		pw_arena_destroy(a);
		return;
	}
	REQUIRE_EQ(pw_mmap(mm, 0, 2 * PG, PW_PROT_READ | PW_PROT_WRITE, PW_MAP_PRIVATE, &x), 0);
	/* the guest writes both pages: faulted in, dirty */
	acc[0] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = x, .value = 0x1111 };
	acc[1] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = x + PG, .value = 0x2222 };
	REQUIRE_EQ(pw_kvm_run(kvm, 0, 3, acc, 2, f, 8, &nf), 0);
	CHECK_EQ(acc[0].status, PW_KVM_DONE);
	REQUIRE_EQ(pw_mmu_notifier_register(&d.mn, mm), 0);
	CHECK_EQ(pw_make_device_exclusive_range(mm, x, x + 2 * PG, &d, fr), 2);
	pw_put_user_pages(mm, fr, 2, 0);
	CHECK(pw_is_device_exclusive(raw(mm, x)));
	CHECK(pw_is_device_exclusive(raw(mm, x + PG)));
	/* a guest read of page 0, a guest write of page 1: each exits, restores, retries */
	acc[0] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = x };
	acc[1] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = x + PG, .value = 0x3333 };
	nf = 0;
	REQUIRE_EQ(pw_kvm_run(kvm, 0, 3, acc, 2, f, 8, &nf), 0);
	CHECK_EQ(acc[0].status, PW_KVM_DONE);
	CHECK_EQ(acc[1].status, PW_KVM_DONE);
	CHECK_EQ(acc[0].value, 0x1111);
	CHECK(nf >= 2);
	for (size_t i = 0; i < nf && i < 8; i++) {
		CHECK_EQ(f[i].vector, 14);
		CHECK_EQ(f[i].result, 0);
		CHECK(!(f[i].error_code & PW_PF_P)); /* not present: the exclusive entry */
	}
	CHECK_EQ(d.cpu, 2);
	CHECK(!pw_is_device_exclusive(raw(mm, x)));
	CHECK_EQ((raw(mm, x) & 0x000ffffffffff000ULL) >> 12, fr[0]); /* same frame */
	CHECK(raw(mm, x) & PW_D);					 /* dirty kept */
	CHECK_EQ((raw(mm, x + PG) & 0x000ffffffffff000ULL) >> 12, fr[1]);
	CHECK_EQ(*(uint64_t *)pw_frame_ptr(a, fr[1]), 0x3333);
	pw_mmu_notifier_unregister(&d.mn, mm);
	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
}

int main(void)
{
	tap_start();
	RUN(guest_access_to_exclusive_page_restores_and_retries);
	return tap_done();
}
