// SPDX-License-Identifier: MIT
/*
 * kvm_agent.c - the guest agent that pw_kvm runs inside the VM.
 *
 * Written in x86-64 assembly (AT&T syntax) at file scope, so the system
 * assembler builds it with the rest of the library; no extra build rule.
 * The bytes sit in .rodata between pw_kvm_agent_start and pw_kvm_agent_end;
 * the host copies them to KA_CODE in guest memory. The code is position
 * independent (RIP-relative references inside the blob, absolute addresses
 * only for the fixed areas of kvm_agent.h).
 *
 * Protocol (one run):
 *   host:  fills the vCPU's mailbox (accesses, CPL, flush requests), sets
 *          RIP to pw_kvm_agent_entry, RSP to its kernel stack top and r15
 *          to its mailbox, at CPL 0; KVM_RUN.
 *   agent: executes the requested TLB flushes, drops to CPL 3 if asked
 *          (iretq), then for each entry: read 8 bytes / write 8 bytes /
 *          call the address (the byte there must be a `ret`), and marks the
 *          entry done (1) or failed (2). At the end it gets back to CPL 0
 *          (at CPL 3 through a deliberate #PF, see ka_finish), does `out`
 *          to KA_PORT_DONE, then `hlt`.
 *   fault: every exception stub pushes its vector (and a 0 error code when
 *          the CPU pushes none); the common handler stores vector, error
 *          code, RIP, CR2, CS and the current entry in the mailbox and does
 *          `in` from KA_PORT_FAULT. The host resolves the fault and answers:
 *          0 = retry the access, 1 = give it up. Then the handler executes
 *          any flush the host queued, and returns (to the access, or to
 *          access_failed which restores RSP and marks the entry failed).
 *
 * Registers: r15 = this vCPU's mailbox (set by the host, never changed);
 * in the access loop rbx = current entry, r13 = end of the entries,
 * r12 = RSP before the access. The exception handler preserves every
 * register.
 */
#include "backends/kvm_agent.h"

#if defined(__x86_64__) && defined(__linux__)

#define KA_STR_(x) #x
#define KA_STR(x) KA_STR_(x)

