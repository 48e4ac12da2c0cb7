// SPDX-License-Identifier: MIT
/*
 * Description: a naive reference translator, written from the SDM (one
 * address at a time, reading arena memory directly), compared with
 * pw_translate(), both callback walkers, the iterator under every flag
 * combination, and ptdump's JSON output, on random address spaces in 4- and
 * 5-level paging. The seed is printed; PW_SEED repeats a run.
 */
#include <pagewalk/iter.h>
#include <pagewalk/mm.h>
#include <pagewalk/pagewalk.h>
#include <pagewalk/ptdump.h>

#include "../tests/tap.h"
#include <errno.h>

#define WIN_SIZE (2ULL << 30) /* the window of VA the random ops work in */
#define WIN_PAGES (WIN_SIZE >> 12)

/* ---- the reference: SDM Vol. 3A 4.5, one address at a time ------------- */

struct ref {
	bool present;	   /* a present leaf maps the address */
	int level;	   /* leaf level, or where the walk stopped */
	uint64_t leaf;	   /* the leaf entry */
	uint64_t pte;	   /* its 4 KiB equivalent for this page */
	uint64_t phys;
	bool rw, us, nx;   /* effective: RW and US ANDed, XD ORed */
	bool rsvd;
};

static uint64_t ref_rsvd(const struct pw_paging *cfg, int level, uint64_t v)
{
	uint64_t r = 0;

	for (unsigned b = cfg->maxphyaddr; b < 52; b++)
		r |= v & (1ULL << b);
	if (!cfg->nxe)
		r |= v & (1ULL << 63);
	if (v & (1ULL << 7)) {
		if (level >= 3 || (level == 2 && !cfg->pdpe1gb))
			r |= 1ULL << 7;
		else if (level == 1)
			r |= v & (0xffULL << 13);	/* 20:13 */
		else if (level == 2)
			r |= v & (0x1ffffULL << 13);	/* 29:13 */
	}
	return r;
}

static struct ref ref_translate(struct pw_mm *mm, uint64_t va)
{
	const struct pw_paging *cfg = pw_mm_paging(mm);
	const uint8_t *base = pw_arena_base(pw_mm_arena(mm));
	uint64_t table = pw_mm_root(mm) << 12, addr_mask = ((1ULL << cfg->maxphyaddr) - 1) & ~0xfffULL;
	struct ref r = { .rw = true, .us = true };

	for (int level = cfg->levels - 1; level >= 0; level--) {
		unsigned idx = (va >> (12 + 9 * level)) & 511;
		uint64_t v;

		memcpy(&v, base + table + 8 * idx, 8);
		r.level = level;
		r.leaf = v;
		if (!(v & 1))
			return r;
		if (ref_rsvd(cfg, level, v)) {
			r.rsvd = true;
			return r;
		}
		r.rw = r.rw && (v & 2);
		r.us = r.us && (v & 4);
		r.nx = r.nx || (cfg->nxe && (v >> 63));
		if (level == 0 || ((level == 1 || level == 2) && (v & 0x80))) {
			uint64_t size = 1ULL << (12 + 9 * level);
			uint64_t frame = v & addr_mask & ~(size - 1);
			uint64_t flags = v & ~addr_mask;

			r.present = true;
			r.phys = frame | (va & (size - 1));
			if (level > 0) { /* PS goes, PAT moves from bit 12 to bit 7 */
				flags &= ~0x1080ULL;
				if (v & 0x1000)
					flags |= 0x80;
			}
			r.pte = (r.phys & ~0xfffULL) | flags;
			return r;
		}
		table = v & addr_mask;
	}
	return r;
}

/* ---- a random address space --------------------------------------------- */

static const int prots[] = {
	PW_PROT_NONE, PW_PROT_READ, PW_PROT_READ | PW_PROT_WRITE, PW_PROT_READ | PW_PROT_EXEC,
	PW_PROT_READ | PW_PROT_WRITE | PW_PROT_EXEC,
};

