// SPDX-License-Identifier: MIT
/*
 * kvm.c - a KVM virtual machine whose guest memory is an address space's
 * frame arena and whose vCPU runs on the address space's own page tables.
 *
 * The guest agent (kvm_agent.c) and the layout of the reserved range
 * (kvm_agent.h) are described there; this file is the host side: building
 * the VM, the long-mode register state, the run loop and the fault path.
 */
#include <errno.h>
#include <string.h>

#include <pagewalk/kvm.h>
#include <pagewalk/notifier.h>

#include "internal.h"
#include "kvm_agent.h"

#if defined(__x86_64__) && defined(__linux__) && __has_include(<linux/kvm.h>)

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct pw_kvm {
	struct pw_mm *mm;
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mbox[KA_MBOX_PAGES]; /* host addresses of the mailbox pages */
	struct kvm_userspace_memory_region slot;
	bool shadow_mmu;  /* KVM walks guest tables in software (no EPT/NPT) */
	bool zap_pending; /* drop KVM's shadow tables before the next run */
	/*
	 * Flushes asked for (pw_kvm_flush(), the MMU notifier), guarded by
	 * @pend_lock: the notifier may run on any thread. They are moved to
	 * the mailbox only while the vCPU is stopped (before KVM_RUN).
	 */
	uint32_t pend_lock;
	bool pend_all;
	unsigned nr_pend;
	uint64_t pend[MB_INVLPG_MAX];
	struct pw_mmu_notifier mn;
	struct pw_kvm_stats stats;
};

static const struct pw_mmu_notifier_ops kvm_mn_ops;

/* CPUID bits. */
#define CPUID_80000001_EDX_NX (1u << 20)
#define CPUID_80000001_EDX_PDPE1GB (1u << 26)
#define CPUID_7_ECX_LA57 (1u << 16)

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* KVM_GET_SUPPORTED_CPUID, grown until it fits. Caller frees. */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		int r;

		if (!c)
			return NULL;
		c->nent = nent;
		r = xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r >= 0)
			return c;
		free(c);
		if (r != -E2BIG)
			return NULL;
	}
	return NULL;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void caps_from_cpuid(struct kvm_cpuid2 *c, struct pw_kvm_caps *caps)
{
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 0x80000008, 0);
	caps->maxphyaddr = e ? (e->eax & 0xff) : 36;
	e = cpuid_find(c, 0x80000001, 0);
	caps->nx = e && (e->edx & CPUID_80000001_EDX_NX);
	caps->pdpe1gb = e && (e->edx & CPUID_80000001_EDX_PDPE1GB);
	e = cpuid_find(c, 7, 0);
	caps->la57 = e && (e->ecx & CPUID_7_ECX_LA57);
}

PW_API int pw_kvm_probe(struct pw_kvm_caps *caps)
{
	struct kvm_cpuid2 *c;
	int fd, ver;

	if (!caps)
		return -EINVAL;
	fd = open_kvm();
	if (fd < 0)
		return fd;
	ver = xioctl(fd, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION) {
		close(fd);
		return ver < 0 ? -EIO : -EPROTO;
	}
	c = supported_cpuid(fd);
	close(fd);
	if (!c)
		return -EIO;
	memset(caps, 0, sizeof(*caps));
	caps->api_version = ver;
	caps_from_cpuid(c, caps);
	free(c);
	return 0;
}

/* ---- the reserved range ------------------------------------------------- */

struct area_part {
	uint64_t va;
	uint64_t pages;
	int prot;
	bool supervisor;
};

static const struct area_part area_parts[] = {
	{ KA_SYS, 1, PW_PROT_READ | PW_PROT_WRITE, true },
	{ KA_CODE, 1, PW_PROT_READ | PW_PROT_WRITE, false }, /* made R+X once written */
	{ KA_MBOX, KA_MBOX_PAGES, PW_PROT_READ | PW_PROT_WRITE, false },
	{ KA_USTACK, 4, PW_PROT_READ | PW_PROT_WRITE, false },
	{ KA_KSTACK, 4, PW_PROT_READ | PW_PROT_WRITE, true },
};

