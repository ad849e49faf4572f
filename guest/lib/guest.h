/*
 * The runtime shared by Kestrel's test guests (guest/lib/): a multiboot v1 kernel that switches
 * to long mode with its own GDT/TSS, IDT and identity page tables, then calls guest_main().
 * The same binary runs natively under QEMU and under Kestrel; docs/test-guests.md has the tour.
 *
 * A test guest is one C file in guest/tests/ that defines `guest_name` and `guest_main`; when
 * guest_main returns, the runtime prints "DONE passed=N failed=M" and powers off (status 0 when
 * nothing failed, else 1).
 */
#ifndef KESTREL_GUEST_H
#define KESTREL_GUEST_H

#include <stdarg.h>
#include <kestrel/cpu.h>
#include <kestrel/hypercall.h>
#include <kestrel/types.h>
#include <kestrel/vmx_exit.h>

/* --- what each test guest defines -------------------------------------------------------- */
extern const char guest_name[]; /* printed in the start line and in failure dumps */
void guest_main(void);

/* --- multiboot (v1) ----------------------------------------------------------------------- */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_MMAP (1u << 6)

struct multiboot_info {
	u32 flags;
	u32 mem_lower, mem_upper; /* KiB below 640 KiB, KiB above 1 MiB (flags bit 0) */
	u32 boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr; /* flags bit 6 */
	u32 drives_length, drives_addr, config_table, boot_loader_name, apm_table;
} __attribute__((packed));

struct multiboot_mmap_entry {
	u32 size; /* of the rest of the entry: the next one starts at &addr + size */
	u64 addr, len;
	u32 type; /* 1 = available RAM */
} __attribute__((packed));

extern u32 guest_boot_magic;                 /* EAX at entry */
extern const struct multiboot_info *guest_mbi; /* EBX at entry; NULL when EAX was wrong */

/* --- the guest's own descriptors (entry.asm, trap.c) --------------------------------------- */
#define GUEST_KERNEL_CS 0x08
#define GUEST_KERNEL_DS 0x10
#define GUEST_USER_CS32 0x1b
#define GUEST_USER_DS 0x23
#define GUEST_USER_CS 0x2b
#define GUEST_TSS_SEL 0x30
/* IA32_STAR for this GDT: SYSCALL loads CS 0x08/SS 0x10, SYSRET loads CS 0x2b/SS 0x23. */
#define GUEST_STAR (((u64)0x18 << 48) | ((u64)GUEST_KERNEL_CS << 32))

/* The register frame every vector's stub builds (entry.asm isr_common). */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error; /* error is 0 for vectors that push none */
	u64 rip, cs, rflags, rsp, ss;
};

/*
 * Expected faults (Linux extable style). An instruction at label `from` that raises an exception
 * (vector < 32) resumes at label `to`; the handler records what happened in guest_fault. Use
 * inside an asm string:  "1: rdmsr\n2:\n" GUEST_EXTABLE(1b, 2b)
 * For a trap (int3, into) list the address after the instruction, where RIP points when the
 * exception is delivered: "int3\n2:\n" GUEST_EXTABLE(2b, 2b).
 */
#define GUEST_EXTABLE(from, to)                                                                   \
	"\n.pushsection .guest_extable,\"a\"\n\t.balign 8\n\t.quad " #from ", " #to               \
	"\n.popsection\n\t"

struct guest_fault {
	u64 count;  /* expected faults so far: compare before/after to see if one happened */
	u64 vector; /* of the last expected fault */
	u64 error;  /* error code (0 when the vector pushes none) */
	u64 rip;    /* where it faulted */
	u64 cr2;    /* CR2 at delivery (meaningful for #PF) */
	u64 cs;     /* CS at delivery: the low 2 bits are the CPL that faulted */
};
extern volatile struct guest_fault guest_fault;

#define NO_FAULT (-1)
/* Each returns NO_FAULT or the vector raised (details in guest_fault). */
int try_rdmsr(u32 msr, u64 *value);
int try_wrmsr(u32 msr, u64 value);
int try_write_cr0(u64 value);
int try_write_cr4(u64 value);
int try_read64(u64 addr, u64 *value);
int try_write64(u64 addr, u64 value);

