/* SPDX-License-Identifier: MIT */
/* image_args.h - the survey of an image's tables and the progress line (image_args.c). */
#ifndef PAGEWALK_TOOLS_IMAGE_ARGS_H
#define PAGEWALK_TOOLS_IMAGE_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "commands.h"

#define SURVEY_ALIASES 4

struct alias_frame {
	uint64_t pfn;
	int level; /* the level of the table it holds */
	uint64_t refs;
};

/* One walk entering each (table frame, level) once. Counts are of distinct entries. */
struct survey {
	uint64_t tables;  /* tables entered, the root included */
	uint64_t reserved, no_frame, aliases;
	struct alias_frame alias[SURVEY_ALIASES];
	unsigned nr_alias;
	bool more_alias_frames;
};

int survey(struct pw_mm *mm, struct survey *sv);
/* What the default limit allows for aliased tables at most (ESPfix: 4 x 512 x 512). */
#define DEFAULT_ALIAS_ALLOWANCE (1ULL << 21)
/* The default --max-entries: 4 x 512 x tables + min(2^21, 256 x the image's frames). */
uint64_t default_limit(const struct survey *sv, uint64_t image_bytes);
void print_limit_hit(const char *cmd, const struct image_args *a, const struct survey *sv,
		     int levels);
void print_broken(const char *cmd, const struct survey *sv);
/* Output lines so far (checks the clock every 4096 lines); the final line. */
void progress_line(uint64_t lines);
void progress_done(void);
/* pw_ptdump_opts.progress: the exact entries read (the QEMU formats give ~512 per table). */
void progress_entries(void *arg, uint64_t entries, uint64_t lines);
void progress_final_entries(uint64_t entries);
bool progress_on(void);

#endif