/* Host address of the (populated) page at @va of the reserved range. */
static uint8_t *area_page(struct pw_mm *mm, uint64_t va)
{
	struct pw_translation tr;
	int r;

	pw_mmap_read_lock(mm);
	r = pw_translate(mm, va, &tr);
	pw_mmap_read_unlock(mm);
	if (r)
		return NULL;
	return pw_frame_ptr(pw_mm_arena(mm), tr.pfn);
}

static uint64_t idt_gate_lo(uint64_t handler, unsigned dpl)
{
	return (handler & 0xffff) | ((uint64_t)KA_SEL_KCODE << 16) |
	       ((uint64_t)(0x8e | (dpl << 5)) << 40) | (((handler >> 16) & 0xffff) << 48);
}

/* GDT, TSS and IDT in the system page. */
static void write_sys_page(uint8_t *sys)
{
	uint64_t *gdt = (uint64_t *)(sys + (KA_GDT - KA_SYS));
	uint64_t *idt = (uint64_t *)(sys + (KA_IDT - KA_SYS));
	uint8_t *tss = sys + (KA_TSS - KA_SYS);
	uint64_t tss_va = KA_TSS, rsp0 = KA_KSTACK_TOP;
	uint64_t stubs = KA_CODE + (uint64_t)(pw_kvm_agent_stubs - pw_kvm_agent_start);
	uint16_t iomap = 104;

	memset(sys, 0, PW_PAGE_SIZE);
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL; /* 0x08 code, DPL 0, L=1 D=0 */
	gdt[2] = 0x00cf93000000ffffULL; /* 0x10 data, DPL 0 */
	gdt[3] = 0x00cff3000000ffffULL; /* 0x18 data, DPL 3 */
	gdt[4] = 0x00affb000000ffffULL; /* 0x20 code, DPL 3, L=1 D=0 */
	/* 0x28: 64-bit TSS, busy (TR is loaded with it), limit 0x67. */
	gdt[5] = 0x67 | ((tss_va & 0xffffff) << 16) | (0x8bULL << 40) | (((tss_va >> 24) & 0xff) << 56);
	gdt[6] = tss_va >> 32;

	memcpy(tss + 4, &rsp0, sizeof(rsp0));	/* RSP0 */
	memcpy(tss + 0x66, &iomap, sizeof(iomap)); /* no I/O bitmap: IOPL decides */

	for (unsigned v = 0; v < 32; v++) {
		idt[2 * v] = idt_gate_lo(stubs + 16 * v, 0);
		idt[2 * v + 1] = (stubs + 16 * v) >> 32;
	}
}

/* Is the reserved range free? */
static bool area_free(struct pw_mm *mm)
{
	struct pw_vma *vma;
	bool busy;

	pw_mmap_read_lock(mm);
	vma = pw_find_vma(mm, PW_KVM_AREA_START);
	busy = vma && vma->vm_start < PW_KVM_AREA_END;
	pw_mmap_read_unlock(mm);
	return !busy;
}

