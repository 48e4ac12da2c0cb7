// SPDX-License-Identifier: MIT
/*
 * cmd_ptdump.c - `pagewalk ptdump --image FILE`: dump the page tables held
 * in a memory image, in Linux's ptdump format, JSON, or QEMU's `info mem`
 * / `info tlb` text; and `pagewalk kernel-bases`, the KASLR bases found in
 * the image's tables.
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagewalk/image.h>
#include <pagewalk/ptdump.h>
#include <pagewalk/qemu.h>

#include "commands.h"
#include "image_args.h"

/* stdout, wrapped to count lines for the progress line. */
struct counted {
	uint64_t lines;
};

static ssize_t counted_write(void *c, const char *buf, size_t n)
{
	struct counted *p = c;
	size_t w = fwrite(buf, 1, n, stdout);

	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			progress_line(++p->lines);
	return w == n ? (ssize_t)n : -1;
}

static int counted_close(void *c)
{
	return fflush(stdout);
}

static FILE *out_open(struct counted *c)
{
	cookie_io_functions_t io = { .write = counted_write, .close = counted_close };
	FILE *f;

	if (!progress_on())
		return stdout;
	*c = (struct counted){ 0 };
	f = fopencookie(c, "w", io);
	return f ? f : stdout;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pagewalk ptdump --image FILE [--format FMT] [OPTIONS]\n\n"
		   "Dump the page tables of a memory image from its root table (CR3).\n\n"
		   "  --format linux      Linux's x86 ptdump (default), with Linux 6.1's x86-64\n"
		   "                      address markers; the direct map, vmalloc and vmemmap\n"
		   "                      markers at the KASLR bases found in the tables\n"
		   "                      (--plain-markers: only User Space / Kernel Space)\n"
		   "  --format json       one JSON object per range: start, end, size, level, raw\n"
		   "                      entry, phys, own bits, effective eff_rw/eff_user/eff_nx,\n"
		   "                      hole reason, same_as for aliases\n"
		   "  --format qemu-info-mem, --format qemu-info-tlb\n"
		   "                      QEMU 7.2's `info mem` / `info tlb`, byte for byte\n"
		   "                      (its lossy choices included: see include/pagewalk/qemu.h)\n"
		   "  --aliases follow    walk a table each time an entry points at it, as the MMU,\n"
		   "                      Linux and QEMU do (default; bounded by --max-entries)\n"
		   "  --aliases once      linux and json: print each table's subtree once; later\n"
		   "                      references are lines \"[same as the subtree at 0x...]\"\n"
		   "  --kernel-bases A,B,C  page_offset_base, vmalloc_base, vmemmap_base (ADDRs) for\n"
		   "                      the markers instead of finding them\n"
		   "  --verbose           on stderr: which kernel bases were found and how; the\n"
		   "                      tables, the entry limit, the entries read\n"
		   "Broken entries (reserved bits set, a table outside the image) are holes: in\n"
		   "linux format a blank range at the entry's level followed by \"[reserved]\" or\n"
		   "\"[no-frame]\"; one warning on stderr counts them.\n\n"
		   "%s\n%s", image_usage, exit_status_help);
}

static int parse_bases(const char *s, struct pw_kernel_bases *b, const char **why)
{
	uint64_t v[3];
	char buf[256], *p = buf;

	if (strlen(s) >= sizeof(buf)) {
		*why = "too long";
		return -1;
	}
	strcpy(buf, s);
	for (int k = 0; k < 3; k++) {
		char *c = strchr(p, ',');

		if ((k < 2 && !c) || (k == 2 && c)) {
			*why = "needs exactly three addresses A,B,C";
			return -1;
		}
		if (c)
			*c = 0;
		if (parse_addr(p, &v[k], why))
			return -1;
		p = c + 1;
	}
	if (!(v[0] < v[1] && v[1] < v[2])) {
		*why = "the bases must increase (direct map < vmalloc < vmemmap)";
		return -1;
	}
	*b = (struct pw_kernel_bases){ .page_offset = v[0], .vmalloc = v[1], .vmemmap = v[2] };
	return 0;
}