#define ARRAY_LEN_PROTS (sizeof(prots) / sizeof(prots[0]))

static uint64_t rnd(uint64_t n)
{
	return tap_rand() % n;
}

/* Touch a few random pages of a random VMA in the window. */
static void touch_some(struct pw_mm *mm, uint64_t base)
{
	struct pw_vma *vma;
	uint64_t s = 0, e = 0, n = 0, pick;

	pw_mmap_read_lock(mm);
	pw_for_each_vma(mm, vma)
		n++;
	pick = n ? rnd(n) : 0;
	pw_for_each_vma(mm, vma) {
		if (!pick--) {
			s = vma->vm_start;
			e = vma->vm_end;
			break;
		}
	}
	pw_mmap_read_unlock(mm);
	if (s < base || e > base + WIN_SIZE)
		return;
	for (int i = 0; i < 6; i++) {
		uint64_t a = s + (rnd((e - s) >> 12) << 12);

		pw_access(mm, NULL, a, rnd(2) ? PW_FAULT_WRITE : 0, NULL);
	}
}

static void random_ops(struct pw_mm *mm, uint64_t base, int nops, bool cut_1g)
{
	int ret;

	/* One 1 GiB leaf at the bottom of the window (random ops use the top half). */
	ret = pw_mmap(mm, base, PW_PUD_SIZE, PW_PROT_READ | PW_PROT_WRITE,
		      PW_MAP_PRIVATE | PW_MAP_FIXED | PW_MAP_HUGE_1G, NULL);
	CHECK_EQ(ret, 0);
	CHECK_EQ(pw_access(mm, NULL, base + 12345 * 4096, PW_FAULT_WRITE, NULL), 0);
	for (int op = 0; op < nops; op++) {
		uint64_t off = (WIN_PAGES / 2 + rnd(WIN_PAGES / 2)) << 12, len;
		unsigned flags = PW_MAP_FIXED | (rnd(3) ? PW_MAP_PRIVATE : PW_MAP_SHARED);
		int prot = prots[rnd(ARRAY_LEN_PROTS)];

		switch (rnd(10)) {
		case 0:
		case 1:
			len = (1 + rnd(64)) << 12;
			if (rnd(4) == 0)
				flags |= PW_MAP_POPULATE;
			break;
		case 2:
		case 3:
			off &= ~(PW_PMD_SIZE - 1);
			if (rnd(3) == 0)
				off += rnd(512) << 12;
			len = (1 + rnd(4)) * PW_PMD_SIZE;
			flags |= PW_MAP_HUGE_2M;
			if (rnd(3) == 0)
				flags |= PW_MAP_POPULATE;
			break;
		case 4:
			len = (1 + rnd(1024)) << 12;
			if (off + len > WIN_SIZE)
				len = WIN_SIZE - off;
			ret = pw_mprotect(mm, base + off, len, prots[rnd(3)]);
			CHECK(ret == 0 || ret == -ENOMEM);
			continue;
		case 5:
			len = (1 + rnd(rnd(2) ? 16 : 2048)) << 12;
			if (off + len > WIN_SIZE)
				len = WIN_SIZE - off;
			CHECK_EQ(pw_munmap(mm, base + off, len), 0);
			continue;
		default:
			touch_some(mm, base);
			continue;
		}
		if (off + len > WIN_SIZE)
			off = WIN_SIZE - len;
		ret = pw_mmap(mm, base + off, len, prot, flags, NULL);
		CHECK(ret == 0);
	}
	/* Cut the 1 GiB leaf: 2 MiB leaves, and PTEs around the hole. */
	if (cut_1g)
		CHECK_EQ(pw_munmap(mm, base + 777 * PW_PMD_SIZE / 2, 4096), 0);
}

/*
 * Restrict upper entries by hand so that effective permissions differ from
 * the leaves': clear RW on one PMD-table entry, US on another, set NX on a
 * third (all present tables inside the window).
 */