static int map_area(struct pw_mm *mm, uint8_t **mbox)
{
	size_t code_len = (size_t)(pw_kvm_agent_end - pw_kvm_agent_start);
	uint8_t *p;
	int r;

	_Static_assert(KA_BASE == PW_KVM_AREA_START, "reserved range");
	_Static_assert(KA_END <= PW_KVM_AREA_END, "reserved range");
	_Static_assert(MB_MAX_ENTRIES == PW_KVM_MAX_ACCESSES, "mailbox size");
	if (code_len > PW_PAGE_SIZE)
		return -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(area_parts); i++) {
		const struct area_part *a = &area_parts[i];

		r = pw_mmap(mm, a->va, a->pages * PW_PAGE_SIZE, a->prot,
			    PW_MAP_PRIVATE | PW_MAP_FIXED_NOREPLACE | PW_MAP_POPULATE |
				    (a->supervisor ? PW_MAP_SUPERVISOR : 0),
			    NULL);
		if (r)
			return r;
	}
	p = area_page(mm, KA_SYS);
	if (!p)
		return -EIO;
	write_sys_page(p);
	p = area_page(mm, KA_CODE);
	if (!p)
		return -EIO;
	memset(p, 0xcc, PW_PAGE_SIZE); /* int3 around the agent */
	memcpy(p, pw_kvm_agent_start, code_len);
	r = pw_mprotect(mm, KA_CODE, PW_PAGE_SIZE, PW_PROT_READ | PW_PROT_EXEC);
	if (r)
		return r;
	for (unsigned i = 0; i < KA_MBOX_PAGES; i++) {
		mbox[i] = area_page(mm, KA_MBOX + i * PW_PAGE_SIZE);
		if (!mbox[i])
			return -EIO;
		memset(mbox[i], 0, PW_PAGE_SIZE);
	}
	return 0;
}

/* ---- VM and vCPU --------------------------------------------------------- */

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = sel & 3;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int setup_vcpu(struct pw_kvm *kvm, int kvm_fd)
{
	const struct pw_paging *cfg = pw_mm_paging(kvm->mm);
	struct kvm_cpuid2 *c = supported_cpuid(kvm_fd);
	struct kvm_cpuid_entry2 *e;
	struct pw_kvm_caps caps;
	struct kvm_sregs sr;
	int r;

	if (!c)
		return -EIO;
	caps_from_cpuid(c, &caps);
	if (cfg->pke || cfg->maxphyaddr != caps.maxphyaddr || (cfg->nxe && !caps.nx) ||
	    (cfg->pdpe1gb && !caps.pdpe1gb)) {
		free(c);
		return -EOPNOTSUPP;
	}
	/* The guest must see the mm's paging mode: hide what the mm does not use. */
	e = cpuid_find(c, 0x80000001, 0);
	if (e && !cfg->pdpe1gb)
		e->edx &= ~CPUID_80000001_EDX_PDPE1GB;
	r = xioctl(kvm->vcpu_fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0)
		return -EIO;

	r = xioctl(kvm->vcpu_fd, KVM_GET_SREGS, &sr);
	if (r < 0)
		return -EIO;
	set_seg(&sr.cs, KA_SEL_KCODE, 11, true);
	set_seg(&sr.ds, KA_SEL_KDATA, 3, false);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.base = KA_TSS;
	sr.tr.limit = 0x67;
	sr.tr.selector = KA_SEL_TSS;
	sr.tr.type = 11;
	sr.tr.present = 1;
	sr.gdt.base = KA_GDT;
	sr.gdt.limit = KA_GDT_LIMIT;
	sr.idt.base = KA_IDT;
	sr.idt.limit = KA_IDT_ENTRIES * 16 - 1;
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.cr3 = pw_mm_root(kvm->mm) << PW_PAGE_SHIFT;
	sr.cr4 = CR4_PAE | (cfg->levels == 5 ? CR4_LA57 : 0);
	sr.efer = EFER_LME | EFER_LMA | (cfg->nxe ? EFER_NXE : 0);
	/* 5-level paging is tried, whatever CPUID says: KVM decides here. */
	r = xioctl(kvm->vcpu_fd, KVM_SET_SREGS, &sr);
	if (r < 0)
		return cfg->levels == 5 ? -EOPNOTSUPP : -EIO;
	return 0;
}

/*
 * Does KVM use two-dimensional paging (EPT/NPT)? Without it KVM shadows the
 * guest's tables, and write-protects them to notice changes; but our tables
 * are changed by the host, through its own mapping of guest memory, which
 * KVM does not see. A guest TLB flush then resyncs only what KVM thinks can
 * have changed, so pw_kvm_flush() also makes KVM drop its shadow tables.
 */