/* Handlers for vectors >= 32 (called with the frame, on the interrupted stack or RSP0/IST). */
typedef void (*guest_irq_handler)(struct trap_frame *frame);
void guest_set_irq_handler(u8 vector, guest_irq_handler handler);
extern volatile u64 guest_spurious_irqs; /* unhandled IRQ7/IRQ15 (0x27/0x2f) seen */

/* Vector name ("#GP") for messages. */
const char *guest_vector_name(u64 vector);

/* --- page tables: 4 GiB identity map, 2 MiB pages, all U/S=1 ------------------------------- */
#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
/* The 4 KiB PTE mapping va (< 4 GiB), splitting its 2 MiB page on first use (up to 8 splits). */
u64 *guest_pte(u64 va);
/* Map or unmap the 4 KiB page at va (identity), with INVLPG. */
void guest_set_page_present(u64 va, bool present);

/* --- ring 3 ------------------------------------------------------------------------------- */
/*
 * Runs fn(arg) at CPL 3 (IRETQ to GUEST_USER_CS on the runtime's user stack, same RFLAGS.IF as
 * the caller) and returns its result; fn returns to ring 0 through INT 0x80. All memory is user
 * accessible, but ring 3 has IOPL 0: fn must not print or touch ports. Not reentrant. Faults in
 * fn with an extable entry are fixed up as in ring 0.
 */
u64 guest_run_user(u64 (*fn)(u64 arg), u64 arg);
/* A SYSCALL target (IA32_LSTAR) that counts calls and SYSRETs at once, on the user stack. */
void guest_syscall_entry(void);
extern volatile u64 guest_syscall_count;

/* --- console and test protocol ------------------------------------------------------------ */
/* Line-buffered output to the COM1 UART (0x3f8, polled). Lines are plain; Kestrel prefixes
 * each with [guestname] on the host serial. */
void guest_printf(const char *fmt, ...) PRINTF_LIKE(1, 2);
void guest_vprintf(const char *fmt, va_list ap);
void guest_flush(void); /* write out a partial line */
void guest_uart_write(const void *buf, size_t len); /* raw bytes, after a flush */

void guest_pass(const char *name);
void guest_fail(const char *name, const char *why, ...) PRINTF_LIKE(2, 3);
void guest_skip(const char *name, const char *why, ...) PRINTF_LIKE(2, 3);
/* PASS name, or FAIL name: <why>. Returns ok. */
bool guest_check(bool ok, const char *name, const char *why, ...) PRINTF_LIKE(3, 4);
/* PASS, or FAIL "name: got 0x.., want 0x..". */
bool guest_check_eq(const char *name, u64 got, u64 want);
/* SKIP name: not on Kestrel, and returns false natively; true on Kestrel. */
bool guest_kestrel_only(const char *name);
unsigned guest_passed(void);
unsigned guest_failed(void);
/* Prints "DONE passed=N failed=M" and powers off with 0 (no failure) or 1. */
NORETURN void guest_done(void);

/* --- platform ----------------------------------------------------------------------------- */
/* CPUID.1:ECX[31] and leaf 0x40000000 says "Kestrel VMM ". */
bool on_kestrel(void);
/* Ends the guest: HC_POWER_OFF(status) on Kestrel; natively isa-debug-exit (port 0xf4, QEMU
 * exits with (status << 1) | 1). Then cli; hlt forever. */
NORETURN void guest_power_off(u32 status);

/* VMCALL per include/kestrel/hypercall.h. Outside Kestrel VMCALL raises #UD: the wrapper then
 * returns HC_ENOSYS. */
s64 guest_hypercall(u64 nr, u64 rbx, u64 rcx, u64 rdx, u64 rsi);
#define GUEST_EXIT_ALL 0xffffffffu /* HC_EXIT_COUNT reason: exits of every reason */
static inline s64 hc_version(void) { return guest_hypercall(HC_VERSION, 0, 0, 0, 0); }
static inline s64 hc_console_write(const void *buf, u64 len)
{
	return guest_hypercall(HC_CONSOLE_WRITE, (u64)(uintptr_t)buf, len, 0, 0);
}
static inline s64 hc_power_off(u64 status) { return guest_hypercall(HC_POWER_OFF, status, 0, 0, 0); }
static inline u64 hc_exit_count(u32 reason)
{
	return (u64)guest_hypercall(HC_EXIT_COUNT, reason, 0, 0, 0);
}
static inline s64 hc_exit_reset(void) { return guest_hypercall(HC_EXIT_RESET, 0, 0, 0, 0); }
static inline s64 hc_null(void) { return guest_hypercall(HC_NULL, 0, 0, 0, 0); }
/*
 * Exits of `reason` caused by running fn(arg), with the cost of the HC_EXIT_COUNT calls around
 * it subtracted (measured back to back first), so the answer does not depend on whether Kestrel
 * counts the querying VMCALL itself. Only meaningful on Kestrel.
 */
