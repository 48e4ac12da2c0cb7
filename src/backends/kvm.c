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

#include "core/core.h"
#include "backends/kvm_agent.h"

#if defined(__x86_64__) && defined(__linux__) && __has_include(<linux/kvm.h>)

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* One vCPU: its fd, its kvm_run, its mailbox and the flushes queued for it. */
struct kvm_vcpu {
	int fd;
	unsigned id;
	struct kvm_run *run;
	uint8_t *mbox[KA_MBOX_PAGES]; /* host addresses of the mailbox pages */
	/* Flushes asked for, guarded by the VM's pend_lock; moved to the
	 * mailbox only while this vCPU is stopped (before KVM_RUN). */
	bool pend_all;
	unsigned nr_pend;
	uint64_t pend[MB_INVLPG_MAX];
	struct pw_kvm_stats stats;
};

struct pw_kvm {
	struct pw_mm *mm;
	int vm_fd;
	size_t run_size;
	unsigned nr_vcpus;
	struct kvm_vcpu *vcpu;
	struct kvm_userspace_memory_region slot;
	bool shadow_mmu; /* KVM walks guest tables in software (no EPT/NPT) */
	/*
	 * @pend_lock (a spinlock: the notifier may run on any thread, with
	 * page-table locks held) guards every vCPU's queue and @zap_pending
	 * (drop KVM's shadow tables before the next entry of any vCPU).
	 */
	uint32_t pend_lock;
	bool zap_pending;
	/*
	 * Held for read around each KVM_RUN, for write while the memory slot
	 * is replaced (a vCPU running then would see guest memory vanish).
	 */
	pthread_rwlock_t run_lock;
	struct pw_mmu_notifier mn;
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

#define RW_ (PW_PROT_READ | PW_PROT_WRITE)

/* Part @i of the range for @nr_vcpus vCPUs; false past the last one. */
static bool area_part(unsigned nr_vcpus, unsigned i, struct area_part *a)
{
	unsigned v = (i - 2) / 3;

	if (i == 0)
		*a = (struct area_part){ KA_SYS, 1, RW_, true };
	else if (i == 1)
		*a = (struct area_part){ KA_CODE, 1, RW_, false }; /* made R+X once written */
	else if (v >= nr_vcpus)
		return false;
	else if ((i - 2) % 3 == 0)
		*a = (struct area_part){ KA_MBOX(v), KA_MBOX_PAGES, RW_, false };
	else if ((i - 2) % 3 == 1)
		*a = (struct area_part){ KA_USTACK(v), 4, RW_, false };
	else
		*a = (struct area_part){ KA_KSTACK(v), 4, RW_, true };
	return true;
}

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

/* GDT, the vCPUs' TSSs and the IDT in the system page. */
static void write_sys_page(uint8_t *sys, unsigned nr_vcpus)
{
	uint64_t *gdt = (uint64_t *)(sys + (KA_GDT - KA_SYS));
	uint64_t *idt = (uint64_t *)(sys + (KA_IDT - KA_SYS));
	uint64_t stubs = KA_CODE + (uint64_t)(pw_kvm_agent_stubs - pw_kvm_agent_start);
	uint16_t iomap = 104;

	memset(sys, 0, PW_PAGE_SIZE);
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL; /* 0x08 code, DPL 0, L=1 D=0 */
	gdt[2] = 0x00cf93000000ffffULL; /* 0x10 data, DPL 0 */
	gdt[3] = 0x00cff3000000ffffULL; /* 0x18 data, DPL 3 */
	gdt[4] = 0x00affb000000ffffULL; /* 0x20 code, DPL 3, L=1 D=0 */
	for (unsigned i = 0; i < nr_vcpus; i++) {
		uint64_t tss_va = KA_TSS(i), rsp0 = KA_KSTACK_TOP(i);
		uint8_t *tss = sys + (KA_TSS(i) - KA_SYS);
		unsigned d = KA_SEL_TSS(i) / 8;

		/* 64-bit TSS, busy (TR is loaded with it), limit 0x67. */
		gdt[d] = 0x67 | ((tss_va & 0xffffff) << 16) | (0x8bULL << 40) | (((tss_va >> 24) & 0xff) << 56);
		gdt[d + 1] = tss_va >> 32;
		memcpy(tss + 4, &rsp0, sizeof(rsp0));	   /* RSP0 */
		memcpy(tss + 0x66, &iomap, sizeof(iomap)); /* no I/O bitmap: IOPL decides */
	}
	for (unsigned v = 0; v < KA_IDT_ENTRIES; v++) {
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

static int map_area(struct pw_kvm *kvm)
{
	size_t code_len = (size_t)(pw_kvm_agent_end - pw_kvm_agent_start);
	struct pw_mm *mm = kvm->mm;
	struct area_part a;
	uint8_t *p;
	int r;

	_Static_assert(KA_BASE == PW_KVM_AREA_START, "reserved range");
	_Static_assert(KA_END <= PW_KVM_AREA_END, "reserved range");
	_Static_assert(KA_MAX_VCPUS == PW_KVM_MAX_VCPUS, "vCPUs");
	_Static_assert(KA_IDT + 16 * KA_IDT_ENTRIES <= KA_SYS + 4096, "IDT");
	_Static_assert(KA_TSS(KA_MAX_VCPUS) <= KA_IDT, "TSS");
	_Static_assert(KA_SEL_TSS(KA_MAX_VCPUS) <= KA_TSS(0) - KA_GDT, "GDT");
	_Static_assert(MB_MAX_ENTRIES == PW_KVM_MAX_ACCESSES, "mailbox size");
	if (code_len > PW_PAGE_SIZE)
		return -EIO;
	for (unsigned i = 0; area_part(kvm->nr_vcpus, i, &a); i++) {
		r = pw_mmap(mm, a.va, a.pages * PW_PAGE_SIZE, a.prot,
			    PW_MAP_PRIVATE | PW_MAP_FIXED_NOREPLACE | PW_MAP_POPULATE |
				    (a.supervisor ? PW_MAP_SUPERVISOR : 0),
			    NULL);
		if (r)
			return r;
	}
	p = area_page(mm, KA_SYS);
	if (!p)
		return -EIO;
	write_sys_page(p, kvm->nr_vcpus);
	p = area_page(mm, KA_CODE);
	if (!p)
		return -EIO;
	memset(p, 0xcc, PW_PAGE_SIZE); /* int3 around the agent */
	memcpy(p, pw_kvm_agent_start, code_len);
	r = pw_mprotect(mm, KA_CODE, PW_PAGE_SIZE, PW_PROT_READ | PW_PROT_EXEC);
	if (r)
		return r;
	for (unsigned v = 0; v < kvm->nr_vcpus; v++) {
		for (unsigned i = 0; i < KA_MBOX_PAGES; i++) {
			uint8_t *m = area_page(mm, KA_MBOX(v) + i * PW_PAGE_SIZE);

			if (!m)
				return -EIO;
			memset(m, 0, PW_PAGE_SIZE);
			kvm->vcpu[v].mbox[i] = m;
		}
		*(uint64_t *)(kvm->vcpu[v].mbox[0] + MB_USTACK) = KA_USTACK_TOP(v);
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

static int setup_vcpu(struct pw_kvm *kvm, struct kvm_vcpu *vc, int kvm_fd)
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
	r = xioctl(vc->fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0)
		return -EIO;

	r = xioctl(vc->fd, KVM_GET_SREGS, &sr);
	if (r < 0)
		return -EIO;
	set_seg(&sr.cs, KA_SEL_KCODE, 11, true);
	set_seg(&sr.ds, KA_SEL_KDATA, 3, false);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.base = KA_TSS(vc->id);
	sr.tr.limit = 0x67;
	sr.tr.selector = KA_SEL_TSS(vc->id);
	sr.tr.type = 11;
	sr.tr.present = 1;
	sr.gdt.base = KA_GDT;
	sr.gdt.limit = KA_GDT_LIMIT(kvm->nr_vcpus);
	sr.idt.base = KA_IDT;
	sr.idt.limit = KA_IDT_ENTRIES * 16 - 1;
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.cr3 = pw_mm_root(kvm->mm) << PW_PAGE_SHIFT;
	sr.cr4 = CR4_PAE | (cfg->levels == 5 ? CR4_LA57 : 0);
	sr.efer = EFER_LME | EFER_LMA | (cfg->nxe ? EFER_NXE : 0);
	/* 5-level paging is tried, whatever CPUID says: KVM decides here. */
	r = xioctl(vc->fd, KVM_SET_SREGS, &sr);
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

/*
 * Drop KVM's shadow page tables: delete the memory slot and add it again.
 * Context: pend_lock not held; waits until no vCPU is inside KVM_RUN.
 */
static int zap_shadow(struct pw_kvm *kvm, struct kvm_vcpu *vc)
{
	struct kvm_userspace_memory_region del = kvm->slot;
	int r = 0;

	del.memory_size = 0;
	pthread_rwlock_wrlock(&kvm->run_lock);
	if (xioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &del) < 0 ||
	    xioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kvm->slot) < 0)
		r = -EIO;
	pthread_rwlock_unlock(&kvm->run_lock);
	vc->stats.shadow_zaps++;
	return r;
}

static void kvm_close(struct pw_kvm *kvm)
{
	for (unsigned i = 0; kvm->vcpu && i < kvm->nr_vcpus; i++) {
		if (kvm->vcpu[i].run)
			munmap(kvm->vcpu[i].run, kvm->run_size);
		if (kvm->vcpu[i].fd >= 0)
			close(kvm->vcpu[i].fd);
	}
	free(kvm->vcpu);
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	pthread_rwlock_destroy(&kvm->run_lock);
}

PW_API int pw_kvm_create(struct pw_mm *mm, unsigned nr_vcpus, struct pw_kvm **out)
{
	struct kvm_userspace_memory_region *slot;
	pthread_rwlockattr_t attr;
	struct pw_arena *arena;
	struct pw_kvm *kvm;
	int kvm_fd, r, sz;

	if (!mm || !out || !(arena = pw_mm_arena(mm)) || nr_vcpus < 1 || nr_vcpus > PW_KVM_MAX_VCPUS)
		return -EINVAL;
	kvm_fd = open_kvm();
	if (kvm_fd < 0)
		return kvm_fd;
	if (xioctl(kvm_fd, KVM_GET_API_VERSION, NULL) != KVM_API_VERSION) {
		close(kvm_fd);
		return -EIO;
	}
	kvm = calloc(1, sizeof(*kvm));
	if (!kvm || !(kvm->vcpu = calloc(nr_vcpus, sizeof(*kvm->vcpu)))) {
		free(kvm);
		close(kvm_fd);
		return -ENOMEM;
	}
	kvm->mm = mm;
	kvm->vm_fd = -1;
	kvm->nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		kvm->vcpu[i].fd = -1;
		kvm->vcpu[i].id = i;
	}
	kvm->shadow_mmu = !kvm_has_tdp();
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&kvm->run_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

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
	sz = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run))
		goto fail;
	kvm->run_size = (size_t)sz;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		struct kvm_vcpu *vc = &kvm->vcpu[i];

