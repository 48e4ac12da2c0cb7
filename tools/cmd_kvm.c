// SPDX-License-Identifier: MIT
/*
 * cmd_kvm.c - `pagewalk kvm-demo`: a real vCPU (KVM) on pagewalk's tables.
 *
 * Maps an address space (4 KiB heap, 2 MiB-leaf region, read-only data, a
 * supervisor page), runs the guest agent over it, and prints the faults the
 * vCPU took and the pages whose Dirty bit the vCPU set. Where KVM is not
 * available it says why and exits with status 77.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>

#include "commands.h"

#define HEAP 0x10000000ULL
#define HEAP_PAGES 32
#define HUGE 0x40000000ULL
#define RODATA 0x50000000ULL
#define KDATA 0x60000000ULL

static const char kvm_usage[] =
	"usage: pagewalk kvm-demo [--cpl 0|3] [--seed N]\n\n"
	"Runs a KVM vCPU on a pagewalk address space: guest RAM is the frame arena,\n"
	"CR3 is the address space's root table. Prints the faults the vCPU took (and\n"
	"how pw_handle_mm_fault resolved them) and the pages the vCPU marked dirty.\n"
	"  --cpl N    privilege level of the guest's accesses (default 3)\n"
	"  --seed N   which heap pages the second run writes (default 1)\n"
	"Exit status 77 when KVM is not available here.\n";

/* Clear Dirty on every leaf (the guest then sets it again where it writes). */
static int clean_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	if (pw_pte_present(pw_ptep_get(pte)))
		pw_entry_write(&pte->val, pte->val & ~(uint64_t)PW_D);
	return 0;
}

static int clean_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	if (pw_pmd_leaf(pw_pmdp_get(pmd)))
		pw_entry_write(&pmd->val, pmd->val & ~(uint64_t)PW_D);
	return 0;
}

/* Print every leaf with Dirty set. */
static int dirty_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	pw_pte_t v = pw_ptep_get(pte);

	if (pw_pte_present(v) && (v.val & PW_D)) {
		printf("  0x%012" PRIx64 "  4 KiB  frame 0x%" PRIx64 "\n", addr,
		       pw_entry_pfn(PW_LEVEL_PTE, v.val, pw_mm_paging(walk->mm)->maxphyaddr));
		(*(unsigned *)walk->private)++;
	}
	return 0;
}

static int dirty_pmd(pw_pmd_t *pmd, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	pw_pmd_t v = pw_pmdp_get(pmd);

	if (pw_pmd_leaf(v) && (v.val & PW_D)) {
		printf("  0x%012" PRIx64 "  2 MiB  frame 0x%" PRIx64 "\n", addr,
		       pw_entry_pfn(PW_LEVEL_PMD, v.val, pw_mm_paging(walk->mm)->maxphyaddr));
		(*(unsigned *)walk->private)++;
	}
	return 0;
}

static const char *op_name(uint32_t op)
{
	return op == PW_KVM_READ ? "read" : op == PW_KVM_WRITE ? "write" : "exec";
}

static void print_faults(const struct pw_kvm_access *acc, const struct pw_kvm_fault *f, size_t nf)
{
	for (size_t i = 0; i < nf; i++) {
		const struct pw_kvm_access *a = &acc[f[i].access];

		printf("  %-5s 0x%012" PRIx64 " CPL%u: vector %2u err 0x%02x%s%s%s%s%s cr2 0x%012" PRIx64 " -> %s%s\n",
		       op_name(a->op), a->addr, f[i].cpl, f[i].vector, f[i].error_code,
		       f[i].vector == 14 ? " (" : "",
		       f[i].vector != 14 ? "" : (f[i].error_code & PW_PF_P) ? "P" : "not-present",
		       f[i].vector == 14 && (f[i].error_code & PW_PF_W) ? ",W" : "",
		       f[i].vector == 14 && (f[i].error_code & PW_PF_U) ? ",U" : "",
		       f[i].vector != 14 ? "" : (f[i].error_code & PW_PF_I) ? ",I)" : ")", f[i].cr2,
		       f[i].result ? "access failed: " : "resolved by pw_handle_mm_fault",
		       f[i].result ? strerror(-f[i].result) : "");
	}
}

static int run_and_print(struct pw_kvm *kvm, int cpl, struct pw_kvm_access *acc, size_t n)
{
	struct pw_kvm_fault faults[256];
	size_t nf = 0;
	int r = pw_kvm_run(kvm, 0, cpl, acc, n, faults, 256, &nf);

	if (r) {
		fprintf(stderr, "pagewalk kvm-demo: guest run failed: %s\n", strerror(-r));
		return r;
	}
	printf("%zu accesses at CPL %d, %zu faults%s\n", n, cpl, nf, nf ? ":" : "");
	print_faults(acc, faults, nf < 256 ? nf : 256);
	return 0;
}