static void print_bases(FILE *f, const char *cmd, const struct pw_kernel_bases *b)
{
	fprintf(f, "pagewalk %s: page_offset_base 0x%016" PRIx64 " (%s", cmd, b->page_offset,
		b->found & PW_KBASE_PAGE_OFFSET ? "found: a linear map of " : "not found: the default");
	if (b->found & PW_KBASE_PAGE_OFFSET)
		fprintf(f, "%" PRIu64 " MiB from physical 0)", b->direct_map_bytes >> 20);
	else
		fputc(')', f);
	fprintf(f, ", vmalloc_base 0x%016" PRIx64 " (%s), vmemmap_base 0x%016" PRIx64 " (%s",
		b->vmalloc, b->found & PW_KBASE_VMALLOC ? "found: the first mapping past the direct map" :
							  "not found: the default",
		b->vmemmap, b->found & PW_KBASE_VMEMMAP ? "found: the first mapping past the vmalloc area"
							: "not found: the default");
	if ((b->found & PW_KBASE_VMEMMAP) && b->direct_map_bytes)
		fprintf(f, ", %" PRIu64 " MiB mapped, %.0f bytes per 4 KiB of the direct map",
			b->vmemmap_bytes >> 20,
			(double)b->vmemmap_bytes / (double)(b->direct_map_bytes >> 12));
	fprintf(f, ")\n");
}

int cmd_ptdump(int argc, char **argv)
{
	struct image_args a = { .nxe = -1 };
	const char *fmt = "linux", *aliases = "follow", *why;
	bool plain = false, verbose = false, have_bases = false;
	struct pw_kernel_bases bases;
	struct pw_ptdump_marker mbuf[PW_PTDUMP_X86_MARKERS];
	struct pw_ptdump_summary sum = { 0 };
	struct pw_image *img;
	struct pw_mm *mm;
	struct survey sv;
	struct counted cnt;
	bool qemu;
	FILE *out;
	int err, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		rc = image_opt("ptdump", &a, argc, argv, &i);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc)
			continue;
		if (!strcmp(argv[i], "--format") || !strcmp(argv[i], "--aliases") ||
		    !strcmp(argv[i], "--kernel-bases")) {
			if (i + 1 >= argc)
				return usage_error("ptdump", usage, "%s needs a value", argv[i]);
			if (!strcmp(argv[i], "--format"))
				fmt = argv[++i];
			else if (!strcmp(argv[i], "--aliases"))
				aliases = argv[++i];
			else if (parse_bases(argv[++i], &bases, &why))
				return usage_error("ptdump", NULL, "--kernel-bases '%s': %s", argv[i], why);
			else
				have_bases = true;
		} else if (!strcmp(argv[i], "--plain-markers")) {
			plain = true;
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else {
			return usage_error("ptdump", usage, "unknown argument '%s'", argv[i]);
		}
	}
	if (strcmp(fmt, "linux") && strcmp(fmt, "json") && strcmp(fmt, "qemu-info-mem") &&
	    strcmp(fmt, "qemu-info-tlb"))
		return usage_error("ptdump", NULL,
				   "unknown format '%s' (linux, json, qemu-info-mem, qemu-info-tlb)", fmt);
	qemu = !strncmp(fmt, "qemu", 4);
	if (strcmp(aliases, "follow") && strcmp(aliases, "once"))
		return usage_error("ptdump", NULL, "--aliases '%s': must be follow or once", aliases);
	if (qemu && !strcmp(aliases, "once"))
		return usage_error("ptdump", NULL,
				   "--aliases once: the QEMU formats follow every alias, as QEMU does");
	rc = image_mm_open("ptdump", &a, &img, &mm);
	if (rc)
		return rc;
	err = survey(mm, &sv);
	if (err) {
		fprintf(stderr, "pagewalk ptdump: %s\n", strerror(-err));
		rc = EXIT_IMAGE;
		goto done;
	}
	if (!a.have_max) {
		struct pw_image_info info;

		pw_image_info(img, &info);
		a.max_entries = default_limit(&sv, info.bytes);
	}
	if (!qemu && !plain && !have_bases) {
		err = pw_ptdump_find_kernel_bases(mm, &bases);
		if (err) {
			fprintf(stderr, "pagewalk ptdump: %s\n", strerror(-err));
			rc = EXIT_IMAGE;
			goto done;
		}
		if (verbose)
			print_bases(stderr, "ptdump", &bases);
	}
	out = out_open(&cnt);
	if (!strcmp(fmt, "qemu-info-tlb")) {
		err = pw_qemu_info_tlb(mm, out, a.max_entries, NULL);
	} else if (!strcmp(fmt, "qemu-info-mem")) {
		err = pw_qemu_info_mem(mm, out, a.max_entries, NULL);
	} else {
		struct pw_ptdump_opts o = {
			.format = strcmp(fmt, "json") ? PW_PTDUMP_LINUX : PW_PTDUMP_JSON,
			.follow_aliases = !strcmp(aliases, "follow"),
			.show_aliases = !strcmp(aliases, "once"),
			.max_entries = a.max_entries,
			.progress = progress_on() ? progress_entries : NULL,
		};

		if (!plain)
			o.markers = pw_ptdump_x86_markers_at(pw_mm_paging(mm)->levels, &bases, mbuf);
		err = pw_ptdump(mm, out, &o, &sum);
		progress_final_entries(sum.entries);
	}
	if (out != stdout && fclose(out) && !err)
		err = -EIO;
	progress_done();
	if (verbose) {
		fprintf(stderr, "pagewalk ptdump: %" PRIu64 " tables (each entered once), limit %" PRIu64
				" entries", sv.tables, a.max_entries);
		if (!qemu)
			fprintf(stderr, ", %" PRIu64 " entries read, %" PRIu64 " lines", sum.entries,
				sum.lines);
		fputc('\n', stderr);
	}
	print_broken("ptdump", &sv);
	rc = EXIT_OK;
	if (err == -E2BIG) {
		print_limit_hit("ptdump", &a, &sv, pw_mm_paging(mm)->levels);
		rc = EXIT_LIMIT;
	} else if (err) {
		fprintf(stderr, "pagewalk ptdump: %s\n", err == -EIO ? "write error" : strerror(-err));
		rc = EXIT_NOT_FOUND;
	} else if (a.truncated) {
		rc = EXIT_IMAGE;
	} else if (a.strict && (sv.reserved || sv.no_frame)) {
		rc = EXIT_BROKEN;
	}
