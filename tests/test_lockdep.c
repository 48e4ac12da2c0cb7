// SPDX-License-Identifier: MIT
/*
 * test_lockdep.c - the lock-order validator and the mmap lock's fairness.
 *
 * Death tests run in a forked child and check that it aborted with the
 * validator's message. The document test checks that docs/locking.md's
 * lock-order table is the one core/lockorder.h defines. The fairness test
 * counts reader critical sections that end while munmap waits for the mmap
 * lock (no clock): with the writer-preferring rwsem a waiting writer lets
 * each reader finish at most the section it is in.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pagewalk/file.h>
#include <pagewalk/pagewalk.h>

#include "core/core.h"
#include "fixture.h"
#include "mm/mm.h"
#include "pt/pt.h"

/* Run @fn in a child; return what it wrote to stderr, and whether it died by SIGABRT. */
static bool dies_with(void (*fn)(void), char *buf, size_t len)
{
	int p[2], status = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return false;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0); /* not reached when the validator fires */
	}
	close(p[1]);
	while (got + 1 < len && (n = read(p[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static struct pw_arena *arena;

/* i_mmap, then mmap: against the documented order, nothing learnt before. */
static void invert_i_mmap_mmap(void)
{
	struct pw_file *f;
	struct pw_mm *mm;
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	if (pw_file_create(arena, 1 << 20, &f) || pw_mm_create(arena, &cfg, &mm))
		_exit(3);
	pw_i_mmap_lock_read(f);
	pw_mmap_read_lock(mm); /* aborts here */
	_exit(4);
}

/* mmap -> i_mmap learnt first; then i_mmap -> mmap closes a cycle. */
static void learn_then_cycle(void)
{
	struct pw_file *f;
	struct pw_mm *mm;
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	if (pw_file_create(arena, 1 << 20, &f) || pw_mm_create(arena, &cfg, &mm))
		_exit(3);
	pw_mmap_write_lock(mm);
	pw_i_mmap_lock_write(f);
	pw_i_mmap_unlock_write(f);
	pw_mmap_write_unlock(mm);
	pw_i_mmap_lock_read(f);
	pw_mmap_read_lock(mm); /* aborts here */
	_exit(4);
}

/* A PTE table lock, then the page_table_lock of the same mm. */
static void pte_then_page_table(void)
{
	struct pw_mm *mm;
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	uint64_t addr;

	if (pw_mm_create(arena, &cfg, &mm) ||
	    pw_mmap(mm, 0, 1 << 21, PW_PROT_READ | PW_PROT_WRITE,
		    PW_MAP_PRIVATE | PW_MAP_POPULATE, &addr))
		_exit(3);
	pw_mmap_read_lock(mm);
	{
		struct pw_pt_entry pmd;

		if (pw_pt_descend(&mm->pt, addr, PW_LEVEL_PMD, &pmd, NULL) != PW_PT_TABLE)
			_exit(5);
		pw_pt_pte_lock(&mm->pt, pw_pt_next_pfn(&mm->pt, pmd.val));
		pw_pt_upper_lock(&mm->pt); /* aborts here */
	}
	_exit(4);
}

/* The same mm's mmap lock twice (a class that nests, but not one lock). */
static void recursive_mmap(void)
{
	struct pw_mm *mm;
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	if (pw_mm_create(arena, &cfg, &mm))
		_exit(3);
	pw_lockdep_acquire(PW_LC_MMAP, &mm->mmap_lock, true, PW_SITE);
	pw_lockdep_acquire(PW_LC_MMAP, &mm->mmap_lock, true, PW_SITE); /* aborts here */
	_exit(4);
}

TEST(inversion_aborts_with_both_sides)
{
	char buf[8192];

	CHECK(dies_with(invert_i_mmap_mmap, buf, sizeof(buf)));
	CHECK(strstr(buf, "pagewalk lockdep: lock order violation: taking mmap lock") != NULL);
	CHECK(strstr(buf, "while holding i_mmap lock") != NULL);
	CHECK(strstr(buf, "#0 i_mmap lock (read)") != NULL);
	CHECK(strstr(buf, "test_lockdep.c") == NULL || strstr(buf, "file.c") != NULL);
	if (tap_cur_failed)
		tap_diag("child said: %s", buf);
}

TEST(cycle_reports_first_sighting)
{
	char buf[8192];

	CHECK(dies_with(learn_then_cycle, buf, sizeof(buf)));
	CHECK(strstr(buf, "possible deadlock: this order closes a cycle") != NULL);
	/* the opposite order's stack: mmap (write) then i_mmap (write) */
	CHECK(strstr(buf, "the opposite order was first seen") != NULL);
	CHECK(strstr(buf, "#1 i_mmap lock (") != NULL);
	if (tap_cur_failed)
		tap_diag("child said: %s", buf);
}

TEST(pte_lock_then_page_table_lock_aborts)
{
	char buf[8192];

	CHECK(dies_with(pte_then_page_table, buf, sizeof(buf)));
	CHECK(strstr(buf, "taking page_table_lock") != NULL);
	CHECK(strstr(buf, "while holding PTE table lock") != NULL);
	if (tap_cur_failed)
		tap_diag("child said: %s", buf);
}

TEST(recursion_aborts)
{
	char buf[8192];

	CHECK(dies_with(recursive_mmap, buf, sizeof(buf)));
	CHECK(strstr(buf, "recursive locking") != NULL);
}

/* The right order passes, also with two mms' mmap locks (a nesting class). */
TEST(documented_order_passes)
{
	struct pw_file *f;
	struct pw_mm *a, *b;
	struct pw_paging cfg = PW_PAGING_DEFAULT;

	REQUIRE_EQ(pw_file_create(arena, 1 << 20, &f), 0);
	REQUIRE_EQ(pw_mm_create(arena, &cfg, &a), 0);
	REQUIRE_EQ(pw_mm_create(arena, &cfg, &b), 0);
	pw_mmap_write_lock(a);
	pw_mmap_write_lock(b);
	pw_i_mmap_lock_read(f);
	pw_pt_upper_lock(&a->pt);
	pw_pt_upper_unlock(&a->pt);
	pw_i_mmap_unlock_read(f);
	pw_mmap_write_unlock(b);
	pw_mmap_write_unlock(a);
	CHECK(true);
	pw_mm_destroy(a);
	pw_mm_destroy(b);
	CHECK_EQ(pw_file_destroy(f), 0);
}

/* docs/locking.md's table between the lock-order markers, row by row. */
TEST(document_matches_validator)
{
	FILE *fp = fopen("docs/locking.md", "r");
	char line[512];
	bool in = false;
	int row = 0;

	REQUIRE(fp != NULL);
	while (fgets(line, sizeof(line), fp)) {
		int n;
		char name[128], nest[32];

		if (strstr(line, "<!-- lock-order: begin")) {
			in = true;
			continue;
		}
		if (strstr(line, "<!-- lock-order: end"))
			break;
		if (!in || sscanf(line, "| %d | %127[^|]| %31[^|]|", &n, name, nest) != 3)
			continue;
		for (char *e = name + strlen(name); e > name && e[-1] == ' ';)
			*--e = 0;
		for (char *e = nest + strlen(nest); e > nest && e[-1] == ' ';)
			*--e = 0;
		row++;
		CHECK_EQ(n, row);
		if (row < PW_LC_NR) {
			CHECK(strcmp(name, pw_lock_class_name((enum pw_lock_class)row)) == 0);
			CHECK(strcmp(nest, (pw_lock_class_flags((enum pw_lock_class)row) & PW_LC_NEST)
						   ? "yes"
						   : "no") == 0);
			if (tap_cur_failed)
				tap_diag("row %d: doc '%s' '%s', validator '%s'", row, name, nest,
					 pw_lock_class_name((enum pw_lock_class)row));
		}
	}
	fclose(fp);
	CHECK_EQ(row, PW_LC_NR - 1);
}

/* ---- fairness: munmap against two readers walking in a loop ------------- */

#define ROUNDS 200

struct fair {
	struct pw_mm *mm;
	uint64_t addr;
	int stop;
	uint64_t sections;	/* reader critical sections in all */
	uint64_t while_waiting; /* sections that ended with a writer waiting */
};

static int count_pte(pw_pte_t *pte, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	return 0;
}

static void *reader(void *arg)
{
	struct fair *fr = arg;
	struct pw_walk_ops ops = { .pte_entry = count_pte };

	while (!__atomic_load_n(&fr->stop, __ATOMIC_ACQUIRE)) {
		pw_mmap_read_lock(fr->mm);
		pw_walk_page_range(fr->mm, fr->addr, fr->addr + (1 << 21), &ops, NULL);
		if (pw_rwsem_writers_waiting(&fr->mm->mmap_lock))
			__atomic_fetch_add(&fr->while_waiting, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&fr->sections, 1, __ATOMIC_RELAXED);
		pw_mmap_read_unlock(fr->mm);
	}
	return NULL;
}

TEST(writer_not_starved_by_readers)
{
	struct env e;
	struct fair fr = { 0 };
	pthread_t t[2];
	uint64_t spare;

	env_init(&e, 4, 64 << 20);
	fr.mm = e.mm;
	REQUIRE_EQ(pw_mmap(e.mm, 0, 4 << 21, PW_PROT_READ | PW_PROT_WRITE,
			   PW_MAP_PRIVATE | PW_MAP_POPULATE, &fr.addr),
		   0);
	for (int i = 0; i < 2; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, reader, &fr), 0);
	while (__atomic_load_n(&fr.sections, __ATOMIC_RELAXED) < 100)
		sched_yield();
	for (int r = 0; r < ROUNDS; r++) {
		/* unmap and map again a range the readers do not walk */
		CHECK_EQ(pw_munmap(e.mm, fr.addr + (2 << 21), 1 << 21), 0);
		CHECK_EQ(pw_mmap(e.mm, fr.addr + (2 << 21), 1 << 21, PW_PROT_READ,
				 PW_MAP_PRIVATE | PW_MAP_FIXED, &spare),
			 0);
	}
	__atomic_store_n(&fr.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tap_diag("%d munmap+mmap pairs: %" PRIu64 " reader sections, %" PRIu64
		 " of them ended with a writer waiting (bound: 2 per write lock, %d)",
		 ROUNDS, fr.sections, fr.while_waiting, 2 * 2 * ROUNDS);
	/* two write locks per round, each lets at most the two sections in progress end */
	CHECK(fr.while_waiting <= 2 * 2 * ROUNDS);
	env_fini(&e);
}

int main(void)
{
	tap_start();
	if (pw_arena_create(64 << 20, &arena))
		return 1;
	RUN(inversion_aborts_with_both_sides);
	RUN(cycle_reports_first_sighting);
	RUN(pte_lock_then_page_table_lock_aborts);
	RUN(recursion_aborts);
	RUN(documented_order_passes);
	RUN(document_matches_validator);
	RUN(writer_not_starved_by_readers);
	pw_arena_destroy(arena);
	return tap_done();
}