		r = -EIO;
		vc->fd = xioctl(kvm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)i);
		if (vc->fd < 0)
			goto fail;
		vc->run = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vc->fd, 0);
		if (vc->run == MAP_FAILED) {
			vc->run = NULL;
			goto fail;
		}
		r = setup_vcpu(kvm, vc, kvm_fd);
		if (r)
			goto fail;
	}
	r = -EEXIST;
	if (!area_free(mm))
		goto fail;
	r = map_area(kvm);
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

/* ---- mailbox and flushes ----------------------------------------------- */

static uint64_t *mb_header(struct kvm_vcpu *vc, unsigned off)
{
	return (uint64_t *)(vc->mbox[0] + off);
}

static uint8_t *mb_entry(struct kvm_vcpu *vc, size_t i)
{
	size_t off = i * MB_ENTRY_SIZE;

	return vc->mbox[1 + off / PW_PAGE_SIZE] + off % PW_PAGE_SIZE;
}

/* Queue a flush of [start, end) (end 0: everything) for @vc. Context: pend_lock held. */
static void pend_flush(struct kvm_vcpu *vc, uint64_t start, uint64_t end)
{
	uint64_t pages;

	start &= PW_PAGE_MASK;
	if (vc->pend_all)
		return;
	if (!end || end <= start || (pages = (end - start + PW_PAGE_SIZE - 1) >> PW_PAGE_SHIFT) > 64 ||
	    vc->nr_pend + pages > MB_INVLPG_MAX) {
		vc->pend_all = true;
		vc->nr_pend = 0;
		return;
	}
	for (uint64_t i = 0; i < pages; i++)
		vc->pend[vc->nr_pend++] = start + i * PW_PAGE_SIZE;
}

