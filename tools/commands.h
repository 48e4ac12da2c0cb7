/* SPDX-License-Identifier: MIT */
/* commands.h - the CLI's subcommands, one file each (tools/cmd_*.c). */
#ifndef PAGEWALK_TOOLS_COMMANDS_H
#define PAGEWALK_TOOLS_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

int cmd_demo(int argc, char **argv);
int cmd_ptdump(int argc, char **argv);
int cmd_translate(int argc, char **argv);
int cmd_dirty(int argc, char **argv);
int cmd_kvm(int argc, char **argv);
int cmd_kernel_bases(int argc, char **argv);
int cmd_devx(int argc, char **argv);
int cmd_smaps(int argc, char **argv);
int cmd_hugetlb(int argc, char **argv);

/*
 * The demo address space (tools/demo_space.c): a heap at 0x555555554000
 * (1 MiB, first half written), stacks at 0x7ffff0000000 and 0x7fffe0000000
 * (256 KiB, a PROT_NONE guard page at the bottom, top 64 / 16 KiB
 * written), 512 KiB of shared anonymous memory (read) and 8 MiB with 2 MiB
 * leaves (one written, one read). Return: 0 or the first -errno.
 */
struct pw_mm;
struct demo_space {
	uint64_t heap, stack1, stack2, shared, huge;
};
int demo_space_build(struct pw_mm *mm, struct demo_space *d);

/* Exit statuses of every command (pagewalk --help, docs/pagewalk.1). */
enum {
	EXIT_OK = 0,	     /* done */
	EXIT_NOT_FOUND = 1,  /* an address not mapped, a walk or check that found a fault */
	EXIT_USAGE = 2,	     /* bad arguments or bad input values */
	EXIT_IMAGE = 3,	     /* the image cannot be read, or is truncated */
	EXIT_BROKEN = 4,     /* --strict: the tables hold broken entries */
	EXIT_LIMIT = 5,	     /* a walk stopped at its entry limit: the output is incomplete */
};

extern const char exit_status_help[];

/*
 * Parsing (tools/cli.c). Addresses: hex, with or without 0x, at most 16
 * digits; decimal only as "d:DIGITS". Counts: decimal digits only. No sign,
 * no spaces, no overflow. On error *why says what was wrong.
 */
int parse_addr(const char *s, uint64_t *v, const char **why);
int parse_count(const char *s, uint64_t *v, const char **why);

/* "pagewalk CMD: MESSAGE" on stderr, then @usage (if any) on stderr; EXIT_USAGE. */
int usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Memory-image options shared by ptdump and translate (cmd_ptdump.c). */
struct pw_image;
struct pw_mm;

struct image_args {
	const char *path;
	uint64_t cr3;
	bool have_cr3, have_max, strict, progress;
	int levels, maxphyaddr, nxe; /* 0 / 0 / -1: from the image */
	unsigned cpu;
	bool have_cpu;
	uint64_t max_entries;
	bool truncated; /* set by image_mm_open(): the image was cut (warned) */
};

extern const char image_usage[];
/*
 * Consume the image option at argv[*i] (and its value): 1; 0 if it is not
 * one; -1 if it is one with a missing or bad value (the message is printed,
 * prefixed with @cmd).
 */
int image_opt(const char *cmd, struct image_args *a, int argc, char **argv, int *i);
/* Open the image and an address space over it; prints the reason on
 * failure and returns the exit status (EXIT_USAGE or EXIT_IMAGE), else 0. */
int image_mm_open(const char *cmd, struct image_args *a, struct pw_image **img, struct pw_mm **mm);

#endif