static void edit_upper(struct pw_mm *mm, uint64_t base)
{
	const uint64_t bits[3] = { PW_RW, PW_US, PW_NX };
	int done = 0;

	for (uint64_t a = base; a < base + WIN_SIZE && done < 3; a += PW_PMD_SIZE) {
		struct ref r = ref_translate(mm, a);
		uint8_t *mem = pw_arena_base(pw_mm_arena(mm));
		uint64_t table = pw_mm_root(mm) << 12, mask = pw_frame_field_mask(pw_mm_paging(mm)->maxphyaddr);
		uint64_t *e = NULL;

		if (!r.present || r.level != 0 || rnd(4))
			continue;
		/* Find the PMD entry pointing at a's PTE table. */
		for (int level = pw_mm_paging(mm)->levels - 1; level >= 1; level--) {
			e = (uint64_t *)(mem + table) + pw_index(level, a);
			table = *e & mask;
		}
		if (bits[done] == PW_NX)
			*e |= PW_NX;
		else
			*e &= ~bits[done];
		done++;
	}
}

/* ---- accounting: counters and frame metadata against the tables ---------- */

struct tally {
	uint64_t tables, pages;	/* table frames (root included), pages mapped by leaves */
	int bad_meta;
};

/* Walk every entry under table @pfn, straight from arena memory. */
static void tally_table(struct pw_mm *mm, uint64_t pfn, int level, struct tally *t)
{
	const uint64_t *tbl = pw_frame_ptr(pw_mm_arena(mm), pfn);
	struct pw_frame *tf = pw_frame_meta(pw_mm_arena(mm), pfn);

	t->tables++;
	if (!(tf->flags & PW_FRAME_PGTABLE) || tf->refcount != 1)
		t->bad_meta++;
	for (int i = 0; i < 512; i++) {
		uint64_t v = tbl[i];

		if (!v)
			continue;
		if (level == 0 || !(v & PW_P) || ((level == 1 || level == 2) && (v & PW_PS))) {
			/* A leaf, present or PROT_NONE: its frame block is this mapping's alone. */
			uint64_t leaf_pfn = (v & pw_frame_field_mask(46) & pw_level_mask(level)) >> 12;
			struct pw_frame *f = pw_frame_meta(pw_mm_arena(mm), leaf_pfn);
			unsigned order = 9 * (unsigned)level;

			t->pages += pw_level_size(level) >> 12;
			if (!f || f->refcount != 1 || f->mapcount != 1 || (f->flags & PW_FRAME_FREE) ||
			    (order && (!(f->flags & PW_FRAME_HEAD) || f->order != order)) ||
			    (!order && (f->flags & (PW_FRAME_HEAD | PW_FRAME_TAIL)))) {
				if (t->bad_meta++ < 3)
					tap_diag("leaf 0x%" PRIx64 " at level %d: frame ref %d map %d flags 0x%x order %u",
						 v, level, f ? f->refcount : -1, f ? f->mapcount : -1,
						 f ? f->flags : 0, f ? f->order : 0);
			}
			continue;
		}
		tally_table(mm, pw_entry_pfn(level, v, 46), level - 1, t);
	}
}

static void check_accounting(struct pw_mm *mm)
{
	struct pw_arena *a = pw_mm_arena(mm);
	struct pw_mm_stats st;
	struct tally t = { 0 };

	pw_mmap_read_lock(mm);
	tally_table(mm, pw_mm_root(mm), pw_mm_paging(mm)->levels - 1, &t);
	pw_mmap_read_unlock(mm);
	pw_mm_get_stats(mm, &st);
	CHECK_EQ(st.pgtables, t.tables);
	CHECK_EQ(st.rss, t.pages);
	CHECK_EQ(t.bad_meta, 0);
	/* Every frame is free, a table, or mapped once: nothing leaked or shared. */
	CHECK_EQ(pw_arena_free_frames(a) + t.tables + t.pages, pw_arena_nr_frames(a) - 1);
}

