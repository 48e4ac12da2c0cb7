// SPDX-License-Identifier: MIT
/*
 * image.c - memory images (raw, ELF core, zstd-compressed) as a read-only
 * physical-memory backend.
 *
 * The file is mapped once; each guest-physical range (a PT_LOAD segment,
 * or the whole raw file) keeps a host pointer to its first byte. A frame
 * is backed only when all its 4096 bytes lie inside one range, so a walker
 * that got a frame pointer can read the whole table without further checks.
 * Every length and offset read from the file is checked against the file
 * size, with overflow-safe arithmetic, before it is used.
 */
#define _GNU_SOURCE /* mremap */
#include "core/core.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <pagewalk/image.h>

/* QEMUCPUState (QEMU's dump.c), version 1: offsets inside the note's desc. */
#define QEMU_CPU_RSP 56
#define QEMU_CPU_RIP 136
#define QEMU_CPU_CR0 392
#define QEMU_CPU_MIN 432 /* cr[0..4] end here */

struct seg {
	uint64_t paddr;
	uint64_t size;
	const uint8_t *host;
	void *copy; /* owned copy when the file offset was not 8-byte aligned */
};

struct pw_image {
	struct pw_phys phys;
	void *map;	  /* the file mapping or the decompressed memory */
	size_t map_len;
	struct seg *segs;
	unsigned nr_segs;
	struct pw_image_cpu *cpus;
	unsigned nr_cpus;
	struct pw_image_info info;
	struct pw_image_error diag; /* why the open failed (pw_image_open_diag()) */
};

/* Say why the bytes are refused; returns -EBADMSG. */
static int bad(struct pw_image *img, const char *what, uint64_t offset, bool truncated)
{
	img->diag = (struct pw_image_error){ .what = what, .offset = offset, .truncated = truncated };
	return -EBADMSG;
}

static const struct seg *find_seg(const struct pw_image *img, uint64_t pa)
{
	unsigned lo = 0, hi = img->nr_segs;

	/* The last segment whose start is <= pa. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (img->segs[mid].paddr <= pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	return &img->segs[lo - 1];
}

static void *image_map(const struct pw_phys *phys, uint64_t pfn)
{
	const struct pw_image *img = phys->priv;
	const struct seg *s;
	uint64_t pa, off;

	if (pfn >= (1ULL << (64 - PW_PAGE_SHIFT)))
		return NULL;
	pa = pfn << PW_PAGE_SHIFT;
	s = find_seg(img, pa);
	if (!s)
		return NULL;
	off = pa - s->paddr;
	if (off >= s->size || s->size - off < PW_PAGE_SIZE)
		return NULL; /* a gap, or a frame only partly inside the segment */
	return (void *)(s->host + off);
}

/* ---- ELF --------------------------------------------------------------- */

static bool range_ok(uint64_t off, uint64_t n, uint64_t len)
{
	return off <= len && n <= len - off;
}