done:
	pw_mm_destroy(mm);
	pw_image_close(img);
	return rc;
}

static void kb_usage(FILE *f)
{
	fprintf(f, "usage: pagewalk kernel-bases --image FILE [--json] [OPTIONS]\n\n"
		   "Find a Linux x86-64 kernel's page_offset_base (direct map), vmalloc_base and\n"
		   "vmemmap_base from the image's page tables, and say how each was found.\n"
		   "Exits 1 if the direct map is not found.\n\n%s\n%s",
		image_usage, exit_status_help);
}

int cmd_kernel_bases(int argc, char **argv)
{
	struct image_args a = { .nxe = -1 };
	struct pw_kernel_bases b;
	struct pw_image *img;
	struct pw_mm *mm;
	bool json = false;
	int err, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			kb_usage(stdout);
			return 0;
		}
		rc = image_opt("kernel-bases", &a, argc, argv, &i);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc)
			continue;
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return usage_error("kernel-bases", kb_usage, "unknown argument '%s'", argv[i]);
	}
	rc = image_mm_open("kernel-bases", &a, &img, &mm);
	if (rc)
		return rc;
	err = pw_ptdump_find_kernel_bases(mm, &b);
	if (err) {
		fprintf(stderr, "pagewalk kernel-bases: %s\n", strerror(-err));
		rc = EXIT_IMAGE;
	} else if (json) {
#define F(bit) (b.found & (bit) ? "true" : "false")
		printf("{\"page_offset_base\":\"0x%016" PRIx64 "\",\"page_offset_found\":%s,"
		       "\"vmalloc_base\":\"0x%016" PRIx64 "\",\"vmalloc_found\":%s,"
		       "\"vmemmap_base\":\"0x%016" PRIx64 "\",\"vmemmap_found\":%s,"
		       "\"direct_map_bytes\":%" PRIu64 ",\"vmemmap_bytes\":%" PRIu64 "}\n",
		       b.page_offset, F(PW_KBASE_PAGE_OFFSET), b.vmalloc, F(PW_KBASE_VMALLOC), b.vmemmap,
		       F(PW_KBASE_VMEMMAP), b.direct_map_bytes, b.vmemmap_bytes);
#undef F
		rc = b.found & PW_KBASE_PAGE_OFFSET ? EXIT_OK : EXIT_NOT_FOUND;
	} else {
		print_bases(stdout, "kernel-bases", &b);
		rc = b.found & PW_KBASE_PAGE_OFFSET ? EXIT_OK : EXIT_NOT_FOUND;
	}
	pw_mm_destroy(mm);
	pw_image_close(img);
	return rc;
}