static bool kvm_has_tdp(void)
{
	static const char *const params[] = { "/sys/module/kvm_intel/parameters/ept",
					      "/sys/module/kvm_amd/parameters/npt" };

	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		char c = 0;
		int fd = open(params[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (read(fd, &c, 1) != 1)
			c = 0;
		close(fd);
		if (c == 'Y' || c == '1')
			return true;
	}
	return false;
}

/* Drop KVM's shadow page tables: delete the memory slot and add it again. */
static int zap_shadow(struct pw_kvm *kvm)
{
	struct kvm_userspace_memory_region del = kvm->slot;

	del.memory_size = 0;
	if (xioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &del) < 0 ||
	    xioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kvm->slot) < 0)
		return -EIO;
	kvm->stats.shadow_zaps++;
	return 0;
}

static void kvm_close(struct pw_kvm *kvm)
{
	if (kvm->run)
		munmap(kvm->run, kvm->run_size);
	if (kvm->vcpu_fd >= 0)
		close(kvm->vcpu_fd);
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
}

PW_API int pw_kvm_create(struct pw_mm *mm, struct pw_kvm **out)
{
	struct kvm_userspace_memory_region *slot;
	struct pw_arena *arena;
	struct pw_kvm *kvm;
	int kvm_fd, r, sz;

	if (!mm || !out || !(arena = pw_mm_arena(mm)))
		return -EINVAL;
	kvm_fd = open_kvm();
	if (kvm_fd < 0)
		return kvm_fd;
	if (xioctl(kvm_fd, KVM_GET_API_VERSION, NULL) != KVM_API_VERSION) {
		close(kvm_fd);
		return -EIO;
	}
	kvm = calloc(1, sizeof(*kvm));
	if (!kvm) {
		close(kvm_fd);
		return -ENOMEM;
	}
	kvm->mm = mm;
	kvm->vm_fd = kvm->vcpu_fd = -1;
	kvm->shadow_mmu = !kvm_has_tdp();

	r = -EIO;
	kvm->vm_fd = xioctl(kvm_fd, KVM_CREATE_VM, (void *)0);
	if (kvm->vm_fd < 0)
		goto fail;
	slot = &kvm->slot;
	slot->slot = 0;
	slot->guest_phys_addr = 0;
	slot->memory_size = pw_arena_nr_frames(arena) << PW_PAGE_SHIFT;
	slot->userspace_addr = (uint64_t)(uintptr_t)pw_arena_base(arena);
	if (xioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, slot) < 0)
		goto fail;
	kvm->vcpu_fd = xioctl(kvm->vm_fd, KVM_CREATE_VCPU, (void *)0);
	if (kvm->vcpu_fd < 0)
		goto fail;
	sz = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run))
		goto fail;
	kvm->run_size = (size_t)sz;
	kvm->run = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kvm->vcpu_fd, 0);
	if (kvm->run == MAP_FAILED) {
		kvm->run = NULL;
		goto fail;
	}
	r = setup_vcpu(kvm, kvm_fd);
	if (r)
		goto fail;
	r = -EEXIST;
	if (!area_free(mm))
		goto fail;
	r = map_area(mm, kvm->mbox);
	if (r) {
		/* The range was free: undo whatever part of it we mapped. */
		pw_munmap(mm, PW_KVM_AREA_START, PW_KVM_AREA_END - PW_KVM_AREA_START);
		goto fail;
	}
	kvm->mn.ops = &kvm_mn_ops;
	r = pw_mmu_notifier_register(&kvm->mn, mm);
	if (r) {
		pw_munmap(mm, PW_KVM_AREA_START, PW_KVM_AREA_END - PW_KVM_AREA_START);
		goto fail;
	}
	close(kvm_fd);
	*out = kvm;
	return 0;
fail:
	kvm_close(kvm);
	free(kvm);
	close(kvm_fd);
	return r;
}

