/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/image.h - physical memory images as a read-only walk backend.
 *
 * A pw_image is guest-physical memory held in a file: a raw image (the file
 * is physical memory from address 0) or an ELF core such as QEMU's
 * `dump-guest-memory` writes (each PT_LOAD segment is one guest-physical
 * range; there may be gaps between them). A file compressed with Zstandard
 * is decompressed into anonymous memory when opened (all-zero pages are
 * not written, so a sparse image costs only its non-zero pages).
 *
 * The image is a struct pw_phys: an address space over it comes from
 * pw_mm_create_foreign(), and the ordinary walkers (the no-VMA walk, the
 * iterator, pw_translate(), ptdump) run over it unchanged. A frame that is
 * not wholly inside one segment is not backed: the walkers see NULL and
 * report a hole (PW_HOLE_NO_FRAME); nothing outside the image is read.
 *
 *	struct pw_image *img;
 *	struct pw_paging cfg;
 *	uint64_t root;
 *	struct pw_mm *mm;
 *
 *	pw_image_open("image.elf", 0, &img);
 *	pw_image_paging(img, 0, &cfg, &root);	// CR3, CR4.LA57 from the QEMU note
 *	pw_mm_create_foreign(pw_image_phys(img), &cfg, root, &mm);
 *	pw_ptdump(mm, stdout, NULL, NULL);
 *	pw_mm_destroy(mm);
 *	pw_image_close(img);
 */
#ifndef PAGEWALK_IMAGE_H
#define PAGEWALK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pagewalk/pgtable.h>
#include <pagewalk/phys.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_image;

/* Flags for pw_image_open() and pw_image_open_mem(). */
enum {
	/* Treat the bytes as a raw image even if they look like an ELF core. */
	PW_IMAGE_RAW = 1u << 0,
	/* Refuse an ELF core whose segments reach past the end of the file
	 * (-EBADMSG). Without it such segments are cut at the end of the file,
	 * pw_image_info() says so, and the missing frames are unbacked. */
	PW_IMAGE_STRICT = 1u << 1,
};

/** enum pw_image_kind - what the bytes were. */
enum pw_image_kind {
	PW_IMAGE_KIND_RAW = 0, /* physical memory from 0, the whole file */
	PW_IMAGE_KIND_ELF = 1, /* an ELF64 core: PT_LOAD p_paddr = guest-physical */
};

/**
 * struct pw_image_segment - one guest-physical range held by the image.
 * @paddr: first physical address.
 * @size: bytes held (the part of p_filesz inside the file).
 */
struct pw_image_segment {
	uint64_t paddr;
	uint64_t size;
};

/**
 * struct pw_image_info - what pw_image_open() found.
 * @kind: PW_IMAGE_KIND_*.
 * @compressed: the file was Zstandard-compressed.
 * @truncated: some PT_LOAD segment reached past the end of the file and was cut.
 * @nr_segments: guest-physical ranges (1 for a raw image).
 * @nr_cpus: CPUs with a QEMU CPU-state note (0 for raw images and cores without one).
 * @bytes: bytes of guest-physical memory held.
 * @file_bytes: size of the (decompressed) file.
 */
struct pw_image_info {
	enum pw_image_kind kind;
	bool compressed;
	bool truncated;
	unsigned nr_segments;
	unsigned nr_cpus;
	uint64_t bytes;
	uint64_t file_bytes;
};

/**
 * struct pw_image_cpu - the control registers of one vCPU, from QEMU's
 * "QEMU" note (QEMUCPUState, version 1). The note holds no EFER.
 * @cr0, @cr2, @cr3, @cr4: the registers.
 * @rip, @rsp: for orientation.
 */
struct pw_image_cpu {
	uint64_t cr0, cr2, cr3, cr4;
	uint64_t rip, rsp;
};

/**
 * pw_image_open() - open a memory image read-only.
 * @path: a raw image, an ELF core, or either compressed with zstd (detected
 *        by its magic number, not by the file name).
 * @flags: PW_IMAGE_*.
 * @out: receives the image.
 *
 * Uncompressed files are memory-mapped, never copied, except an ELF segment
 * whose file offset and physical address differ modulo 8 (its bytes are
 * copied, so that entries can be read as aligned 64-bit words).
 *
 * Context: any thread; may block (file I/O, decompression).
 * Return: 0; -errno from open/stat/mmap; -EINVAL (empty file, bad @flags);
 * -EBADMSG (a malformed ELF header, program header or note, overlapping
 * segments, or with PW_IMAGE_STRICT a segment past the end of the file;
 * a corrupt zstd stream); -ENOMEM.
 */
int pw_image_open(const char *path, unsigned flags, struct pw_image **out);

