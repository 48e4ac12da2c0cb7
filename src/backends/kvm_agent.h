/* SPDX-License-Identifier: MIT */
/*
 * kvm_agent.h - private: the guest agent's memory layout, mailbox format and
 * I/O ports, shared by the agent (kvm_agent.c, assembly) and the host side
 * (kvm.c). Plain numbers only: the same macros are pasted into assembly.
 *
 * Everything lives in the reserved range [PW_KVM_AREA_START, PW_KVM_AREA_END)
 * of the address space (see include/pagewalk/kvm.h):
 *
 *   +0x00000  system page   supervisor RW NX: GDT (+0x000), one TSS per vCPU
 *                           (+0x100 + 0x80 * i), IDT (+0x800)
 *   +0x01000  code page     user R+X: the agent, copied byte for byte
 *   per vCPU i, at KA_VCPU(i) = +0x10000 + 0x20000 * i:
 *   +0x00000  mailbox       user RW NX, 16 pages: header page, then access entries
 *   +0x10000  user stack    user RW NX, 4 pages (CPL 3 runs)
 *   +0x18000  kernel stack  supervisor RW NX, 4 pages (CPL 0 runs, exceptions: TSS.RSP0)
 *
 * The agent finds its vCPU's mailbox in r15, which the host sets and
 * nothing in the guest changes.
 */
#ifndef PAGEWALK_KVM_AGENT_H
#define PAGEWALK_KVM_AGENT_H

#define KA_BASE 0x7fffffe00000
#define KA_MAX_VCPUS 8
#define KA_SYS (KA_BASE + 0x0)
#define KA_GDT (KA_SYS + 0x0)
#define KA_TSS(i) (KA_SYS + 0x100 + 0x80 * (i))
#define KA_IDT (KA_SYS + 0x800)
#define KA_CODE (KA_BASE + 0x1000)
#define KA_VCPU(i) (KA_BASE + 0x10000 + 0x20000 * (i))
#define KA_MBOX(i) (KA_VCPU(i) + 0x0)
#define KA_MBOX_PAGES 16
#define KA_USTACK(i) (KA_VCPU(i) + 0x10000)
#define KA_USTACK_TOP(i) (KA_USTACK(i) + 0x4000)
#define KA_KSTACK(i) (KA_VCPU(i) + 0x18000)
#define KA_KSTACK_TOP(i) (KA_KSTACK(i) + 0x4000)
#define KA_END KA_VCPU(KA_MAX_VCPUS)

/* GDT selectors. */
#define KA_SEL_KCODE 0x08
#define KA_SEL_KDATA 0x10
#define KA_SEL_UDATA 0x1b /* 0x18 | RPL 3 */
#define KA_SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define KA_SEL_TSS(i) (0x28 + 16 * (i)) /* 16-byte system descriptors */
#define KA_GDT_LIMIT(n) (0x28 + 16 * (n) - 1)

/* IDT: exceptions 0..31. */
#define KA_IDT_ENTRIES 32

/* I/O ports. */
#define KA_PORT_DONE 0x10  /* out: the access list is finished */
#define KA_PORT_FAULT 0x20 /* in, 4 bytes: an exception; host answers 0 retry, 1 fail */

/* Mailbox header, offsets from KA_MBOX(i) (all 64-bit fields). */
#define MB_COUNT 0x00	   /* number of access entries */
#define MB_CPL 0x08	   /* 0 or 3: privilege level of the access loop */
#define MB_FLUSH_ALL 0x10  /* non-zero: reload CR3 before the next access */
#define MB_NR_INVLPG 0x18  /* addresses in MB_INVLPG to invlpg before the next access */
#define MB_F_VEC 0x20	   /* last exception: vector */
#define MB_F_ERR 0x28	   /* error code (0 if the vector has none) */
#define MB_F_RIP 0x30	   /* RIP of the faulting instruction */
#define MB_F_CR2 0x38	   /* CR2 */
#define MB_F_ENTRY 0x40	   /* address of the access entry being run */
#define MB_F_CS 0x48	   /* CS of the interrupted code (CPL in bits 1:0) */
#define MB_NR_CR3_FLUSH 0x50 /* counters kept by the agent: CR3 reloads done */
#define MB_NR_INVLPG_DONE 0x58 /*                             invlpg done */
#define MB_USTACK 0x60	   /* top of this vCPU's user stack */
#define MB_INVLPG 0x100	   /* the invlpg list */
#define MB_INVLPG_MAX 480  /* (0x1000 - 0x100) / 8 */
#define MB_ENTRIES 0x1000  /* access entries start on the second page */
#define MB_ENTRY_SIZE 32   /* u32 op, u32 status, u64 addr, u64 value, u64 pad */
#define MB_MAX_ENTRIES ((KA_MBOX_PAGES - 1) * 4096 / MB_ENTRY_SIZE)

#ifndef __ASSEMBLER__
/* The agent's bytes and the offsets of its entry points (kvm_agent.c). */
extern const unsigned char pw_kvm_agent_start[], pw_kvm_agent_end[];
extern const unsigned char pw_kvm_agent_entry[], pw_kvm_agent_stubs[], pw_kvm_agent_done[];
#endif

#endif /* PAGEWALK_KVM_AGENT_H */
