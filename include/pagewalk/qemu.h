/* SPDX-License-Identifier: MIT */
/*
 * pagewalk/qemu.h - QEMU's monitor views of x86-64 page tables, byte for byte.
 *
 * `info tlb` and `info mem` (QEMU 7.2, target/i386/monitor.c) are what
 * people diff against when they hold a guest's memory. These functions
 * print the same text from an address space (usually a foreign mm over a
 * memory image), walking it with the ordinary iterator. QEMU's own choices
 * are kept, lossy ones included. Lines end in "\r\n", as the human monitor
 * writes them (its output layer turns each "\n" into "\r\n").
 *
 * info tlb: one line per present leaf, "VA: PA FLAGS", VA sign-extended,
 *   PA masked to 46 bits at the leaf's size (0x3fffffffff000,
 *   0x3ffffffe00000, 0x3ffffc0000000), flags XGPDACTUW from the leaf's own
 *   bits only (not combined with upper levels); bit 7 of a 4 KiB PTE (PAT)
 *   is cleared first, so P only ever marks a 2 MiB or 1 GiB leaf and the
 *   line does not say which. Aliased tables are printed once per path
 *   (ESPfix's 65536 lines).
 * info mem: ranges of equal effective U/W (ANDed over all levels; NX not
 *   shown, so r-- and r-x merge; a change of page size or of physical
 *   address does not split a range). Start, end and size are computed in
 *   the linear (non-sign-extended) space and each sign-extended on
 *   printing, size included; a range running to the top ends at the
 *   un-extended 1 << 48. With 5-level paging QEMU 7.2's walker has the
 *   present tests of the PDPTE and PDE inverted: it reports nothing for
 *   present entries and reads "tables" at the address bits of non-present
 *   ones. That is reproduced as well (reading physical memory the image
 *   does not hold as zeroes, as QEMU reads unassigned memory), which for
 *   a normal guest prints nothing at all.
 *
 * Where the outputs can differ from QEMU's: an entry with reserved bits
 * set (for the mm's MAXPHYADDR, NXE, 1 GiB setting, or PS in a PML4E or
 * PML5E) is a hole to pagewalk and is printed, or descended through, by
 * QEMU; a table entry whose address has bits above 45 set is masked by
 * QEMU to 46 bits and is not by pagewalk.
 */
#ifndef PAGEWALK_QEMU_H
#define PAGEWALK_QEMU_H

#include <stdint.h>
#include <stdio.h>

#include <pagewalk/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pw_qemu_info_tlb() - print QEMU's `info tlb` for @mm's page tables.
 * @mm: address space (usually foreign).
 * @out: stream.
 * @max_entries: limit on the entries the walk reads (0 = none); a hostile
 *               image can make the walk 512^levels entries long.
 * @lines: receives the number of lines printed (may be NULL).
 *
 * Context: takes @mm's mmap lock for read (none for a foreign mm).
 * Return: 0, -EINVAL (NULL @mm or @out), -E2BIG (@max_entries reached;
 * the output is cut there), -ENOMEM, -EIO (a write to @out failed).
 */
int pw_qemu_info_tlb(struct pw_mm *mm, FILE *out, uint64_t max_entries, uint64_t *lines);

/**
 * pw_qemu_info_mem() - print QEMU's `info mem` for @mm's page tables.
 * Arguments, context and return as pw_qemu_info_tlb().
 */
int pw_qemu_info_mem(struct pw_mm *mm, FILE *out, uint64_t max_entries, uint64_t *lines);

#ifdef __cplusplus
}
#endif
#endif /* PAGEWALK_QEMU_H */