PW_API int pw_kvm_flush(struct pw_kvm *kvm, uint64_t start, uint64_t end)
{
	if (!kvm || (end && start > end))
		return -EINVAL;
	pw_spin_lock(&kvm->pend_lock);
	if (kvm->shadow_mmu)
		kvm->zap_pending = true;
	for (unsigned i = 0; i < kvm->nr_vcpus; i++)
		pend_flush(&kvm->vcpu[i], start, end);
	pw_spin_unlock(&kvm->pend_lock);
	return 0;
}

/*
 * Hand the flushes queued for @vc to its guest agent (executed before its
 * next access) and, on a shadow-paging host, make KVM drop its shadow
 * tables. Context: @vc is stopped; pend_lock not held.
 */
static int deliver_flushes(struct pw_kvm *kvm, struct kvm_vcpu *vc)
{
	uint64_t *all = mb_header(vc, MB_FLUSH_ALL), *nr = mb_header(vc, MB_NR_INVLPG);
	uint64_t *list = mb_header(vc, MB_INVLPG);
	bool zap;

	pw_spin_lock(&kvm->pend_lock);
	if (vc->pend_all || *nr + vc->nr_pend > MB_INVLPG_MAX) {
		*all = 1;
		*nr = 0;
	} else if (!*all) {
		memcpy(list + *nr, vc->pend, vc->nr_pend * sizeof(vc->pend[0]));
		*nr += vc->nr_pend;
	}
	vc->pend_all = false;
	vc->nr_pend = 0;
	zap = kvm->zap_pending;
	kvm->zap_pending = false;
	pw_spin_unlock(&kvm->pend_lock);
	return zap ? zap_shadow(kvm, vc) : 0;
}