PW_API void pw_kvm_destroy(struct pw_kvm *kvm)
{
	if (!kvm)
		return;
	pw_mmu_notifier_unregister(&kvm->mn, kvm->mm);
	kvm_close(kvm);
	pw_munmap(kvm->mm, PW_KVM_AREA_START, PW_KVM_AREA_END - PW_KVM_AREA_START);
	free(kvm);
}

/* ---- mailbox ------------------------------------------------------------- */

static uint64_t *mb_header(struct pw_kvm *kvm, unsigned off)
{
	return (uint64_t *)(kvm->mbox[0] + off);
}

static uint8_t *mb_entry(struct pw_kvm *kvm, size_t i)
{
	size_t off = i * MB_ENTRY_SIZE;

	return kvm->mbox[1 + off / PW_PAGE_SIZE] + off % PW_PAGE_SIZE;
}

/* Queue a flush of [start, end) (end 0: everything). Context: pend_lock held. */
static void pend_flush(struct pw_kvm *kvm, uint64_t start, uint64_t end)
{
	uint64_t pages;

	if (kvm->shadow_mmu)
		kvm->zap_pending = true;
	start &= PW_PAGE_MASK;
	if (kvm->pend_all)
		return;
	if (!end || end <= start || (pages = (end - start + PW_PAGE_SIZE - 1) >> PW_PAGE_SHIFT) > 64 ||
	    kvm->nr_pend + pages > MB_INVLPG_MAX) {
		kvm->pend_all = true;
		kvm->nr_pend = 0;
		return;
	}
	for (uint64_t i = 0; i < pages; i++)
		kvm->pend[kvm->nr_pend++] = start + i * PW_PAGE_SIZE;
}

PW_API int pw_kvm_flush(struct pw_kvm *kvm, uint64_t start, uint64_t end)
{
	if (!kvm || (end && start > end))
		return -EINVAL;
	pw_spin_lock(&kvm->pend_lock);
	pend_flush(kvm, start, end);
	pw_spin_unlock(&kvm->pend_lock);
	return 0;
}

/*
 * Hand the queued flushes to the guest (it executes them before its next
 * access) and, on a shadow-paging host, make KVM drop its shadow tables.
 * Context: the vCPU is stopped.
 */
static int deliver_flushes(struct pw_kvm *kvm)
{
	uint64_t *all = mb_header(kvm, MB_FLUSH_ALL), *nr = mb_header(kvm, MB_NR_INVLPG);
	uint64_t *list = mb_header(kvm, MB_INVLPG);
	bool zap;

	pw_spin_lock(&kvm->pend_lock);
	if (kvm->pend_all || *nr + kvm->nr_pend > MB_INVLPG_MAX) {
		*all = 1;
		*nr = 0;
	} else if (!*all) {
		memcpy(list + *nr, kvm->pend, kvm->nr_pend * sizeof(kvm->pend[0]));
		*nr += kvm->nr_pend;
	}
	kvm->pend_all = false;
	kvm->nr_pend = 0;
	zap = kvm->zap_pending;
	kvm->zap_pending = false;
	pw_spin_unlock(&kvm->pend_lock);
	return zap ? zap_shadow(kvm) : 0;
}

/* The MMU notifier: the library flushes its TLB for a range; so does the guest. */
static void kvm_mn_flush(struct pw_mmu_notifier *mn, struct pw_mm *mm, uint64_t start, uint64_t end)
{
	pw_kvm_flush(container_of(mn, struct pw_kvm, mn), start, end);
}

static const struct pw_mmu_notifier_ops kvm_mn_ops = {
	.arch_invalidate_secondary_tlbs = kvm_mn_flush,
};

/* ---- the run loop -------------------------------------------------------- */

struct run_ctx {
	struct pw_kvm_fault *faults;
	size_t max_faults, nr_faults;
	size_t n;
	/* the last fault resolved, to notice one that comes back unchanged */
	bool have_last;
	uint64_t last_cr2;
	uint32_t last_err, last_access;
};

