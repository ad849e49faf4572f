/*
 * The guest's TSS and IDT, the common trap handler (extable fixups, registered interrupt
 * handlers, dumps of unexpected exceptions), page-table splitting and ring 3 entry.
 */
#include <kestrel/string.h>
#include <kestrel/x86_desc.h>
#include "guest.h"

#define IST_DOUBLE_FAULT 1
#define STACK_SIZE 16384
#define GATE_INTERRUPT 0x8e      /* present, DPL 0, 64-bit interrupt gate */
#define GATE_INTERRUPT_USER 0xee /* the same with DPL 3: INT n allowed from ring 3 */
#define USER_RETURN_VECTOR 0x80
#define PIC_SPURIOUS_MASTER 0x27
#define PIC_SPURIOUS_SLAVE 0x2f

struct extable_entry {
	u64 insn, fixup;
};

extern u64 guest_gdt[];
extern const u8 guest_isr_stubs[];
extern u64 guest_pd[];
extern const struct extable_entry __extable_start[], __extable_end[];
extern void guest_user_return(void);
extern u64 guest_user_call(u64 (*fn)(u64), u64 arg, void *user_stack_top);

volatile struct guest_fault guest_fault;
volatile u64 guest_spurious_irqs;

static struct idt_gate idt[256] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static u8 ist_stack[STACK_SIZE] __attribute__((aligned(16)));
static u8 rsp0_stack[STACK_SIZE] __attribute__((aligned(16)));
static u8 user_stack[STACK_SIZE] __attribute__((aligned(16)));
static guest_irq_handler irq_handlers[256];
static bool in_fatal;

static const char *const vector_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

const char *guest_vector_name(u64 vector)
{
	if (vector < 32 && vector_names[vector])
		return vector_names[vector];
	return vector < 32 ? "reserved" : "interrupt";
}

static void set_gate(unsigned vector, u64 handler, u8 type, u8 ist)
{
	idt[vector] = idt_gate_make(handler, GUEST_KERNEL_CS, type, ist);
}

void guest_trap_init(void)
{
	u64 base = (u64)(uintptr_t)&tss, limit = sizeof(tss) - 1;
	struct descriptor_pointer idtr = { sizeof(idt) - 1, (u64)(uintptr_t)idt };

	tss.rsp[0] = (u64)(uintptr_t)(rsp0_stack + sizeof(rsp0_stack));
	tss.ist[IST_DOUBLE_FAULT - 1] = (u64)(uintptr_t)(ist_stack + sizeof(ist_stack));
	tss.iomap_base = sizeof(tss); /* no I/O bitmap: ring 3 has no port access */

	guest_gdt[GUEST_TSS_SEL / 8] = tss_descriptor_low(base, limit);
	guest_gdt[GUEST_TSS_SEL / 8 + 1] = tss_descriptor_high(base);
	__asm__ volatile("ltr %w0" : : "r"(GUEST_TSS_SEL) : "memory");

	for (unsigned v = 0; v < 256; v++)
		set_gate(v, (u64)(uintptr_t)(guest_isr_stubs + 16 * v), GATE_INTERRUPT, 0);
	/* NMI, #DF and #MC on their own stack: a broken stack still ends in a readable dump. */
	idt[2].ist = IST_DOUBLE_FAULT;
	idt[8].ist = IST_DOUBLE_FAULT;
	idt[18].ist = IST_DOUBLE_FAULT;
	/* int3 and into may be used from ring 3, and INT 0x80 is the way back from ring 3. */
	idt[3].type = GATE_INTERRUPT_USER;
	idt[4].type = GATE_INTERRUPT_USER;
	set_gate(USER_RETURN_VECTOR, (u64)(uintptr_t)guest_user_return, GATE_INTERRUPT_USER, 0);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

void guest_set_irq_handler(u8 vector, guest_irq_handler handler)
{
	irq_handlers[vector] = handler;
}

static const struct extable_entry *extable_find(u64 rip)
{
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++)
		if (e->insn == rip)
			return e;
	return NULL;
}

