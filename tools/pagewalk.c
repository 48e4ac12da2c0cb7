// SPDX-License-Identifier: MIT
/*
 * pagewalk - the command-line tool. Each command lives in tools/cmd_<name>.c.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifndef PW_VERSION
#define PW_VERSION "0.1.0"
#endif

static const struct command commands[] = {
	{ "demo", "build a representative address space, touch it, walk it, dump it", cmd_demo },
	{ "ptdump", "dump the page tables of a memory image (Linux, JSON, QEMU formats)", cmd_ptdump },
	{ "translate", "translate virtual addresses through a memory image's page tables", cmd_translate },
	{ "kernel-bases", "find a Linux kernel's KASLR bases in a memory image's page tables",
	  cmd_kernel_bases },
	{ "dirty-demo", "two address spaces share a file; track the pages threads write", cmd_dirty },
	{ "kvm-demo", "run a KVM vCPU on the tables: faults it takes, pages it dirties", cmd_kvm },
	{ "devx-demo", "a device takes exclusive access to pages a parent and child share", cmd_devx },
	{ "smaps", "print the demo address space's /proc/PID/smaps (--rollup: smaps_rollup) in the kernel's format",
	  cmd_smaps },
	{ "hugetlb-demo", "three address spaces share the PMD tables of a hugetlb file; one unshares",
	  cmd_hugetlb },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pagewalk COMMAND [ARGS]\n\n"
		   "Linux's page-table walkers in user space, over real x86-64 page tables.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-12s %s\n", "help", "this text (also --help, -h)");
	fprintf(f, "  %-12s %s\n", "--version", "print the version");
	fprintf(f, "\n'pagewalk COMMAND --help' describes a command's arguments; man pagewalk.\n\n%s",
		exit_status_help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "pagewalk: no command given\n\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("pagewalk %s\n", PW_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "pagewalk: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