/* The MMU notifier: the library flushes its TLB for a range; so do the vCPUs. */
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
static int handle_exception(struct pw_kvm *kvm, struct kvm_vcpu *vc, struct run_ctx *ctx,
			    uint32_t *decision)
{
	uint64_t entry = *mb_header(vc, MB_F_ENTRY);
	struct pw_kvm_fault f = {
		.vector = (uint32_t)*mb_header(vc, MB_F_VEC),
		.error_code = (uint32_t)*mb_header(vc, MB_F_ERR),
		.cr2 = *mb_header(vc, MB_F_CR2),
		.rip = *mb_header(vc, MB_F_RIP),
		.cpl = (uint8_t)(*mb_header(vc, MB_F_CS) & 3),
	};
	uint64_t base = KA_MBOX(vc->id) + MB_ENTRIES;

	vc->stats.faults++;
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
		struct timespec t0, t1;

		if (f.error_code & PW_PF_W)
			flags |= PW_FAULT_WRITE;
		if (f.error_code & PW_PF_I)
			flags |= PW_FAULT_EXEC;
		if (f.error_code & PW_PF_U)
			flags |= PW_FAULT_USER;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pw_mmap_read_lock(kvm->mm);
		f.result = pw_handle_mm_fault(kvm->mm, f.cr2, flags);
		pw_mmap_read_unlock(kvm->mm);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		vc->stats.fault_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
		if (!f.result) {
			/* The fault invalidated the page in this vCPU's TLB; a
			 * shadow MMU learns of the new entry from an invlpg. */
			pw_spin_lock(&kvm->pend_lock);
			if (!vc->pend_all && vc->nr_pend < MB_INVLPG_MAX)
				vc->pend[vc->nr_pend++] = f.cr2 & PW_PAGE_MASK;
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

static int vcpu_enter(struct pw_kvm *kvm, struct kvm_vcpu *vc)
{
	int r;

	pthread_rwlock_rdlock(&kvm->run_lock);
	r = xioctl(vc->fd, KVM_RUN, NULL);
	pthread_rwlock_unlock(&kvm->run_lock);
	return r;
}

PW_API int pw_kvm_run(struct pw_kvm *kvm, unsigned vcpu, int cpl, struct pw_kvm_access *acc, size_t n,
		      struct pw_kvm_fault *faults, size_t max_faults, size_t *nr_faults)
{
	struct run_ctx ctx = { .faults = faults, .max_faults = max_faults, .n = n };
	struct kvm_vcpu *vc;
	struct kvm_regs regs;
	bool done = false;
	int r = 0;

	if (nr_faults)
		*nr_faults = 0;
	if (!kvm || vcpu >= kvm->nr_vcpus || (cpl != 0 && cpl != 3) || (n && !acc))
		return -EINVAL;
	if (n > PW_KVM_MAX_ACCESSES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (acc[i].op < PW_KVM_READ || acc[i].op > PW_KVM_EXEC)
			return -EINVAL;
		/* The agent's own memory: reads are harmless, the rest is not. */
		if (acc[i].op != PW_KVM_READ && acc[i].addr >= PW_KVM_AREA_START &&
		    acc[i].addr < PW_KVM_AREA_END)
			return -EINVAL;
	}
	vc = &kvm->vcpu[vcpu];

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = mb_entry(vc, i);
		uint32_t status = PW_KVM_PENDING;

		memcpy(e, &acc[i].op, 4);
		memcpy(e + 4, &status, 4);
		memcpy(e + 8, &acc[i].addr, 8);
		memcpy(e + 16, &acc[i].value, 8);
	}
	*mb_header(vc, MB_COUNT) = n;
	*mb_header(vc, MB_CPL) = (uint64_t)cpl;

	memset(&regs, 0, sizeof(regs));
	regs.rip = KA_CODE + (uint64_t)(pw_kvm_agent_entry - pw_kvm_agent_start);
	regs.rsp = KA_KSTACK_TOP(vcpu);
	regs.r15 = KA_MBOX(vcpu);
	regs.rflags = 0x3002; /* IOPL 3, interrupts off */
	if (xioctl(vc->fd, KVM_SET_REGS, &regs) < 0 || deliver_flushes(kvm, vc))
		return -EIO;
	vc->stats.runs++;

	for (size_t guard = 0;; guard++) {
		struct kvm_run *run = vc->run;

		if (guard > 64 + 16 * n) {
			r = -ELOOP;
			break;
		}
		if (vcpu_enter(kvm, vc) < 0) {
			r = -EIO;
			break;
		}
		vc->stats.exits++;
		vc->stats.last_exit_reason = run->exit_reason;
		if (run->exit_reason == KVM_EXIT_IO) {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;

			if (run->io.port == KA_PORT_DONE && run->io.direction == KVM_EXIT_IO_OUT) {
				done = true;
				continue;
			}
			if (run->io.port == KA_PORT_FAULT && run->io.direction == KVM_EXIT_IO_IN &&
			    run->io.size == 4 && run->io.count == 1) {
				uint32_t decision = 1;

				r = handle_exception(kvm, vc, &ctx, &decision);
				if (!r)
					r = deliver_flushes(kvm, vc);
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
		uint8_t *e = mb_entry(vc, i);

		memcpy(&acc[i].status, e + 4, 4);
		if (acc[i].op == PW_KVM_READ && acc[i].status == PW_KVM_DONE)
			memcpy(&acc[i].value, e + 16, 8);
	}
	vc->stats.cr3_flushes = *mb_header(vc, MB_NR_CR3_FLUSH);
	vc->stats.invlpgs = *mb_header(vc, MB_NR_INVLPG_DONE);
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
	if (xioctl(kvm->vcpu[0].fd, KVM_TRANSLATE, &t) < 0)
		return -EIO;
	if (!t.valid)
		return -ENOENT;
	*phys = t.physical_address;
	return 0;
}

PW_API void pw_kvm_get_stats(const struct pw_kvm *kvm, int vcpu, struct pw_kvm_stats *st)
{
	if (!kvm || !st)
		return;
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < kvm->nr_vcpus; i++) {
		const struct pw_kvm_stats *v = &kvm->vcpu[i].stats;

		if (vcpu >= 0 && (unsigned)vcpu != i)
			continue;
		st->runs += v->runs;
		st->exits += v->exits;
		st->faults += v->faults;
		st->fault_ns += v->fault_ns;
		st->cr3_flushes += v->cr3_flushes;
		st->invlpgs += v->invlpgs;
		st->shadow_zaps += v->shadow_zaps;
		st->last_exit_reason = v->last_exit_reason;
	}
}

#else /* no KVM on this platform */

PW_API int pw_kvm_probe(struct pw_kvm_caps *caps)
{
	return -EOPNOTSUPP;
}

PW_API int pw_kvm_create(struct pw_mm *mm, unsigned nr_vcpus, struct pw_kvm **out)
{
	return -EOPNOTSUPP;
}

PW_API void pw_kvm_destroy(struct pw_kvm *kvm)
{
}

PW_API int pw_kvm_run(struct pw_kvm *kvm, unsigned vcpu, int cpl, struct pw_kvm_access *acc, size_t n,
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

PW_API void pw_kvm_get_stats(const struct pw_kvm *kvm, int vcpu, struct pw_kvm_stats *st)
{
}

#endif
