/* SPDX-License-Identifier: MIT */
/* commands.h - the CLI's subcommands, one file each (tools/cmd_*.c). */
#ifndef PAGEWALK_TOOLS_COMMANDS_H
#define PAGEWALK_TOOLS_COMMANDS_H

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

/* Memory-image options shared by ptdump and translate (cmd_ptdump.c). */
#include <stdbool.h>
#include <stdint.h>

struct pw_image;
struct pw_mm;

struct image_args {
	const char *path;
	uint64_t cr3;
	bool have_cr3, have_max;
	int levels, maxphyaddr, nxe; /* 0 / 0 / -1: from the image */
	unsigned cpu;
	uint64_t max_entries;
};

extern const char image_usage[];
/* Consume the image option at argv[*i] (and its value): 1, or 0 if it is not one. */
int image_opt(struct image_args *a, int argc, char **argv, int *i);
/* Open the image and an address space over it; prints the reason on failure. */
int image_mm_open(struct image_args *a, struct pw_image **img, struct pw_mm **mm);

#endif
