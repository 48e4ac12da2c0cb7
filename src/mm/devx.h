/* SPDX-License-Identifier: MIT */
/*
 * mm/devx.h - device-exclusive conversion's private side (devx.c).
 */
#ifndef PAGEWALK_MM_DEVX_H
#define PAGEWALK_MM_DEVX_H

#include <stdint.h>

#include <pagewalk/devx.h>

/*
 * Test hook: when set, called for each page between GUP and the
 * reverse-map step, with @mm's mmap lock held for read, so that a test can
 * change the page in between (the race the design discussion raised).
 */
extern void (*pw_devx_test_between)(struct pw_mm *mm, uint64_t addr, uint64_t pfn);

#endif /* PAGEWALK_MM_DEVX_H */
