/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/kvm.h - run a real vCPU (Linux KVM) on an address space's tables.
 *
 * pw_kvm_create() makes a VM whose guest-physical memory IS the address
 * space's frame arena: one memory slot, guest-physical address = frame
 * number << 12. Its vCPUs (one or more) start directly in 64-bit long
 * mode with CR3 at pw_mm_root(), so every access the guest makes is translated by the
 * hypervisor's (or the CPU's) MMU walking this library's tables, and the
 * Accessed and Dirty bits it sets land in the arena.
 *
 * A small guest agent (src/backends/kvm_agent.c) runs a list of accesses (read,
 * write, execute) at CPL 0 or 3. Its page-fault handler reports each fault
 * to the host, which resolves it with pw_handle_mm_fault() (under the mmap
 * lock for read) and resumes the guest, or gives the access up when the
 * fault is a real permission error.
 *
 * TLB: the guest's TLB is only flushed when the guest flushes it.
 * pw_kvm_create() registers an MMU notifier (pagewalk/notifier.h) on the
 * mm: whenever the library flushes its TLB for a range
 * (arch_invalidate_secondary_tlbs), the flush is queued for the guest, and
 * the agent executes it (invlpg per page, or a CR3 reload for large ranges)
 * before its next access. So the library's flush batching is checked by
 * the vCPU's TLB. Entries changed behind the library's back need
 * pw_kvm_flush(). Pages a fault just resolved are invalidated by the guest
 * without being asked.
 *
 * Reserved range: pw_kvm_create() maps the agent's GDT, TSS, IDT, code,
 * mailbox and stacks at [PW_KVM_AREA_START, PW_KVM_AREA_END), the last
 * 2 MiB of the lower canonical half. That range must be free when the VM is
 * created and must not be changed while it exists; pw_kvm_destroy() unmaps
 * it again. Its pages use PML4 slot 255 (and the tables under it), so the
 * agent's own walks set Accessed/Dirty bits only there. Layout: system page
 * (GDT, TSSs, IDT) at +0, agent code at +0x1000, and for vCPU i at
 * +0x10000 + 0x20000 * i its mailbox (16 pages), user stack (+0x10000) and
 * kernel stack (+0x18000).
 *
 * Only Linux on x86-64 has KVM support; elsewhere every function that
 * returns a value returns -EOPNOTSUPP.
 */
#ifndef PAGEWALK_KVM_H
#define PAGEWALK_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reserved range (see above): 2 MiB below the top of the lower half. */
#define PW_KVM_AREA_START 0x7fffffe00000ULL
#define PW_KVM_AREA_END 0x800000000000ULL

/* Most accesses one pw_kvm_run() takes; most vCPUs per VM. */
#define PW_KVM_MAX_ACCESSES 1920
#define PW_KVM_MAX_VCPUS 8

struct pw_kvm;

/**
 * struct pw_kvm_caps - what the host's KVM offers a guest.
 * @api_version: KVM_GET_API_VERSION (12).
 * @maxphyaddr: the guest's physical-address width (CPUID 0x80000008); an
 *              address space run by pw_kvm must use the same MAXPHYADDR.
 * @nx: execute-disable (EFER.NXE) is offered.
 * @pdpe1gb: 1 GiB pages are offered (CPUID 0x80000001 EDX bit 26).
 * @la57: 5-level paging is advertised (CPUID 7 ECX bit 16). KVM may still
 *        refuse CR4.LA57; pw_kvm_create() tries it and says so.
 */
struct pw_kvm_caps {
	int api_version;
	unsigned maxphyaddr;
	bool nx;
	bool pdpe1gb;
	bool la57;
};

/**
 * pw_kvm_probe() - open /dev/kvm and read what it offers a guest.
 * @caps: receives the capabilities.
 *
 * Context: any thread; opens and closes /dev/kvm.
 * Return: 0; -EOPNOTSUPP (not Linux x86-64); -ENOENT, -EACCES or another
 * open() error for /dev/kvm; -EPROTO (unexpected API version); -EIO (an
 * ioctl failed).
 */
int pw_kvm_probe(struct pw_kvm_caps *caps);