int cmd_kvm(int argc, char **argv)
{
	struct pw_walk_ops clean_ops = { .pte_entry = clean_pte, .pmd_entry = clean_pmd };
	struct pw_walk_ops dirty_ops = { .pte_entry = dirty_pte, .pmd_entry = dirty_pmd };
	struct pw_kvm_access acc[HEAP_PAGES + 8];
	struct pw_arena *arena = NULL;
	struct pw_kvm_caps caps;
	struct pw_kvm *kvm = NULL;
	struct pw_mm *mm = NULL;
	struct pw_paging cfg;
	unsigned seed = 1, ndirty = 0;
	int cpl = 3, r;
	size_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(kvm_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--cpl") || !strcmp(argv[i], "--seed")) {
			const char *why;
			uint64_t v;

			if (i + 1 >= argc)
				return usage_error("kvm-demo", NULL, "%s needs a value", argv[i]);
			if (parse_count(argv[i + 1], &v, &why))
				return usage_error("kvm-demo", NULL, "%s '%s': %s", argv[i], argv[i + 1], why);
			if (!strcmp(argv[i], "--cpl")) {
				if (v != 0 && v != 3)
					return usage_error("kvm-demo", NULL, "--cpl '%s': must be 0 or 3",
							   argv[i + 1]);
				cpl = (int)v;
			} else {
				if (v > 0xffffffffULL)
					return usage_error("kvm-demo", NULL, "--seed '%s': must fit 32 bits",
							   argv[i + 1]);
				seed = (unsigned)v;
			}
			i++;
		} else {
			fprintf(stderr, "pagewalk kvm-demo: unknown argument '%s'\n\n", argv[i]);
			fputs(kvm_usage, stderr);
			return EXIT_USAGE;
		}
	}

	r = pw_kvm_probe(&caps);
	if (r) {
		printf("pagewalk kvm-demo: KVM is not available here: %s%s\n", strerror(-r),
		       r == -ENOENT ? " (no /dev/kvm)" : r == -EACCES ? " (no permission for /dev/kvm)" :
		       r == -EOPNOTSUPP ? " (needs Linux on x86-64)" : "");
		return 77;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx,
				  .pdpe1gb = caps.pdpe1gb };
	r = pw_arena_create(64ULL << 20, &arena);
	if (!r)
		r = pw_mm_create(arena, &cfg, &mm);
	if (!r)
		r = pw_mmap(mm, HEAP, HEAP_PAGES * 4096, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_PRIVATE | PW_MAP_FIXED, NULL);
	if (!r)
		r = pw_mmap(mm, HUGE, 2 * PW_PMD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_2M | PW_MAP_POPULATE, NULL);
	if (!r)
		r = pw_mmap(mm, RODATA, 4096, PW_PROT_READ, PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE, NULL);
	if (!r)
		r = pw_mmap(mm, KDATA, 4096, PW_PROT_READ | PW_PROT_WRITE,
			    PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_POPULATE | PW_MAP_SUPERVISOR, NULL);
	if (r) {
		fprintf(stderr, "pagewalk kvm-demo: building the address space: %s\n", strerror(-r));
		goto out;
	}
	r = pw_kvm_create(mm, 1, &kvm);
	if (r) {
		printf("pagewalk kvm-demo: KVM is not available here: creating the VM failed: %s\n", strerror(-r));
		r = 77;
		goto out;
	}
	printf("VM: guest RAM = the 64 MiB frame arena (GPA = frame << 12), CR3 = 0x%" PRIx64
	       ", MAXPHYADDR %u, agent at 0x%llx\n",
	       pw_mm_root(mm) << 12, caps.maxphyaddr, (unsigned long long)PW_KVM_AREA_START);
	printf("mapped: heap 0x%llx (%d x 4 KiB, demand-zero), 0x%llx (2 x 2 MiB), read-only 0x%llx, "
	       "supervisor 0x%llx\n\n",
	       HEAP, HEAP_PAGES, HUGE, RODATA, KDATA);

	/* Run 1: first touch of every other heap page, and some permission errors. */
	printf("run 1: first touch and permission checks\n");
	n = 0;
	for (int i = 0; i < HEAP_PAGES; i += 2)
		acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = HEAP + (uint64_t)i * 4096, .value = (uint64_t)i };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = RODATA };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = KDATA };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_EXEC, .addr = HEAP };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = 0x70000000 };
	r = run_and_print(kvm, cpl, acc, n);
	if (r)
		goto out;

	/* Run 2: clean every leaf, let the guest write some pages, show the D bits it set. */
	pw_mmap_read_lock(mm);
	r = pw_walk_page_range(mm, 0, PW_KVM_AREA_START, &clean_ops, NULL);
	pw_mmap_read_unlock(mm);
	pw_kvm_flush(kvm, 0, 0); /* the D bits changed behind the library's back */
	printf("\nrun 2: Dirty cleared on every leaf; the guest writes a few pages\n");
	n = 0;
	srand(seed);
	for (int i = 0; i < HEAP_PAGES; i += 2)
		if (rand() % 3 == 0)
			acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = HEAP + (uint64_t)i * 4096 + 64 };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = HUGE + PW_PMD_SIZE + 0x1234 * 8 };
	acc[n++] = (struct pw_kvm_access){ .op = PW_KVM_READ, .addr = HUGE };
	r = run_and_print(kvm, cpl, acc, n);
	if (r)
		goto out;
	printf("\npages the vCPU marked dirty:\n");
	pw_mmap_read_lock(mm);
	r = pw_walk_page_range(mm, 0, PW_KVM_AREA_START, &dirty_ops, &ndirty);
	pw_mmap_read_unlock(mm);
	printf("%u dirty pages (%zu written by the guest in run 2)\n", ndirty, n - 1);
out:
	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
	return r < 0 ? 1 : r;
}