static NORETURN void fatal(struct trap_frame *f)
{
	u64 cr2 = read_cr2();

	if (in_fatal) /* a fault while reporting one: just stop */
		guest_power_off(1);
	in_fatal = true;

	guest_printf("\n");
	guest_fail(guest_name, "unexpected %s %s (vector %llu) error 0x%llx at rip 0x%llx (CPL %llu)",
		   f->vector < 32 ? "exception" : "interrupt", guest_vector_name(f->vector), f->vector,
		   f->error, f->rip, f->cs & 3);
	guest_printf("  rip %016llx cs %04llx rflags %016llx rsp %016llx ss %04llx\n", f->rip, f->cs,
		     f->rflags, f->rsp, f->ss);
	guest_printf("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n", read_cr0(), cr2,
		     read_cr3(), read_cr4());
	guest_printf("  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", f->rax, f->rbx, f->rcx,
		     f->rdx);
	guest_printf("  rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n", f->rsi, f->rdi, f->rbp,
		     f->r8);
	guest_printf("  r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n", f->r9, f->r10, f->r11,
		     f->r12);
	guest_printf("  r13 %016llx r14 %016llx r15 %016llx\n", f->r13, f->r14, f->r15);
	guest_done();
}

static guest_trap_hook_fn trap_hook;

void guest_set_trap_hook(guest_trap_hook_fn hook)
{
	trap_hook = hook;
}

void guest_trap(struct trap_frame *f)
{
	if (trap_hook && trap_hook(f))
		return;
	if (f->vector < 32) {
		const struct extable_entry *e = extable_find(f->rip);

		if (!e)
			fatal(f);
		guest_fault.vector = f->vector;
		guest_fault.error = f->error;
		guest_fault.rip = f->rip;
		guest_fault.cr2 = read_cr2();
		guest_fault.cs = f->cs;
		guest_fault.count++;
		f->rip = e->fixup;
		return;
	}
	if (irq_handlers[f->vector]) {
		irq_handlers[f->vector](f);
		return;
	}
	/* The 8259 signals IRQ7/IRQ15 for an interrupt that went away before INTA: ignore those
	 * (IRQ15 still needs an EOI to the master, for the cascade). */
	if (f->vector == PIC_SPURIOUS_MASTER || f->vector == PIC_SPURIOUS_SLAVE) {
		if (f->vector == PIC_SPURIOUS_SLAVE)
			outb(0x20, 0x20);
		guest_spurious_irqs++;
		return;
	}
	fatal(f);
}

/* --- page tables -------------------------------------------------------------------------- */
#define MAX_SPLITS 8
#define ADDR_MASK 0x000ffffffffff000ull

static u64 page_tables[MAX_SPLITS][512] __attribute__((aligned(4096)));
static unsigned n_splits;

u64 *guest_pte(u64 va)
{
	u64 *pde = &guest_pd[(va >> 21) & 2047];
	u64 *pt;

	if (va >= GiB(4)) {
		guest_fail(guest_name, "guest_pte(0x%llx): only the first 4 GiB are mapped", va);
		guest_done();
	}
	if (*pde & PTE_PS) {
		u64 base = *pde & ADDR_MASK & ~(MiB(2) - 1);
		u64 flags = *pde & (PTE_P | PTE_W | PTE_U | PTE_NX | (1ull << 3) | (1ull << 4));

		if (n_splits == MAX_SPLITS) {
			guest_fail(guest_name, "guest_pte: more than %d 2 MiB pages split", MAX_SPLITS);
			guest_done();
		}
		pt = page_tables[n_splits++];
		for (unsigned i = 0; i < 512; i++)
			pt[i] = (base + i * PAGE_SIZE) | flags;
		*pde = (u64)(uintptr_t)pt | PTE_P | PTE_W | PTE_U;
		write_cr3(read_cr3()); /* same translations, but drop the 2 MiB TLB entry */
	}
	pt = (u64 *)(uintptr_t)(*pde & ADDR_MASK);
	return &pt[(va >> 12) & 511];
}

void guest_set_page_present(u64 va, bool present)
{
	u64 *pte = guest_pte(va);

	if (present)
		*pte |= PTE_P;
	else
		*pte &= ~PTE_P;
	invlpg(va);
}

/* --- ring 3 ------------------------------------------------------------------------------- */
u64 guest_run_user(u64 (*fn)(u64 arg), u64 arg)
{
	return guest_user_call(fn, arg, user_stack + sizeof(user_stack));
}