/**
 * pw_kvm_create() - a VM over @mm's arena, with vCPUs in long mode on @mm's tables.
 * @mm: an address space with an arena (not a foreign one). Its paging mode
 *      must be one the vCPU runs: MAXPHYADDR equal to the vCPU's, no
 *      protection keys, NX and 1 GiB pages only if offered, 5 levels only if
 *      KVM accepts CR4.LA57.
 * @nr_vcpus: 1 .. PW_KVM_MAX_VCPUS. They share the tables (CR3) and have
 *            a TLB each; every flush goes to all of them.
 * @out: receives the VM.
 *
 * Maps the reserved range [PW_KVM_AREA_START, PW_KVM_AREA_END) in @mm
 * (populated; per vCPU a mailbox, a user and a kernel stack), writes the
 * agent into it, and registers an MMU notifier on @mm for TLB flushes.
 *
 * Context: takes the mmap lock (do not hold it). May block.
 * Return: 0; -EINVAL (NULL or foreign @mm, bad @nr_vcpus); -EOPNOTSUPP (no
 * KVM support on this platform, or the vCPU refuses @mm's paging mode);
 * -ENOENT/-EACCES (/dev/kvm); -EEXIST (something is mapped in the reserved
 * range); -ENOMEM; -EIO (a KVM ioctl failed). On error @mm is left as it was.
 */
int pw_kvm_create(struct pw_mm *mm, unsigned nr_vcpus, struct pw_kvm **out);

/**
 * pw_kvm_destroy() - close the VM and unmap the reserved range. NULL is a no-op.
 * Context: takes the mmap lock for write; the mm must still exist.
 */
void pw_kvm_destroy(struct pw_kvm *kvm);

/* Access kinds and results of struct pw_kvm_access. */
enum {
	PW_KVM_READ = 1,  /* load 8 bytes from @addr into @value */
	PW_KVM_WRITE = 2, /* store the 8 bytes of @value at @addr */
	PW_KVM_EXEC = 3,  /* call @addr; the code there must return (a `ret`, 0xc3) */
};
enum {
	PW_KVM_PENDING = 0, /* not run (the run stopped before it) */
	PW_KVM_DONE = 1,    /* the access completed */
	PW_KVM_FAILED = 2,  /* a fault could not be resolved; the guest skipped it */
};

/**
 * struct pw_kvm_access - one access for the guest.
 * @op: PW_KVM_READ, _WRITE or _EXEC.
 * @status: set by pw_kvm_run(): PW_KVM_DONE, _FAILED or _PENDING.
 * @addr: virtual address (8-byte aligned for reads and writes).
 * @value: value to write; for a read, the value read.
 */
struct pw_kvm_access {
	uint32_t op;
	uint32_t status;
	uint64_t addr;
	uint64_t value;
};

/**
 * struct pw_kvm_fault - one exception the guest took during an access.
 * @vector: exception vector (14 = #PF, 13 = #GP, ...).
 * @error_code: as the CPU pushed it (SDM 4.7 for #PF: PW_PF_* bits).
 * @cr2: CR2 (the faulting linear address for a #PF).
 * @rip: RIP of the faulting instruction.
 * @access: index of the access in the list.
 * @cpl: privilege level the fault was taken at.
 * @result: 0 when the host resolved the fault and the access was retried;
 *          otherwise why the access was given up: pw_handle_mm_fault()'s
 *          error (-EFAULT no VMA, -EACCES forbidden, -ENOMEM), -EIO for a
 *          reserved-bit fault, -EPERM for an exception other than #PF,
 *          -EAGAIN when a resolved fault came back unchanged.
 */
struct pw_kvm_fault {
	uint32_t vector;
	uint32_t error_code;
	uint64_t cr2;
	uint64_t rip;
	uint32_t access;
	uint8_t cpl;
	int result;
};