/**
 * struct pw_image_error - why pw_image_open_diag() refused a file (-EBADMSG).
 * @what: a static, human-readable reason ("zstd stream truncated", ...).
 * @offset: the byte offset it refers to: for @truncated, the size of the
 *          (decompressed, for an ELF header) data, where it ends; else the
 *          offset of the bad structure (input bytes for a corrupt zstd stream).
 * @truncated: the bytes end too early (a cut file), rather than being wrong.
 */
struct pw_image_error {
	const char *what;
	uint64_t offset;
	bool truncated;
};

/**
 * pw_image_open_diag() - pw_image_open(), saying why on -EBADMSG.
 * @path, @flags, @out: as pw_image_open().
 * @diag: filled when the return is -EBADMSG (may be NULL); untouched otherwise.
 *
 * Context: any thread; may block (file I/O, decompression).
 * Return: as pw_image_open().
 */
int pw_image_open_diag(const char *path, unsigned flags, struct pw_image **out,
		       struct pw_image_error *diag);

/**
 * pw_image_open_mem() - an image over @len bytes at @buf (copied: the
 * caller's buffer need not outlive the image).
 * @buf: the image bytes (raw, ELF core, or zstd).
 * @len: their number, non-zero.
 * @flags: PW_IMAGE_*.
 * @out: receives the image.
 *
 * Context: any thread; may block (copy, decompression).
 * Return: as pw_image_open(), without the file errors; -EINVAL for a NULL
 * @buf or @out, a zero @len or bad @flags.
 */
int pw_image_open_mem(const void *buf, size_t len, unsigned flags, struct pw_image **out);

/**
 * pw_image_close() - unmap and free the image.
 * @img: the image, or NULL (a no-op).
 *
 * Context: no address space over @img may still be in use.
 * Return: nothing.
 */
void pw_image_close(struct pw_image *img);

/**
 * pw_image_phys() - the image as a walk backend, for pw_mm_create_foreign().
 * @img: the image.
 *
 * Context: any thread; the backend is read-only and safe to share.
 * Return: the backend (readonly set), valid until pw_image_close().
 */
const struct pw_phys *pw_image_phys(const struct pw_image *img);

/**
 * pw_image_info() - what the image holds.
 * @img: the image.
 * @info: receives the description.
 *
 * Context: any thread.
 * Return: nothing.
 */
void pw_image_info(const struct pw_image *img, struct pw_image_info *info);

/**
 * pw_image_segment() - the @idx-th guest-physical range, in address order.
 * @img: the image.
 * @idx: 0 .. info.nr_segments - 1.
 * @seg: receives the range.
 *
 * Context: any thread.
 * Return: 0, -ENOENT past the last one.
 */
int pw_image_segment(const struct pw_image *img, unsigned idx, struct pw_image_segment *seg);

/**
 * pw_image_cpu() - the control registers of vCPU @cpu from the QEMU note.
 * @img: the image.
 * @cpu: vCPU index, in note order.
 * @out: receives the registers.
 *
 * Context: any thread.
 * Return: 0, -ENOENT (no such note: a raw image, or a core without it).
 */
int pw_image_cpu(const struct pw_image *img, unsigned cpu, struct pw_image_cpu *out);

/**
 * pw_image_paging() - the paging mode and root table of vCPU @cpu.
 * @img: the image.
 * @cpu: vCPU index.
 * @cfg: receives levels from CR4.LA57, pke from CR4.PKE, MAXPHYADDR 52
 *       (the note does not say; 52 reserves no address bits), nxe true and
 *       pdpe1gb true (EFER is not in the note; every 64-bit Linux sets
 *       EFER.NXE). Callers override fields as they need.
 * @root_pfn: receives the root table frame: CR3 bits 51:12 (the PCID in
 *            bits 11:0 and the no-flush bit 63 are masked off).
 *
 * Context: any thread.
 * Return: 0; -ENOENT (no CPU note); -ENOTSUP (CR0.PG or CR4.PAE clear:
 * not 64-bit paging).
 */
int pw_image_paging(const struct pw_image *img, unsigned cpu, struct pw_paging *cfg,
		    uint64_t *root_pfn);

/**
 * pw_image_read() - copy @len bytes of guest-physical memory at @paddr.
 * @img: the image.
 * @paddr: first guest-physical address.
 * @buf: destination.
 * @len: bytes; the range may span segments if they are contiguous.
 *
 * Context: any thread.
 * Return: 0; -EFAULT if any byte is not held by the image (nothing useful
 * is in @buf then).
 */
int pw_image_read(const struct pw_image *img, uint64_t paddr, void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_IMAGE_H */
