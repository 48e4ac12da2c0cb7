// SPDX-License-Identifier: MIT
/*
 * cmd_translate.c - `pagewalk translate --image FILE VA...`: translate
 * virtual addresses through the page tables of a memory image, as the MMU
 * would (pw_translate(): no A/D update, effective permissions).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/image.h>
#include <pagewalk/mm.h>
#include <pagewalk/ptdump.h>

#include "commands.h"

static const char *const size_name[] = { "4K", "2M", "1G" };

static void usage(FILE *f)
{
	fprintf(f, "usage: pagewalk translate --image FILE [--json] [OPTIONS] VA...\n\n"
		   "Translate each virtual address (hex, with or without 0x; d:DIGITS for decimal)\n"
		   "through the image's page tables. Prints\n"
		   "  VA -> gpa: 0xPA (SIZE PERMS)      PERMS: u/-, r, w/-, x/- (effective)\n"
		   "  VA -> Unmapped (not present at LEVEL, entry 0xE)   LEVEL: pgd p4d pud pmd pte\n"
		   "  VA -> Unmapped (non-canonical)\n"
		   "  VA -> Unmapped (broken entry: reserved bit or table outside the image)\n"
		   "or with --json one object per address: {\"va\",\"mapped\",\"phys\",\"size\",\n"
		   "\"level\",\"entry\",\"user\",\"rw\",\"nx\"} or {\"va\",\"mapped\":false,\"reason\",...}.\n\n"
		   "%s\n%s",
		image_usage, exit_status_help);
}

int cmd_translate(int argc, char **argv)
{
	struct image_args a = { .nxe = -1 };
	struct pw_image *img;
	struct pw_mm *mm;
	uint64_t *vas;
	int first = 0, rc, levels;
	bool json = false, unmapped = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		rc = image_opt("translate", &a, argc, argv, &i);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc)
			continue;
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (!strcmp(argv[i], "--")) {
			first = i + 1 < argc ? i + 1 : 0;
			break;
		}
		if (argv[i][0] == '-' && argv[i][1] == '-')
			return usage_error("translate", usage, "unknown argument '%s'", argv[i]);
		first = i;
		break;
	}
	if (!first)
		return usage_error("translate", usage, "no address given");
	vas = calloc((size_t)(argc - first), sizeof(*vas));
	if (!vas)
		return EXIT_IMAGE;
	for (int i = first; i < argc; i++) {
		const char *why;

		if (parse_addr(argv[i], &vas[i - first], &why)) {
			free(vas);
			return usage_error("translate", NULL, "bad address '%s': %s", argv[i], why);
		}
	}
	rc = image_mm_open("translate", &a, &img, &mm);
	if (rc) {
		free(vas);
		return rc;
	}
	levels = pw_mm_paging(mm)->levels;
	for (int i = first; i < argc; i++) {
		struct pw_translation t;
		uint64_t va = vas[i - first];
		int err = pw_translate(mm, va, &t);
		const char *lname = t.level >= 0 && t.level < levels ?
					    pw_level_name(levels, (enum pw_level)t.level) : "?";

		if (!err) {
			if (json)
				printf("{\"va\":\"0x%016" PRIx64 "\",\"mapped\":true,\"phys\":\"0x%" PRIx64
				       "\",\"size\":\"%s\",\"level\":\"%s\",\"entry\":\"0x%016" PRIx64
				       "\",\"user\":%s,\"rw\":%s,\"nx\":%s}\n",
				       va, t.phys, t.level >= 0 && t.level <= 2 ? size_name[t.level] : "?",
				       lname, t.entry, t.user ? "true" : "false",
				       t.writable ? "true" : "false", t.exec ? "false" : "true");
			else
				printf("0x%016" PRIx64 " -> gpa: 0x%" PRIx64 " (%s %c%c%c%c)\n", va, t.phys,
				       t.level >= 0 && t.level <= 2 ? size_name[t.level] : "?",
				       t.user ? 'u' : '-', 'r', t.writable ? 'w' : '-', t.exec ? 'x' : '-');
			continue;
		}
		unmapped = true;
		if (err == -ENOENT) {
			if (json)
				printf("{\"va\":\"0x%016" PRIx64 "\",\"mapped\":false,\"reason\":\"%s\","
				       "\"level\":\"%s\",\"entry\":\"0x%016" PRIx64 "\"}\n",
				       va, t.entry ? "not-present" : "empty", lname, t.entry);
			else
				printf("0x%016" PRIx64 " -> Unmapped (not present at %s, entry 0x%" PRIx64
				       ")\n", va, lname, t.entry);
		} else if (err == -ERANGE) {
			if (json)
				printf("{\"va\":\"0x%016" PRIx64 "\",\"mapped\":false,"
				       "\"reason\":\"non-canonical\"}\n", va);
			else
				printf("0x%016" PRIx64 " -> Unmapped (non-canonical)\n", va);
		} else if (err == -EIO) {
			if (json)
				printf("{\"va\":\"0x%016" PRIx64 "\",\"mapped\":false,"
				       "\"reason\":\"broken\"}\n", va);
			else
				printf("0x%016" PRIx64 " -> Unmapped (broken entry: reserved bit or table"
				       " outside the image)\n", va);
		} else {
			fprintf(stderr, "pagewalk translate: 0x%016" PRIx64 ": %s\n", va, strerror(-err));
			rc = EXIT_IMAGE;
		}
	}
	free(vas);
	pw_mm_destroy(mm);
	pw_image_close(img);
	if (a.truncated && !rc)
		rc = EXIT_IMAGE;
	return rc ? rc : unmapped ? EXIT_NOT_FOUND : EXIT_OK;
}