/**
 * pw_kvm_run() - run a list of accesses on one vCPU.
 * @kvm: the VM.
 * @vcpu: which vCPU (0 .. nr_vcpus - 1).
 * @cpl: 0 (supervisor) or 3 (user): the privilege level of the accesses.
 * @acc: the accesses, run in order; @status and read @value are filled in.
 * @n: number of accesses, at most PW_KVM_MAX_ACCESSES (0 runs the agent to
 *     its end without accesses: a pure VM entry/exit).
 * @faults: receives the exceptions taken, in order (may be NULL).
 * @max_faults: room in @faults.
 * @nr_faults: receives the number of exceptions taken (may be more than
 *             @max_faults; only the first @max_faults are stored). May be NULL.
 *
 * Before the first access the agent executes the flushes pw_kvm_flush()
 * queued. Page faults are resolved with pw_handle_mm_fault() under the mmap
 * lock for read; after each resolved fault the guest invalidates that page.
 * CR0.WP is set; SMEP and SMAP are off.
 *
 * Context: the caller must not hold the mmap lock. Different vCPUs may run
 * at the same time on different threads; one thread per vCPU.
 * An execute access runs guest code at @cpl: the code at @addr must return
 * (a lone `ret` is the intended use); code that never returns never gives
 * control back to the host.
 *
 * Return: 0 when the guest finished the list (single accesses may have
 * failed: see @status); -EINVAL (bad @vcpu, @cpl or @op, NULL, or a write
 * or execute inside the reserved range); -E2BIG (@n too
 * large); -ELOOP (the guest kept faulting); -EIO (the vCPU stopped
 * unexpectedly, e.g. a triple fault or an exception outside an access).
 */
int pw_kvm_run(struct pw_kvm *kvm, unsigned vcpu, int cpl, struct pw_kvm_access *acc, size_t n,
	       struct pw_kvm_fault *faults, size_t max_faults, size_t *nr_faults);

/**
 * pw_kvm_flush() - have the guest flush its TLB for [start, end) before its next access.
 * @start, @end: the range; @end == 0 means the top of the address space.
 *
 * Every vCPU is told. Small ranges become a list of invlpg; large ones
 * (or many queued pages) a CR3 reload. This is what a library change of entries the guest may
 * cache must be followed by.
 *
 * Where KVM has no EPT/NPT it shadows the guest's tables and only notices
 * changes the guest itself writes; ours are written by the host. There the
 * next pw_kvm_run() also makes KVM drop its shadow tables (the memory slot
 * is removed and added again), so that the guest's flush really takes
 * effect; the guest still executes the invlpg / CR3 reload.
 *
 * Context: any thread; never blocks (takes a spinlock). Flushes queued
 * while a vCPU runs reach it at its next VM exit (the next fault it takes
 * or its next run), like a shootdown IPI that waits for the next exit.
 * Return: 0, -EINVAL (NULL, or @start above @end).
 */
int pw_kvm_flush(struct pw_kvm *kvm, uint64_t start, uint64_t end);

/**
 * pw_kvm_translate() - ask KVM to translate @addr (KVM_TRANSLATE, on vCPU 0).
 * @phys: receives the guest-physical address.
 *
 * KVM walks the guest tables as a supervisor read: it sets Accessed bits
 * along a successful walk and ignores permissions (R/W, U/S, NX).
 *
 * Context: as pw_kvm_run() for vCPU 0.
 * Return: 0; -ENOENT (not mapped, reserved bit, or non-canonical); -EINVAL; -EIO.
 */
int pw_kvm_translate(struct pw_kvm *kvm, uint64_t addr, uint64_t *phys);

/**
 * struct pw_kvm_stats - counters of a vCPU.
 * @runs: pw_kvm_run() calls.
 * @exits: KVM_RUN returns (VM exits seen by the host).
 * @faults: exceptions the guest reported.
 * @fault_ns: host time spent in pw_handle_mm_fault() (with the mmap lock
 *            taken and released), in nanoseconds.
 * @cr3_flushes: CR3 reloads the guest agent executed.
 * @invlpgs: invlpg instructions the guest agent executed.
 * @shadow_zaps: times this vCPU made KVM drop its shadow page tables
 *               (hosts without EPT/NPT only, see pw_kvm_flush()).
 * @last_exit_reason: the last KVM exit reason (KVM_EXIT_*).
 */
struct pw_kvm_stats {
	uint64_t runs;
	uint64_t exits;
	uint64_t faults;
	uint64_t fault_ns;
	uint64_t cr3_flushes;
	uint64_t invlpgs;
	uint64_t shadow_zaps;
	uint32_t last_exit_reason;
};

/**
 * pw_kvm_get_stats() - read the counters of vCPU @vcpu, or their sums for @vcpu -1
 * (@last_exit_reason is then the last vCPU's).
 * Context: no pw_kvm_run() of those vCPUs running.
 */
void pw_kvm_get_stats(const struct pw_kvm *kvm, int vcpu, struct pw_kvm_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_KVM_H */