/* Decide about the exception the agent reported: 0 retry, 1 give the access up. */
static int handle_exception(struct pw_kvm *kvm, struct run_ctx *ctx, uint32_t *decision)
{
	uint64_t entry = *mb_header(kvm, MB_F_ENTRY);
	struct pw_kvm_fault f = {
		.vector = (uint32_t)*mb_header(kvm, MB_F_VEC),
		.error_code = (uint32_t)*mb_header(kvm, MB_F_ERR),
		.cr2 = *mb_header(kvm, MB_F_CR2),
		.rip = *mb_header(kvm, MB_F_RIP),
		.cpl = (uint8_t)(*mb_header(kvm, MB_F_CS) & 3),
	};
	uint64_t base = KA_MBOX + MB_ENTRIES;

	kvm->stats.faults++;
	/* An exception outside the access instructions is an agent failure. */
	if (entry < base || entry >= base + ctx->n * MB_ENTRY_SIZE)
		return -EIO;
	f.access = (uint32_t)((entry - base) / MB_ENTRY_SIZE);

	if (f.vector != 14) {
		f.result = -EPERM;
	} else if (f.error_code & (PW_PF_RSVD | PW_PF_PK)) {
		f.result = -EIO;
	} else if (ctx->have_last && ctx->last_cr2 == f.cr2 && ctx->last_err == f.error_code &&
		   ctx->last_access == f.access) {
		f.result = -EAGAIN;
	} else {
		unsigned flags = 0;

		if (f.error_code & PW_PF_W)
			flags |= PW_FAULT_WRITE;
		if (f.error_code & PW_PF_I)
			flags |= PW_FAULT_EXEC;
		if (f.error_code & PW_PF_U)
			flags |= PW_FAULT_USER;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		pw_mmap_read_lock(kvm->mm);
		f.result = pw_handle_mm_fault(kvm->mm, f.cr2, flags);
		pw_mmap_read_unlock(kvm->mm);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		kvm->stats.fault_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
		if (!f.result) { /* the fault itself invalidated the page; KVM's shadow may not know */
			pw_spin_lock(&kvm->pend_lock);
			if (!kvm->pend_all && kvm->nr_pend < MB_INVLPG_MAX)
				kvm->pend[kvm->nr_pend++] = f.cr2 & PW_PAGE_MASK;
			pw_spin_unlock(&kvm->pend_lock);
		}
	}
	ctx->have_last = !f.result;
	ctx->last_cr2 = f.cr2;
	ctx->last_err = f.error_code;
	ctx->last_access = f.access;
	if (ctx->nr_faults < ctx->max_faults && ctx->faults)
		ctx->faults[ctx->nr_faults] = f;
	ctx->nr_faults++;
	*decision = f.result ? 1 : 0;
	return 0;
}

PW_API int pw_kvm_run(struct pw_kvm *kvm, int cpl, struct pw_kvm_access *acc, size_t n,
		      struct pw_kvm_fault *faults, size_t max_faults, size_t *nr_faults)
{
	struct run_ctx ctx = { .faults = faults, .max_faults = max_faults, .n = n };
	struct kvm_regs regs;
	bool done = false;
	int r = 0;

	if (nr_faults)
		*nr_faults = 0;
	if (!kvm || (cpl != 0 && cpl != 3) || (n && !acc))
		return -EINVAL;
	if (n > PW_KVM_MAX_ACCESSES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (acc[i].op < PW_KVM_READ || acc[i].op > PW_KVM_EXEC)
			return -EINVAL;

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = mb_entry(kvm, i);
		uint32_t status = PW_KVM_PENDING;

		memcpy(e, &acc[i].op, 4);
		memcpy(e + 4, &status, 4);
		memcpy(e + 8, &acc[i].addr, 8);
		memcpy(e + 16, &acc[i].value, 8);
	}
	*mb_header(kvm, MB_COUNT) = n;
	*mb_header(kvm, MB_CPL) = (uint64_t)cpl;