u64 guest_exits_during(u32 reason, void (*fn)(void *arg), void *arg);
/*
 * The same for the exits fn's own instructions cause: every reason except the asynchronous
 * ones (external interrupt, VMX-preemption timer: Kestrel's time slices and device deadlines,
 * which can land anywhere). *async, if not NULL, receives how many of those there were.
 */
u64 guest_sync_exits_during(void (*fn)(void *arg), void *arg, u64 *async);

/* --- time: PIT, PIC, TSC ------------------------------------------------------------------ */
#define PIT_HZ 1193182u
/* 8259 pair: ICW1 0x11, vectors 0x20/0x28, cascade on IRQ2, 8086 mode; then OCW1 masks. */
void pic_init(u16 unmasked_irqs); /* bit n = IRQ n; IRQ2 (cascade) is added when any of 8-15 */
void pic_eoi(unsigned irq);
void pic_mask_all(void);
u16 pic_read_irr(void); /* OCW3 read of the request registers: bit n = IRQ n requested */
/* Channel 0, mode 2 (rate generator), lobyte/hibyte, at hz. */
void pit_start(unsigned hz);
void pit_stop(void); /* channel 0 to mode 0 with count 1: one last tick, then none */
/* TSC ticks per ms: CPUID 0x40000010 on Kestrel, else CPUID 0x15, else the median of five
 * 20 ms PIT channel 2 one-shots (port 0x61 gate). Computed once. */
u64 guest_tsc_khz(void);
void guest_delay_us(u64 us); /* TSC busy-wait (interrupts as they are) */

/* --- CPU instructions: Kestrel's own wrappers (include/kestrel/cpu.h), plus CR8 ----------- */
static inline u64 read_cr8(void)
{
	u64 v;
	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

static inline void write_cr8(u64 v)
{
	__asm__ volatile("mov %0, %%cr8" : : "r"(v) : "memory");
}

static inline void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }

#define CR0_MP (1ull << 1)
#define CR0_NE (1ull << 5)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_SCE (1ull << 0)
#define EFER_LMA (1ull << 10)

#define MSR_IA32_TSC 0x010
#define MSR_IA32_APIC_BASE 0x01b
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_PAT 0x277
#define MSR_IA32_MTRR_DEF_TYPE 0x2ff
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102


/* --- for the hostile-guest suite (guest/tests/hostile-*.c, victim.c, randinsn.c) ---------- */
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
/* The multiboot command line (Kestrel: the guest's `cmdline` key), "" when there is none. */
const char *guest_cmdline(void);
/* The value of `key=VALUE` on the command line (words separated by spaces). */
bool guest_cmdline_str(const char *key, char *buf, size_t len);
/* `key=N`, N decimal or 0x-hex with an optional K/M/G suffix; false (and *value untouched)
 * when the key is absent or the number malformed. */
bool guest_cmdline_u64(const char *key, u64 *value);
/* The end of guest RAM above 1 MiB (1 MiB + mem_upper), 0 without multiboot memory info. */
u64 guest_ram_end(void);
/*
 * A hook called first for every vector (exceptions included), before the extable and the
 * registered handlers: returning true means the hook dealt with it (it may change the frame).
 * NULL removes it.
 */
typedef bool (*guest_trap_hook_fn)(struct trap_frame *frame);
void guest_set_trap_hook(guest_trap_hook_fn hook);
/* A deterministic PRNG (splitmix64): the same seed gives the same stream everywhere. */
static inline u64 guest_rand(u64 *state)
{
	u64 z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Runtime internals shared between the runtime's files. */
void guest_trap_init(void);
void guest_uart_init(void);
void guest_trap(struct trap_frame *frame);

#endif
