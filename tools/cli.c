// SPDX-License-Identifier: MIT
/*
 * cli.c - what every command shares: parsing addresses and counts the
 * same way, and one way of reporting a usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

const char exit_status_help[] =
	"exit status:\n"
	"  0  done\n"
	"  1  not mapped / not found (translate: some address is not mapped)\n"
	"  2  usage error or bad input value (one line says which)\n"
	"  3  the image cannot be read, is not an image, or is truncated (the byte is named)\n"
	"  4  --strict: the tables hold broken entries (reserved bits, frames outside the image)\n"
	"  5  a walk stopped at its entry limit (--max-entries): the output is incomplete\n";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int decimal(const char *s, uint64_t *v, const char **why)
{
	uint64_t x = 0;

	if (!*s) {
		*why = "no digits";
		return -1;
	}
	for (; *s; s++) {
		if (*s < '0' || *s > '9') {
			*why = "not a decimal number";
			return -1;
		}
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
			*why = "too large for 64 bits";
			return -1;
		}
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

int parse_addr(const char *s, uint64_t *v, const char **why)
{
	uint64_t x = 0;
	int n = 0;

	if (!*s) {
		*why = "empty";
		return -1;
	}
	if (*s == '-' || *s == '+') {
		*why = "signed numbers are not addresses";
		return -1;
	}
	if (!strncmp(s, "d:", 2))
		return decimal(s + 2, v, why);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s) {
		*why = "no hex digits";
		return -1;
	}
	for (; *s; s++, n++) {
		int d = hexval(*s);

		if (d < 0) {
			*why = "not a hex number (decimal needs the d: prefix)";
			return -1;
		}
		if (n >= 16 && (x >> 60)) {
			*why = "more than 64 bits";
			return -1;
		}
		if (x >> 60) {
			*why = "more than 64 bits";
			return -1;
		}
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 0;
}

int parse_count(const char *s, uint64_t *v, const char **why)
{
	if (*s == '-' || *s == '+') {
		*why = "signed numbers are not counts";
		return -1;
	}
	return decimal(s, v, why);
}

int usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pagewalk%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage) {
		fputc('\n', stderr);
		usage(stderr);
	}
	return EXIT_USAGE;
}