	memset(&regs, 0, sizeof(regs));
	regs.rip = KA_CODE + (uint64_t)(pw_kvm_agent_entry - pw_kvm_agent_start);
	regs.rsp = KA_KSTACK_TOP;
	regs.rflags = 0x3002; /* IOPL 3, interrupts off */
	if (xioctl(kvm->vcpu_fd, KVM_SET_REGS, &regs) < 0 || deliver_flushes(kvm))
		return -EIO;
	kvm->stats.runs++;

	for (size_t guard = 0;; guard++) {
		struct kvm_run *run = kvm->run;

		if (guard > 64 + 16 * n) {
			r = -ELOOP;
			break;
		}
		if (xioctl(kvm->vcpu_fd, KVM_RUN, NULL) < 0) {
			r = -EIO;
			break;
		}
		kvm->stats.exits++;
		kvm->stats.last_exit_reason = run->exit_reason;
		if (run->exit_reason == KVM_EXIT_IO) {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;

			if (run->io.port == KA_PORT_DONE && run->io.direction == KVM_EXIT_IO_OUT) {
				done = true;
				continue;
			}
			if (run->io.port == KA_PORT_FAULT && run->io.direction == KVM_EXIT_IO_IN &&
			    run->io.size == 4 && run->io.count == 1) {
				uint32_t decision = 1;

				r = handle_exception(kvm, &ctx, &decision);
				if (!r)
					r = deliver_flushes(kvm);
				if (r)
					break;
				memcpy(data, &decision, 4);
				continue;
			}
			r = -EIO;
			break;
		}
		if (run->exit_reason == KVM_EXIT_HLT && done)
			break;
		r = -EIO; /* shutdown (triple fault), entry failure, internal error */
		break;
	}

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = mb_entry(kvm, i);

		memcpy(&acc[i].status, e + 4, 4);
		if (acc[i].op == PW_KVM_READ && acc[i].status == PW_KVM_DONE)
			memcpy(&acc[i].value, e + 16, 8);
	}
	kvm->stats.cr3_flushes = *mb_header(kvm, MB_NR_CR3_FLUSH);
	kvm->stats.invlpgs = *mb_header(kvm, MB_NR_INVLPG_DONE);
	if (nr_faults)
		*nr_faults = ctx.nr_faults;
	return r;
}

PW_API int pw_kvm_translate(struct pw_kvm *kvm, uint64_t addr, uint64_t *phys)
{
	struct kvm_translation t;

	if (!kvm || !phys)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.linear_address = addr;
	if (xioctl(kvm->vcpu_fd, KVM_TRANSLATE, &t) < 0)
		return -EIO;
	if (!t.valid)
		return -ENOENT;
	*phys = t.physical_address;
	return 0;
}

PW_API void pw_kvm_get_stats(const struct pw_kvm *kvm, struct pw_kvm_stats *st)
{
	if (kvm && st)
		*st = kvm->stats;
}

#else /* no KVM on this platform */

PW_API int pw_kvm_probe(struct pw_kvm_caps *caps)
{
	return -EOPNOTSUPP;
}

PW_API int pw_kvm_create(struct pw_mm *mm, struct pw_kvm **out)
{
	return -EOPNOTSUPP;
}

PW_API void pw_kvm_destroy(struct pw_kvm *kvm)
{
}

PW_API int pw_kvm_run(struct pw_kvm *kvm, int cpl, struct pw_kvm_access *acc, size_t n,
		      struct pw_kvm_fault *faults, size_t max_faults, size_t *nr_faults)
{
	return -EOPNOTSUPP;
}

PW_API int pw_kvm_flush(struct pw_kvm *kvm, uint64_t start, uint64_t end)
{
	return -EOPNOTSUPP;
}

PW_API int pw_kvm_translate(struct pw_kvm *kvm, uint64_t addr, uint64_t *phys)
{
	return -EOPNOTSUPP;
}

PW_API void pw_kvm_get_stats(const struct pw_kvm *kvm, struct pw_kvm_stats *st)
{
}

#endif
