/* Kestrel's own descriptor tables and exception handling (root mode). */
#ifndef KESTREL_ARCH_H
#define KESTREL_ARCH_H

#include <kestrel/types.h>

#define GDT_SEL_CODE 0x08
#define GDT_SEL_DATA 0x10
#define GDT_SEL_TSS 0x18

#define IST_FAULT 1 /* #DF, NMI, #MC run on their own stack: the normal one may be the culprit */

/* The register frame arch/isr.asm builds; field order is fixed by its pushes. */
struct exception_frame {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* Load this CPU's GDT (code, data, 64-bit TSS) and TR. `ist_top` becomes IST1. */
void gdt_load(u64 ist_top);

/* What a VMCS's host-state area needs to rebuild this CPU's tables after an exit. */
u64 gdt_base(void);
u64 tss_base(void);
u64 idt_base(void);

/* Load the IDT: every vector goes to exception_dispatch(). */
void idt_load(void);

/* Called by arch/isr.asm; dumps the state and ends the run. */
NORETURN void exception_dispatch(struct exception_frame *f);

/* Switch to a new stack and call fn(arg) on it; never returns. */
NORETURN void arch_run_on_stack(u64 stack_top, void (*fn)(void *), void *arg);

#endif