__asm__(
	"	.section .rodata\n"
	"	.balign 16\n"
	"	.globl pw_kvm_agent_start\n"
	"	.hidden pw_kvm_agent_start\n"
	"	.globl pw_kvm_agent_end\n"
	"	.hidden pw_kvm_agent_end\n"
	"	.globl pw_kvm_agent_entry\n"
	"	.hidden pw_kvm_agent_entry\n"
	"	.globl pw_kvm_agent_stubs\n"
	"	.hidden pw_kvm_agent_stubs\n"
	"	.globl pw_kvm_agent_done\n"
	"	.hidden pw_kvm_agent_done\n"
	"pw_kvm_agent_start:\n"
	/* ---- entry, at CPL 0 on the kernel stack ---- */
	"pw_kvm_agent_entry:\n"
	"	call	ka_flush\n"
	"	lea	" KA_STR(MB_ENTRIES) "(%r15), %rbx\n"
	"	mov	" KA_STR(MB_COUNT) "(%r15), %rcx\n"
	"	shl	$5, %rcx\n"		/* * MB_ENTRY_SIZE */
	"	lea	(%rbx,%rcx), %r13\n"
	"	cmpq	$3, " KA_STR(MB_CPL) "(%r15)\n"
	"	jne	ka_loop\n"
	/* Drop to CPL 3: an iret frame SS, RSP, RFLAGS (IOPL 3), CS, RIP. */
	"	pushq	$" KA_STR(KA_SEL_UDATA) "\n"
	"	pushq	" KA_STR(MB_USTACK) "(%r15)\n"
	"	pushq	$0x3002\n"
	"	pushq	$" KA_STR(KA_SEL_UCODE) "\n"
	"	lea	ka_loop(%rip), %rax\n"
	"	pushq	%rax\n"
	"	iretq\n"
	/* ---- the access loop, at CPL 0 or 3 ---- */
	"ka_loop:\n"
	"	cmp	%r13, %rbx\n"
	"	jae	ka_finish\n"
	"	mov	%rsp, %r12\n"
	"	mov	8(%rbx), %rdi\n"		/* address */
	"	mov	16(%rbx), %rsi\n"		/* value to write */
	"	mov	(%rbx), %eax\n"			/* op */
	"	cmp	$1, %eax\n"
	"	je	ka_read\n"
	"	cmp	$2, %eax\n"
	"	je	ka_write\n"
	"	cmp	$3, %eax\n"
	"	je	ka_exec\n"
	"	jmp	ka_access_failed\n"
	"ka_read:\n"
	"	mov	(%rdi), %rsi\n"
	"	mov	%rsi, 16(%rbx)\n"
	"	jmp	ka_ok\n"
	"ka_write:\n"
	"	mov	%rsi, (%rdi)\n"
	"	jmp	ka_ok\n"
	"ka_exec:\n"
	"	call	*%rdi\n"
	"ka_ok:\n"
	"	movl	$1, 4(%rbx)\n"
	"	add	$32, %rbx\n"
	"	jmp	ka_loop\n"
	"ka_access_failed:\n"
	"	mov	%r12, %rsp\n"
	"	movl	$2, 4(%rbx)\n"
	"	add	$32, %rbx\n"
	"	jmp	ka_loop\n"
	/* The end. At CPL 0 this load succeeds and we go on to the done code;
	 * at CPL 3 it faults (a supervisor page) and the exception handler,
	 * which recognises this RIP, goes there at CPL 0. (A software
	 * interrupt would do, but nested hypervisors do not all emulate it.) */
	"ka_finish:\n"
	"	movabs	$" KA_STR(KA_SYS) ", %rax\n"
	"ka_finish_load:\n"
	"	mov	(%rax), %rax\n"
	/* ---- done: tell the host, then halt; at CPL 0 ---- */
	"pw_kvm_agent_done:\n"
	"	mov	$" KA_STR(KA_PORT_DONE) ", %dx\n"
	"	out	%al, %dx\n"
	"1:	hlt\n"
	"	jmp	1b\n"
	/* ---- TLB flushes the host queued in the mailbox (CPL 0) ----
	 * Clobbers rax, rcx, rdx. A CR3 reload subsumes the invlpg list. */
	"ka_flush:\n"
	"	mov	%r15, %rdx\n"
	"	cmpq	$0, " KA_STR(MB_FLUSH_ALL) "(%rdx)\n"
	"	je	1f\n"
	"	mov	%cr3, %rax\n"
	"	mov	%rax, %cr3\n"
	"	movq	$0, " KA_STR(MB_FLUSH_ALL) "(%rdx)\n"
	"	movq	$0, " KA_STR(MB_NR_INVLPG) "(%rdx)\n"
	"	incq	" KA_STR(MB_NR_CR3_FLUSH) "(%rdx)\n"
	"	ret\n"
	"1:	mov	" KA_STR(MB_NR_INVLPG) "(%rdx), %rcx\n"
	"	movq	$0, " KA_STR(MB_NR_INVLPG) "(%rdx)\n"
	"	add	%rcx, " KA_STR(MB_NR_INVLPG_DONE) "(%rdx)\n"
	"	lea	" KA_STR(MB_INVLPG) "(%rdx), %rdx\n"
	"2:	test	%rcx, %rcx\n"
	"	jz	3f\n"
	"	mov	(%rdx), %rax\n"
	"	invlpg	(%rax)\n"
	"	add	$8, %rdx\n"
	"	dec	%rcx\n"
	"	jmp	2b\n"
	"3:	ret\n"
	/* ---- exceptions: common handler, at CPL 0 on the kernel stack ----
	 * Stack after the three pushes: rdx, rcx, rax, vector, error code,
	 * then the CPU's frame RIP, CS, RFLAGS, RSP, SS. */
	"ka_common:\n"
	"	push	%rax\n"
	"	push	%rcx\n"
	"	push	%rdx\n"
	"	lea	ka_finish_load(%rip), %rax\n"
	"	cmp	%rax, 40(%rsp)\n"
	"	je	pw_kvm_agent_done\n"
	"	mov	%r15, %rdx\n"
	"	mov	24(%rsp), %rax\n"
	"	mov	%rax, " KA_STR(MB_F_VEC) "(%rdx)\n"
	"	mov	32(%rsp), %rax\n"
	"	mov	%rax, " KA_STR(MB_F_ERR) "(%rdx)\n"
	"	mov	40(%rsp), %rax\n"
	"	mov	%rax, " KA_STR(MB_F_RIP) "(%rdx)\n"
	"	mov	48(%rsp), %rax\n"
	"	mov	%rax, " KA_STR(MB_F_CS) "(%rdx)\n"
	"	mov	%cr2, %rax\n"
	"	mov	%rax, " KA_STR(MB_F_CR2) "(%rdx)\n"
	"	mov	%rbx, " KA_STR(MB_F_ENTRY) "(%rdx)\n"
	"	mov	$" KA_STR(KA_PORT_FAULT) ", %dx\n"
	"	in	%dx, %eax\n"
	"	push	%rax\n"
	"	call	ka_flush\n"
	"	pop	%rax\n"
	"	test	%eax, %eax\n"
	"	jz	1f\n"
	"	lea	ka_access_failed(%rip), %rax\n"
	"	mov	%rax, 40(%rsp)\n"
	"1:	pop	%rdx\n"
	"	pop	%rcx\n"
	"	pop	%rax\n"
	"	add	$16, %rsp\n"
	"	iretq\n"
	/* ---- 32 exception stubs, 16 bytes apart ----
	 * Vectors 8, 10-14, 17, 21, 29 and 30 come with an error code. */
	"	.balign 16\n"
	"pw_kvm_agent_stubs:\n"
	"	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"	.balign 16\n"
	"	.if (\\v == 8) || ((\\v >= 10) && (\\v <= 14)) || (\\v == 17) || (\\v == 21) || (\\v == 29) || (\\v == 30)\n"
	"	.else\n"
	"	pushq	$0\n"
	"	.endif\n"
	"	pushq	$\\v\n"
	"	jmp	ka_common\n"
	"	.endr\n"
	"	.balign 16\n"
	"pw_kvm_agent_end:\n"
	"	.text\n");

#else
/* Not x86-64 Linux: there is no agent (pw_kvm_create() returns -EOPNOTSUPP). */
typedef int pw_kvm_agent_unused;
#endif