/* ---- the implementations under test ------------------------------------ */

struct seen {
	uint64_t base;
	uint64_t *val;	  /* PTE equivalent seen for each page (present only) */
	uint8_t *count;	  /* how often each page was reported */
	int levels;
	bool bad_order;
	uint64_t last;
};

static void seen_reset(struct seen *s)
{
	memset(s->val, 0, WIN_PAGES * sizeof(*s->val));
	memset(s->count, 0, WIN_PAGES);
	s->bad_order = false;
	s->last = s->base;
}

/* Record [start, end) as reported once; a present leaf @v at @level maps it. */
static void seen_range(struct seen *s, int level, uint64_t start, uint64_t end, uint64_t v)
{
	if (start < s->last)
		s->bad_order = true;
	s->last = end;
	for (uint64_t a = start; a < end; a += 4096) {
		uint64_t i = (a - s->base) >> 12;

		s->count[i]++;
		if (v & PW_P)
			s->val[i] = pw_leaf_to_pte(level, v, a, 46);
	}
}

static int w_leaf(int level, uint64_t *e, uint64_t addr, uint64_t next, struct pw_mm_walk *walk)
{
	uint64_t v = pw_entry_read(e);

	if (level == 0 || !(v & PW_P) || pw_entry_leaf(level, v))
		seen_range(walk->private, level, addr, next, v);
	return 0;
}
static int w_pud(pw_pud_t *p, uint64_t a, uint64_t n, struct pw_mm_walk *w) { return w_leaf(2, &p->val, a, n, w); }
static int w_pmd(pw_pmd_t *p, uint64_t a, uint64_t n, struct pw_mm_walk *w) { return w_leaf(1, &p->val, a, n, w); }
static int w_pte(pw_pte_t *p, uint64_t a, uint64_t n, struct pw_mm_walk *w) { return w_leaf(0, &p->val, a, n, w); }
static int w_hole(uint64_t a, uint64_t n, int depth, struct pw_mm_walk *w)
{
	seen_range(w->private, -1, a, n, 0);
	return 0;
}

/* Every page reported exactly once (when @all), and present ones as the reference says. */
static bool seen_matches(struct pw_mm *mm, struct seen *s, const struct ref *refs, bool all,
			 const char *what)
{
	int bad = 0;

	if (s->bad_order) {
		tap_diag("%s: steps out of address order", what);
		bad++;
	}
	for (uint64_t i = 0; i < WIN_PAGES && bad < 5; i++) {
		const struct ref *r = &refs[i];
		unsigned want = all || r->present ? 1 : 0;

		if ((all && s->count[i] != 1) || (!all && s->count[i] != want) ||
		    (r->present && s->val[i] != r->pte) || (!r->present && s->val[i])) {
			tap_diag("%s: page 0x%" PRIx64 " seen %u times as 0x%" PRIx64 ", ref %s 0x%" PRIx64,
				 what, s->base + (i << 12), s->count[i], s->val[i],
				 r->present ? "present" : "absent", r->pte);
			bad++;
		}
	}
	(void)mm;
	return bad == 0;
}

static void check_translate(struct pw_mm *mm, uint64_t base, const struct ref *refs)
{
	int bad = 0;

	pw_mmap_read_lock(mm);
	for (uint64_t i = 0; i < WIN_PAGES && bad < 5; i++) {
		const struct ref *r = &refs[i];
		struct pw_translation t;
		int ret = pw_translate(mm, base + (i << 12) + 0x123, &t);
		bool ok;

		if (r->present)
			ok = ret == 0 && t.level == r->level && t.phys == r->phys + 0x123 &&
			     t.entry == r->leaf && t.writable == r->rw && t.user == r->us &&
			     t.exec == !r->nx && t.pfn == r->phys >> 12;
		else
			ok = ret == (r->rsvd ? -EIO : -ENOENT) && t.level == r->level && t.entry == r->leaf;
		if (!ok) {
			tap_diag("translate 0x%" PRIx64 ": ret %d level %d entry 0x%" PRIx64
				 " ref present %d level %d leaf 0x%" PRIx64,
				 base + (i << 12), ret, t.level, t.entry, r->present, r->level, r->leaf);
			bad++;
		}
	}
	pw_mmap_read_unlock(mm);
	CHECK_EQ(bad, 0);
}

