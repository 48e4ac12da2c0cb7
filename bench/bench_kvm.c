// SPDX-License-Identifier: MIT
/*
 * bench_kvm.c - a KVM vCPU on pagewalk's tables (issue 4).
 *
 *   create      pw_kvm_create(): VM, memory slot over the arena, vCPU,
 *               CPUID, long-mode registers, the agent's reserved range mapped
 *   first-exit  the first pw_kvm_run() with no accesses (KVM_RUN to the
 *               agent's "done" port and hlt)
 *   destroy     pw_kvm_destroy()
 *   empty run   a later pw_kvm_run() with no accesses: the floor of a run
 *   fault       a run of N writes to untouched pages, each a guest #PF
 *               resolved by pw_handle_mm_fault(); minus a run of N writes to
 *               the same, now mapped pages: the fault round trip
 *   writes      N writes to mapped 4 KiB pages, one run: per-write cost
 *   zap         an empty run after pw_kvm_flush(everything): on hosts
 *               without EPT/NPT that drops KVM's shadow tables
 * Every figure is the median of REPS runs (fresh pages for each fault run).
 *
 * Usage: bench_kvm [--reps N]. Exits 0 with a note when KVM is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagewalk/kvm.h>
#include <pagewalk/mm.h>

#include "bench.h"

#define MAX_REPS 101
#define NW PW_KVM_MAX_ACCESSES /* accesses per run */

static struct pw_kvm_access acc[NW];

static int run_writes(struct pw_kvm *kvm, uint64_t base, size_t n, size_t *nf)
{
	for (size_t i = 0; i < n; i++)
		acc[i] = (struct pw_kvm_access){ .op = PW_KVM_WRITE, .addr = base + i * 4096, .value = i };
	return pw_kvm_run(kvm, 0, 3, acc, n, NULL, 0, nf);
}

int main(int argc, char **argv)
{
	double t_create[MAX_REPS], t_first[MAX_REPS], t_destroy[MAX_REPS], t_empty[MAX_REPS];
	double t_fault[MAX_REPS], t_mapped[MAX_REPS], t_zap[MAX_REPS];
	struct pw_kvm_stats st;
	struct pw_kvm_caps caps;
	struct pw_arena *arena;
	struct pw_paging cfg;
	struct pw_kvm *kvm;
	struct pw_mm *mm;
	int reps = 31, r;
	size_t nf;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_kvm [--reps N]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS)
		reps = 31;
	r = pw_kvm_probe(&caps);
	if (r) {
		printf("bench_kvm: KVM unavailable (%s): nothing measured\n", strerror(-r));
		return 0;
	}
	cfg = (struct pw_paging){ .levels = 4, .maxphyaddr = (uint8_t)caps.maxphyaddr, .nxe = caps.nx };
	/* Each fault run needs NW fresh pages: 31 runs x 1920 pages x 4 KiB = 233 MiB. */
	if (pw_arena_create((uint64_t)(reps + 2) * NW * 4096 + (64ULL << 20), &arena) ||
	    pw_mm_create(arena, &cfg, &mm)) {
		fprintf(stderr, "bench_kvm: out of memory\n");
		return 1;
	}

	/* Create, first exit, destroy. */
	for (int i = 0; i < reps; i++) {
		double t0 = now(), t1, t2, t3;

		if ((r = pw_kvm_create(mm, 1, &kvm))) {
			printf("bench_kvm: creating the VM failed (%s): nothing measured\n", strerror(-r));
			return 0;
		}
		t1 = now();
		r = pw_kvm_run(kvm, 0, 0, NULL, 0, NULL, 0, NULL);
		t2 = now();
		pw_kvm_destroy(kvm);
		t3 = now();
		if (r) {
			fprintf(stderr, "bench_kvm: run failed: %s\n", strerror(-r));
			return 1;
		}
		t_create[i] = t1 - t0;
		t_first[i] = t2 - t1;
		t_destroy[i] = t3 - t2;
	}

	/* One VM for the rest. */
	if (pw_kvm_create(mm, 1, &kvm))
		return 1;
	const uint64_t heap = 0x100000000ULL;
	if (pw_mmap(mm, heap, (uint64_t)reps * NW * 4096, PW_PROT_READ | PW_PROT_WRITE,
		    PW_MAP_PRIVATE | PW_MAP_FIXED, NULL))
		return 1;
	pw_kvm_run(kvm, 0, 3, NULL, 0, NULL, 0, NULL);
	for (int i = 0; i < reps; i++) {
		uint64_t base = heap + (uint64_t)i * NW * 4096;
		double t0, t1, t2, t3, t4, t5;

		t0 = now();
		pw_kvm_run(kvm, 0, 3, NULL, 0, NULL, 0, NULL);
		t1 = now();
		r = run_writes(kvm, base, NW, &nf); /* first touch: NW faults */
		t2 = now();
		if (r || nf != NW) {
			fprintf(stderr, "bench_kvm: fault run: %d, %zu faults\n", r, nf);
			return 1;
		}
		r = run_writes(kvm, base, NW, &nf); /* the same pages, mapped */
		t3 = now();
		if (r || nf) {
			fprintf(stderr, "bench_kvm: mapped run: %d, %zu faults\n", r, nf);
			return 1;
		}
		pw_kvm_flush(kvm, 0, 0);
		t4 = now();
		pw_kvm_run(kvm, 0, 3, NULL, 0, NULL, 0, NULL);
		t5 = now();
		t_empty[i] = t1 - t0;
		t_fault[i] = t2 - t1;
		t_mapped[i] = t3 - t2;
		t_zap[i] = t5 - t4;
	}
	pw_kvm_get_stats(kvm, -1, &st);

	double empty = median(t_empty, reps), fault = median(t_fault, reps), mapped = median(t_mapped, reps);

	printf("bench_kvm: %d reps, %d accesses per run, CPL 3; KVM MAXPHYADDR %u, PDPE1GB %d, shadow zaps %llu\n",
	       reps, NW, caps.maxphyaddr, caps.pdpe1gb, (unsigned long long)st.shadow_zaps);
	printf("%-44s %10s\n", "what (median)", "us");
	printf("%-44s %10.1f\n", "pw_kvm_create", median(t_create, reps) * 1e6);
	printf("%-44s %10.1f\n", "first pw_kvm_run (to the first exit, hlt)", median(t_first, reps) * 1e6);
	printf("%-44s %10.1f\n", "create + first run", (median(t_create, reps) + median(t_first, reps)) * 1e6);
	printf("%-44s %10.1f\n", "pw_kvm_destroy", median(t_destroy, reps) * 1e6);
	printf("%-44s %10.1f\n", "empty run (VM entry to done)", empty * 1e6);
	printf("%-44s %10.1f\n", "empty run after a full flush (zap)", median(t_zap, reps) * 1e6);
	printf("%-44s %10.3f\n", "guest page fault round trip, per fault", (fault - mapped) / NW * 1e6);
	printf("%-44s %10.3f\n", "  (run with faults / NW)", fault / NW * 1e6);
	printf("%-44s %10.3f\n", "  of which pw_handle_mm_fault (mean)", (double)st.fault_ns / (double)st.faults / 1e3);
	printf("%-44s %10.4f\n", "write to a mapped 4 KiB page, per write", (mapped - empty) / NW * 1e6);
	printf("%-44s %10.1f\n", "  writes per second (millions)", NW / (mapped - empty) / 1e6);
	pw_kvm_destroy(kvm);
	pw_mm_destroy(mm);
	pw_arena_destroy(arena);
	return 0;
}
