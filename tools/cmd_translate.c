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

#include "commands.h"

static const char *const size_name[] = { "4K", "2M", "1G" };

static void usage(FILE *f)
{
	fprintf(f, "usage: pagewalk translate --image FILE [OPTIONS] VA...\n\n"
		   "Translate each virtual address through the image's page tables. Prints\n"
		   "  VA -> gpa: 0xPA (SIZE PERMS)      PERMS: u/-, r, w/-, x/- (effective)\n"
		   "  VA -> Unmapped (REASON)\n"
		   "and exits 1 if any address is not mapped.\n\n%s",
		image_usage);
}

int cmd_translate(int argc, char **argv)
{
	struct image_args a = { .nxe = -1 };
	struct pw_image *img;
	struct pw_mm *mm;
	int first = 0, unmapped = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (image_opt(&a, argc, argv, &i))
			continue;
		if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "pagewalk translate: bad argument '%s'\n\n", argv[i]);
			usage(stderr);
			return 2;
		}
		first = i;
		break;
	}
	if (!first) {
		usage(stderr);
		return 2;
	}
	if (image_mm_open(&a, &img, &mm))
		return 1;
	for (int i = first; i < argc; i++) {
		struct pw_translation t;
		uint64_t va;
		char *end;
		int err;

		errno = 0;
		va = strtoull(argv[i], &end, 16);
		if (errno || !*argv[i] || *end) {
			printf("%s -> bad address\n", argv[i]);
			unmapped = 1;
			continue;
		}
		err = pw_translate(mm, va, &t);
		if (!err) {
			printf("0x%016" PRIx64 " -> gpa: 0x%" PRIx64 " (%s %c%c%c%c)\n", va, t.phys,
			       t.level >= 0 && t.level <= 2 ? size_name[t.level] : "?", t.user ? 'u' : '-',
			       'r', t.writable ? 'w' : '-', t.exec ? 'x' : '-');
			continue;
		}
		unmapped = 1;
		if (err == -ENOENT)
			printf("0x%016" PRIx64 " -> Unmapped (not present at level %d, entry 0x%" PRIx64 ")\n",
			       va, t.level, t.entry);
		else if (err == -ERANGE)
			printf("0x%016" PRIx64 " -> Unmapped (non-canonical)\n", va);
		else if (err == -EIO)
			printf("0x%016" PRIx64 " -> Unmapped (reserved bit or table outside the image)\n", va);
		else
			printf("0x%016" PRIx64 " -> error: %s\n", va, strerror(-err));
	}
	pw_mm_destroy(mm);
	pw_image_close(img);
	return unmapped;
}