static void check_walkers(struct pw_mm *mm, struct seen *s, const struct ref *refs)
{
	struct pw_walk_ops ops = { .pud_entry = w_pud, .pmd_entry = w_pmd, .pte_entry = w_pte,
				   .pte_hole = w_hole };

	pw_mmap_read_lock(mm);
	seen_reset(s);
	CHECK_EQ(pw_walk_page_range(mm, s->base, s->base + WIN_SIZE, &ops, s), 0);
	CHECK(seen_matches(mm, s, refs, true, "walk_page_range"));
	seen_reset(s);
	CHECK_EQ(pw_walk_page_range_novma(mm, s->base, s->base + WIN_SIZE, &ops, PW_ROOT_DEFAULT, s), 0);
	CHECK(seen_matches(mm, s, refs, true, "walk_page_range_novma"));
	pw_mmap_read_unlock(mm);
}

static void check_iterator(struct pw_mm *mm, struct seen *s, const struct ref *refs)
{
	/* PW_WALK_ALIASES (bit 3) changes nothing on an arena mm: all 16. */
	for (unsigned flags = 0; flags < 16; flags++) {
		struct pw_walk_state st;
		char what[64];
		int tables = 0;

		snprintf(what, sizeof(what), "iterator flags %u", flags);
		seen_reset(s);
		pw_mmap_read_lock(mm);
		pw_for_each_entry(&st, mm, s->base, s->base + WIN_SIZE, flags) {
			if (st.type == PW_STEP_TABLE) {
				CHECK(pw_entry_table(st.level, st.entry));
				tables++;
				continue;
			}
			if (st.type == PW_STEP_HOLE) {
				seen_range(s, -1, st.start, st.end, 0);
				continue;
			}
			/* Leaves: pieces carry the PTE equivalent, ALL_SIZES the leaf. */
			if (flags & PW_WALK_ALL_SIZES || st.level == 0)
				seen_range(s, st.level, st.start, st.end, st.entry);
			else
				seen_range(s, 0, st.start, st.end, st.entry);
		}
		CHECK_EQ(pw_walk_error(&st), 0);
		pw_mmap_read_unlock(mm);
		CHECK(seen_matches(mm, s, refs, flags & PW_WALK_HOLES, what));
		CHECK_EQ(tables > 0, !!(flags & PW_WALK_TABLES));
	}
}

/* Value after "key": in a JSON line (numbers, "0x.." strings, true/false). */
static const char *json_val(const char *line, const char *key)
{
	char k[32];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	if (!p)
		return NULL;
	p += strlen(k);
	return *p == '"' ? p + 1 : p;
}