static int add_seg(struct pw_image *img, unsigned *cap, uint64_t paddr, uint64_t size,
		   const uint8_t *host)
{
	struct seg *s;

	if (img->nr_segs == *cap) {
		unsigned ncap = *cap ? *cap * 2 : 8;

		s = realloc(img->segs, ncap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		img->segs = s;
		*cap = ncap;
	}
	s = &img->segs[img->nr_segs];
	*s = (struct seg){ .paddr = paddr, .size = size, .host = host };
	if (((uintptr_t)host - paddr) & 7) {
		/*
		 * Entries must be read as aligned words: frame addresses are page
		 * aligned, so host - paddr must be a multiple of 8. Keep a copy
		 * placed so that it is.
		 */
		size_t shift = paddr & 7, n;

		if (size > SIZE_MAX - 2 * PW_PAGE_SIZE)
			return -ENOMEM;
		n = (size + shift + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
		s->copy = aligned_alloc(PW_PAGE_SIZE, n);
		if (!s->copy)
			return -ENOMEM;
		memcpy((uint8_t *)s->copy + shift, host, size);
		s->host = (uint8_t *)s->copy + shift;
	}
	img->nr_segs++;
	return 0;
}

static int add_cpu(struct pw_image *img, const uint8_t *d, uint32_t dsz)
{
	struct pw_image_cpu c = { 0 }, *n;
	uint32_t version, size;
	uint64_t cr[5];

	if (dsz < QEMU_CPU_MIN)
		return -EBADMSG;
	memcpy(&version, d, 4);
	memcpy(&size, d + 4, 4);
	if (version != 1 || size < QEMU_CPU_MIN || size > dsz)
		return -EBADMSG;
	memcpy(cr, d + QEMU_CPU_CR0, sizeof(cr));
	memcpy(&c.rip, d + QEMU_CPU_RIP, 8);
	memcpy(&c.rsp, d + QEMU_CPU_RSP, 8);
	c.cr0 = cr[0];
	c.cr2 = cr[2];
	c.cr3 = cr[3];
	c.cr4 = cr[4];
	n = realloc(img->cpus, (img->nr_cpus + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	img->cpus = n;
	img->cpus[img->nr_cpus++] = c;
	return 0;
}

/* Walk the notes of one PT_NOTE segment; keep QEMU's CPU states. */
static int parse_notes(struct pw_image *img, const uint8_t *p, uint64_t n, uint64_t foff)
{
	uint64_t off = 0;

	while (n - off >= 12) {
		uint32_t namesz, descsz, type;
		uint64_t name_off, desc_off, nlen, dlen;

		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		name_off = off + 12;
		nlen = ((uint64_t)namesz + 3) & ~3ULL;
		dlen = ((uint64_t)descsz + 3) & ~3ULL;
		if (!range_ok(name_off, nlen, n) || !range_ok(name_off + nlen, descsz, n))
			return bad(img, "note runs past its PT_NOTE segment", foff + off, false);
		desc_off = name_off + nlen;
		if (namesz == 5 && !memcmp(p + name_off, "QEMU", 5) && type == 0) {
			int err = add_cpu(img, p + desc_off, descsz);

			if (err == -EBADMSG)
				return bad(img, "malformed QEMU CPU-state note", foff + off, false);
			if (err)
				return err;
		}
		if (!range_ok(desc_off, dlen, n))
			break; /* the last note's padding may be cut */
		off = desc_off + dlen;
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

static int parse_elf(struct pw_image *img, const uint8_t *buf, uint64_t len, unsigned flags)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	Elf64_Ehdr e;
	uint64_t phnum;
	unsigned cap = 0;
	int err;

	if (len < sizeof(e))
		return bad(img, "ELF header truncated", len, true);
	memcpy(&e, eh, sizeof(e));
	if (e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_ident[EI_DATA] != ELFDATA2LSB ||
	    e.e_ident[EI_VERSION] != EV_CURRENT || e.e_type != ET_CORE ||
	    e.e_machine != EM_X86_64 || e.e_phentsize != sizeof(Elf64_Phdr))
		return bad(img, "not a little-endian x86-64 ELF64 core", 0, false);
	phnum = e.e_phnum;
	if (phnum == PN_XNUM) {
		/* Many segments: the real count is in section header 0's sh_info. */
		Elf64_Shdr sh;

		if (e.e_shentsize != sizeof(sh))
			return bad(img, "bad section header size", 0, false);
		if (!range_ok(e.e_shoff, sizeof(sh), len))
			return bad(img, "section header 0 past the end of the file: truncated", len, true);
		memcpy(&sh, buf + e.e_shoff, sizeof(sh));
		phnum = sh.sh_info;
	}
	if (phnum > len / sizeof(Elf64_Phdr) || !range_ok(e.e_phoff, phnum * sizeof(Elf64_Phdr), len))
		return bad(img, "program headers past the end of the file: truncated", len, true);
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		uint64_t size;

		memcpy(&ph, buf + e.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (!range_ok(ph.p_offset, ph.p_filesz, len))
				return bad(img, "PT_NOTE segment past the end of the file: truncated", len,
					   true);
			err = parse_notes(img, buf + ph.p_offset, ph.p_filesz, ph.p_offset);
			if (err)
				return err;
			continue;
		}
		if (ph.p_type != PT_LOAD || !ph.p_filesz)
			continue;
		if (ph.p_paddr + ph.p_filesz < ph.p_paddr)
			return bad(img, "PT_LOAD segment wraps the physical address space",
				   e.e_phoff + i * sizeof(ph), false);
		if (ph.p_offset > len)
			return bad(img, "PT_LOAD segment starts past the end of the file", len, true);
		size = ph.p_filesz;
		if (!range_ok(ph.p_offset, size, len)) {
			if (flags & PW_IMAGE_STRICT)
				return bad(img, "PT_LOAD segment past the end of the file: truncated", len,
					   true);
			size = len - ph.p_offset;
			img->info.truncated = true;
			if (!size)
				continue;
		}
		err = add_seg(img, &cap, ph.p_paddr, size, buf + ph.p_offset);
		if (err)
			return err;
	}
	if (img->nr_segs > 1)
		qsort(img->segs, img->nr_segs, sizeof(*img->segs), cmp_seg);
	for (unsigned i = 1; i < img->nr_segs; i++)
		if (img->segs[i].paddr - img->segs[i - 1].paddr < img->segs[i - 1].size)
			return bad(img, "overlapping PT_LOAD segments", 0, false);
	img->info.kind = PW_IMAGE_KIND_ELF;
	return 0;
}

static int parse(struct pw_image *img, const uint8_t *buf, uint64_t len, unsigned flags)
{
	int err;

	img->info.file_bytes = len;
	if (!(flags & PW_IMAGE_RAW) && len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG)) {
		err = parse_elf(img, buf, len, flags);
		if (err)
			return err;
	} else {
		unsigned cap = 0;

		img->info.kind = PW_IMAGE_KIND_RAW;
		err = add_seg(img, &cap, 0, len, buf);
		if (err)
			return err;
	}
	img->phys = (struct pw_phys){ .map = image_map, .readonly = true, .priv = img };
	if (img->nr_segs && img->segs[0].paddr == 0) {
		img->phys.direct = (uint8_t *)img->segs[0].host;
		img->phys.nr_direct = img->segs[0].size >> PW_PAGE_SHIFT;
	}
	img->info.nr_segments = img->nr_segs;
	img->info.nr_cpus = img->nr_cpus;
	for (unsigned i = 0; i < img->nr_segs; i++)
		img->info.bytes += img->segs[i].size;
	return 0;
}

/* ---- zstd -------------------------------------------------------------- */

static bool is_zstd(const uint8_t *buf, size_t len)
{
	static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	return len >= 4 && !memcmp(buf, magic, 4);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	const uint64_t *w = (const void *)p;
	size_t i;

	for (i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	for (i *= 8; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Grow the anonymous output mapping to at least @need bytes. */
static int grow(uint8_t **dst, size_t *cap, size_t need)
{
	size_t ncap = *cap;
	void *p;

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	p = mremap(*dst, *cap, ncap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	*dst = p;
	*cap = ncap;
	return 0;
}

/* Append @n decoded bytes at *@pos, growing the output; zero pages stay untouched. */
static int append(uint8_t **dst, size_t *cap, size_t *pos, const uint8_t *buf, size_t n)
{
	if (n > *cap - *pos) {
		int err = grow(dst, cap, *pos + n);

		if (err)
			return err;
	}
	for (size_t o = 0; o < n; o += PW_PAGE_SIZE) {
		size_t k = n - o < PW_PAGE_SIZE ? n - o : PW_PAGE_SIZE;

		if (!all_zero(buf + o, k))
			memcpy(*dst + *pos + o, buf + o, k);
	}
	*pos += n;
	return 0;
}

/*
 * Decompress @src into a fresh anonymous mapping. Output goes through a
 * bounce buffer; all-zero pages are skipped, so they are never touched.
 */
static int unzstd(struct pw_image *img, const uint8_t *src, size_t len, uint8_t **out,
		  size_t *out_len, size_t *map_len)
{
	unsigned long long total = ZSTD_getFrameContentSize(src, len);
	size_t cap, pos = 0, bounce_len = 1u << 20;
	ZSTD_inBuffer in = { src, len, 0 };
	ZSTD_DCtx *dctx;
	uint8_t *dst, *bounce;
	int err = 0;
	size_t r = 1;

	if (total == ZSTD_CONTENTSIZE_ERROR)
		return len < 18 ? bad(img, "zstd frame header truncated", len, true)
				: bad(img, "corrupt zstd frame header", 0, false);
	cap = (total == ZSTD_CONTENTSIZE_UNKNOWN || total == 0) ? (64u << 20) : (size_t)total;
	if (total != ZSTD_CONTENTSIZE_UNKNOWN && total > SIZE_MAX / 2)
		return -ENOMEM;
	cap = (cap + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	dst = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (dst == MAP_FAILED)
		return -ENOMEM;
	bounce = malloc(bounce_len);
	dctx = ZSTD_createDCtx();
	if (!bounce || !dctx) {
		err = -ENOMEM;
		goto out;
	}
	while (in.pos < in.size) {
		ZSTD_outBuffer ob = { bounce, bounce_len, 0 };

		r = ZSTD_decompressStream(dctx, &ob, &in);
		if (ZSTD_isError(r)) {
			err = bad(img, "corrupt zstd stream", in.pos, false);
			goto out;
		}
		err = append(&dst, &cap, &pos, bounce, ob.pos);
		if (err)
			goto out;
		if (!ob.pos && r && in.pos == in.size)
			break;
	}
	/* Flush what the decoder still holds. */
	while (r) {
		ZSTD_outBuffer ob = { bounce, bounce_len, 0 };

		r = ZSTD_decompressStream(dctx, &ob, &in);
		if (ZSTD_isError(r) || !ob.pos) {
			err = bad(img, "zstd stream truncated", len, true); /* a cut-off stream */
			goto out;
		}
		err = append(&dst, &cap, &pos, bounce, ob.pos);
		if (err)
			goto out;
	}
	if (!pos)
		err = -EINVAL;
out:
	ZSTD_freeDCtx(dctx);
	free(bounce);
	if (err) {
		munmap(dst, cap);
		return err;
	}
	*out = dst;
	*out_len = pos;
	*map_len = cap;
	return 0;
}

/* ---- open / close ------------------------------------------------------ */

static int finish_open(struct pw_image *img, const uint8_t *buf, size_t len, unsigned flags,
		       struct pw_image **out, struct pw_image_error *diag)
{
	int err;

	if (is_zstd(buf, len)) {
		uint8_t *dec;
		size_t dlen, mlen;

		err = unzstd(img, buf, len, &dec, &dlen, &mlen);
		if (err)
			goto fail;
		if (img->map)
			munmap(img->map, img->map_len);
		img->map = dec;
		img->map_len = mlen;
		img->info.compressed = true;
		buf = dec;
		len = dlen;
	}
	err = parse(img, buf, len, flags);
	if (err)
		goto fail;
	*out = img;
	return 0;
fail:
	if (diag && err == -EBADMSG)
		*diag = img->diag;
	pw_image_close(img);
	return err;
}

PW_API int pw_image_open(const char *path, unsigned flags, struct pw_image **out)
{
	return pw_image_open_diag(path, flags, out, NULL);
}

PW_API int pw_image_open_diag(const char *path, unsigned flags, struct pw_image **out,
			      struct pw_image_error *diag)
{
	struct pw_image *img;
	struct stat sb;
	void *map;
	int fd, err;

	if (!path || !out || (flags & ~(PW_IMAGE_RAW | PW_IMAGE_STRICT)))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return err;
	img = calloc(1, sizeof(*img));
	if (!img) {
		munmap(map, (size_t)sb.st_size);
		return -ENOMEM;
	}
	img->map = map;
	img->map_len = (size_t)sb.st_size;
	madvise(map, img->map_len, MADV_RANDOM);
	return finish_open(img, map, img->map_len, flags, out, diag);
}

PW_API int pw_image_open_mem(const void *buf, size_t len, unsigned flags, struct pw_image **out)
{
	struct pw_image *img;
	size_t mlen;
	void *map;

	if (!buf || !len || !out || (flags & ~(PW_IMAGE_RAW | PW_IMAGE_STRICT)))
		return -EINVAL;
	mlen = (len + PW_PAGE_SIZE - 1) & PW_PAGE_MASK;
	if (mlen < len)
		return -ENOMEM;
	map = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -ENOMEM;
	memcpy(map, buf, len);
	img = calloc(1, sizeof(*img));
	if (!img) {
		munmap(map, mlen);
		return -ENOMEM;
	}
	img->map = map;
	img->map_len = mlen;
	return finish_open(img, map, len, flags, out, NULL);
}

PW_API void pw_image_close(struct pw_image *img)
{
	if (!img)
		return;
	for (unsigned i = 0; i < img->nr_segs; i++)
		free(img->segs[i].copy);
	free(img->segs);
	free(img->cpus);
	if (img->map)
		munmap(img->map, img->map_len);
	free(img);
}

PW_API const struct pw_phys *pw_image_phys(const struct pw_image *img)
{
	return &img->phys;
}

PW_API void pw_image_info(const struct pw_image *img, struct pw_image_info *info)
{
	*info = img->info;
}

PW_API int pw_image_segment(const struct pw_image *img, unsigned idx, struct pw_image_segment *seg)
{
	if (idx >= img->nr_segs)
		return -ENOENT;
	seg->paddr = img->segs[idx].paddr;
	seg->size = img->segs[idx].size;
	return 0;
}

PW_API int pw_image_cpu(const struct pw_image *img, unsigned cpu, struct pw_image_cpu *out)
{
	if (cpu >= img->nr_cpus)
		return -ENOENT;
	*out = img->cpus[cpu];
	return 0;
}

#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define CR4_PKE (1ULL << 22)
#define CR3_ADDR 0x000ffffffffff000ULL

PW_API int pw_image_paging(const struct pw_image *img, unsigned cpu, struct pw_paging *cfg,
			   uint64_t *root_pfn)
{
	const struct pw_image_cpu *c;

	if (cpu >= img->nr_cpus)
		return -ENOENT;
	c = &img->cpus[cpu];
	if (!(c->cr0 & CR0_PG) || !(c->cr4 & CR4_PAE))
		return -ENOTSUP;
	*cfg = (struct pw_paging){
		.levels = (c->cr4 & CR4_LA57) ? 5 : 4,
		.maxphyaddr = 52,
		.nxe = true,
		.pdpe1gb = true,
		.pke = !!(c->cr4 & CR4_PKE),
	};
	*root_pfn = (c->cr3 & CR3_ADDR) >> PW_PAGE_SHIFT;
	return 0;
}

PW_API int pw_image_read(const struct pw_image *img, uint64_t paddr, void *buf, size_t len)
{
	uint8_t *d = buf;

	while (len) {
		const struct seg *s = find_seg(img, paddr);
		uint64_t off, n;

		if (!s || paddr - s->paddr >= s->size)
			return -EFAULT;
		off = paddr - s->paddr;
		n = s->size - off < len ? s->size - off : len;
		memcpy(d, s->host + off, n);
		d += n;
		len -= n;
		paddr += n;
		if (len && !paddr)
			return -EFAULT; /* wrapped */
	}
	return 0;
}