static void check_ptdump(struct pw_mm *mm, uint64_t base, const struct ref *refs)
{
	struct pw_ptdump_range ranges[2] = { { base, base + WIN_SIZE }, { 0, 0 } };
	struct pw_ptdump_opts opts = { .format = PW_PTDUMP_JSON, .ranges = ranges };
	char *buf = NULL, *line, *save = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	uint64_t covered = base;
	int bad = 0, lines = 0;

	REQUIRE(f);
	CHECK_EQ(pw_ptdump(mm, f, &opts, NULL), 0);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *v;
		uint64_t s, e;
		bool present, rw, us, nx;

		if (strstr(line, "\"marker\""))
			continue;
		lines++;
		v = json_val(line, "start");
		if (!v) {
			CHECK(!"ptdump line without start");
			break;
		}
		s = strtoull(v, NULL, 16);
		e = strtoull(json_val(line, "end"), NULL, 16);
		if (e <= s || e > base + WIN_SIZE) {
			tap_diag("ptdump: bad line end in %s", line);
			bad++;
			break;
		}
		present = !strncmp(json_val(line, "present"), "true", 4);
		rw = !strncmp(json_val(line, "eff_rw"), "true", 4);
		us = !strncmp(json_val(line, "eff_user"), "true", 4);
		nx = !strncmp(json_val(line, "eff_nx"), "true", 4);
		if (s != covered) {
			tap_diag("ptdump: line starts at 0x%" PRIx64 ", expected 0x%" PRIx64, s, covered);
			bad++;
		}
		covered = e;
		for (uint64_t a = s; a < e && bad < 5; a += 4096) {
			const struct ref *r = &refs[(a - base) >> 12];

			if (r->present != present ||
			    (present && (r->rw != rw || r->us != us || r->nx != nx ||
					 strncmp(json_val(line, "level"),
						 pw_level_name(pw_mm_paging(mm)->levels, r->level), 3)))) {
				tap_diag("ptdump: 0x%" PRIx64 " in %s; ref present %d rw %d us %d nx %d level %d",
					 a, line, r->present, r->rw, r->us, r->nx, r->level);
				bad++;
			}
		}
	}
	CHECK_EQ(covered, base + WIN_SIZE);
	CHECK(lines > 0);
	CHECK_EQ(bad, 0);
	free(buf);
}

static void run_mode(int levels, uint64_t base)
{
	struct pw_paging cfg = PW_PAGING_DEFAULT;
	struct pw_arena *a;
	struct pw_mm *mm;
	struct ref *refs = calloc(WIN_PAGES, sizeof(*refs));
	struct seen s = { .base = base, .levels = levels };
	uint64_t free0, present = 0, huge = 0, giant = 0;

	s.val = calloc(WIN_PAGES, sizeof(*s.val));
	s.count = calloc(WIN_PAGES, 1);
	REQUIRE(refs && s.val && s.count);
	cfg.levels = (uint8_t)levels;
	REQUIRE_EQ(pw_arena_create(3ULL << 30, &a), 0);
	free0 = pw_arena_free_frames(a);
	REQUIRE_EQ(pw_mm_create(a, &cfg, &mm), 0);
	random_ops(mm, base, 120, levels == 4);
	check_accounting(mm);
	edit_upper(mm, base);
	for (uint64_t i = 0; i < WIN_PAGES; i++) {
		refs[i] = ref_translate(mm, base + (i << 12));
		present += refs[i].present;
		huge += refs[i].present && refs[i].level > 0;
		giant += refs[i].present && refs[i].level == 2;
	}
	tap_diag("%d-level: %" PRIu64 " pages present, %" PRIu64 " in huge leaves, %" PRIu64 " in 1 GiB ones",
		 levels, present, huge, giant);
	CHECK_EQ(giant, levels == 5 ? 1ULL << 18 : 0);
	CHECK(present > 0);
	check_translate(mm, base, refs);
	check_walkers(mm, &s, refs);
	check_iterator(mm, &s, refs);
	check_ptdump(mm, base, refs);
	pw_mm_destroy(mm);
	CHECK_EQ(pw_arena_free_frames(a), free0);
	pw_arena_destroy(a);
	free(refs);
	free(s.val);
	free(s.count);
}

/* Three rounds per mode, each a fresh address space from the running generator. */
TEST(random_4level)
{
	for (int round = 0; round < 3; round++)
		run_mode(4, 0x00007f0000000000ULL);
}

TEST(random_5level)
{
	for (int round = 0; round < 3; round++)
		run_mode(5, 0x0080000000000000ULL); /* above the 4-level half: needs the PML5 */
}

int main(void)
{
	tap_start();
	tap_seed("test_refmodel");
	RUN(random_4level);
	RUN(random_5level);
	return tap_done();
}
