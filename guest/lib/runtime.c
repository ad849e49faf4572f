/*
 * The test-guest runtime: start-up after long mode, the COM1 console, the PASS/FAIL/SKIP
 * protocol, platform detection, hypercalls, power-off and the fault-tolerant instruction
 * wrappers.
 */
#include <kestrel/fmt.h>
#include <kestrel/string.h>
#include "guest.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20
#define UART_SPIN_LIMIT 1000000 /* a missing UART must not hang the guest */

#define ISA_DEBUG_EXIT_PORT 0xf4

extern u32 guest_boot_mbi; /* entry.asm, as guest_boot_magic */
extern const char __image_start[], __image_end[];

const struct multiboot_info *guest_mbi;
static struct multiboot_info mbi_copy;

static unsigned n_passed, n_failed, n_skipped;

void guest_start(u32 magic, u32 mbi);

/* --- console ------------------------------------------------------------------------------ */
static char line[512];
static size_t line_len;

void guest_uart_init(void)
{
	outb(COM1 + UART_IER, 0x00);  /* no UART interrupts: polled */
	outb(COM1 + UART_LCR, 0x80);  /* DLAB */
	outb(COM1 + 0, 0x01);         /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03);  /* 8N1 */
	outb(COM1 + UART_FCR, 0xc7);  /* FIFOs on and cleared, 14-byte threshold */
	outb(COM1 + UART_MCR, 0x03);  /* DTR, RTS (no OUT2: no IRQ) */
}

static void uart_putc(u8 c)
{
	for (unsigned i = 0; i < UART_SPIN_LIMIT; i++)
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	outb(COM1 + UART_THR, c);
}

void guest_flush(void)
{
	for (size_t i = 0; i < line_len; i++)
		uart_putc((u8)line[i]);
	line_len = 0;
}

void guest_uart_write(const void *buf, size_t len)
{
	const u8 *p = buf;

	guest_flush();
	while (len--)
		uart_putc(*p++);
}

static void put_char(char c)
{
	line[line_len++] = c;
	if (c == '\n' || line_len == sizeof(line))
		guest_flush();
}

void guest_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	size_t n = fmt_vsnprintf(buf, sizeof(buf), fmt, ap);

	n = MIN(n, sizeof(buf) - 1);
	for (size_t i = 0; i < n; i++)
		put_char(buf[i]);
}

void guest_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	guest_vprintf(fmt, ap);
	va_end(ap);
}

/* --- test protocol ------------------------------------------------------------------------ */
void guest_pass(const char *name)
{
	n_passed++;
	guest_printf("PASS %s\n", name);
}

static void verdict(const char *word, const char *name, const char *why, va_list ap)
{
	guest_printf("%s %s: ", word, name);
	guest_vprintf(why, ap);
	guest_printf("\n");
}

void guest_fail(const char *name, const char *why, ...)
{
	va_list ap;

	n_failed++;
	va_start(ap, why);
	verdict("FAIL", name, why, ap);
	va_end(ap);
}

void guest_skip(const char *name, const char *why, ...)
{
	va_list ap;

	n_skipped++;
	va_start(ap, why);
	verdict("SKIP", name, why, ap);
	va_end(ap);
}

bool guest_check(bool ok, const char *name, const char *why, ...)
{
	va_list ap;

	if (ok) {
		guest_pass(name);
		return true;
	}
	n_failed++;
	va_start(ap, why);
	verdict("FAIL", name, why, ap);
	va_end(ap);
	return false;
}

bool guest_check_eq(const char *name, u64 got, u64 want)
{
	return guest_check(got == want, name, "got 0x%llx, want 0x%llx", got, want);
}

bool guest_kestrel_only(const char *name)
{
	if (on_kestrel())
		return true;
	guest_skip(name, "not on Kestrel");
	return false;
}

unsigned guest_passed(void)
{
	return n_passed;
}

unsigned guest_failed(void)
{
	return n_failed;
}

NORETURN void guest_done(void)
{
	guest_printf("DONE passed=%u failed=%u\n", n_passed, n_failed);
	guest_power_off(n_failed ? 1 : 0);
}

/* --- platform ----------------------------------------------------------------------------- */
bool on_kestrel(void)
{
	static int cached = -1; /* computed once; CPUID exits on Kestrel */

	if (cached < 0) {
		struct cpuid_regs r = cpuid(1, 0);
		bool yes = false;

		if (r.ecx & (1u << 31)) {
			char sig[12];

			r = cpuid(KESTREL_CPUID_BASE, 0);
			memcpy(sig + 0, &r.ebx, 4);
			memcpy(sig + 4, &r.ecx, 4);
			memcpy(sig + 8, &r.edx, 4);
			yes = memcmp(sig, KESTREL_SIGNATURE, 12) == 0;
		}
		cached = yes;
	}
	return cached;
}

s64 guest_hypercall(u64 nr, u64 rbx, u64 rcx, u64 rdx, u64 rsi)
{
	u64 rax = nr;

	/* Natively VMCALL raises #UD: the extable entry turns that into HC_ENOSYS. */
	__asm__ volatile("1: vmcall\n\t"
			 "jmp 3f\n"
			 "2: mov $%c[enosys], %%rax\n"
			 "3:" GUEST_EXTABLE(1b, 2b)
			 : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi)
			 : [enosys] "i"(HC_ENOSYS)
			 : "memory");
	return (s64)rax;
}

static void nothing(void *arg)
{
	(void)arg;
}

static u64 exits_around(u32 reason, void (*fn)(void *), void *arg)
{
	u64 before = hc_exit_count(reason);

	fn(arg);
	return hc_exit_count(reason) - before;
}

u64 guest_exits_during(u32 reason, void (*fn)(void *arg), void *arg)
{
	u64 baseline = exits_around(reason, nothing, NULL);
	u64 total = exits_around(reason, fn, arg);

	return total >= baseline ? total - baseline : 0;
}

struct sync_count {
	u64 all, async;
};

/* Exits of every reason and of the asynchronous reasons across fn (VMCALLs included). */
static struct sync_count sync_exits_around(void (*fn)(void *), void *arg)
{
	u64 all = hc_exit_count(GUEST_EXIT_ALL);
	u64 irq = hc_exit_count(EXIT_REASON_EXTERNAL_INTERRUPT);
	u64 timer = hc_exit_count(EXIT_REASON_PREEMPTION_TIMER);
	struct sync_count c;

	fn(arg);
	c.all = hc_exit_count(GUEST_EXIT_ALL) - all;
	c.async = hc_exit_count(EXIT_REASON_EXTERNAL_INTERRUPT) - irq +
		  hc_exit_count(EXIT_REASON_PREEMPTION_TIMER) - timer;
	return c;
}

u64 guest_sync_exits_during(void (*fn)(void *arg), void *arg, u64 *async)
{
	struct sync_count base = sync_exits_around(nothing, NULL);
	struct sync_count run = sync_exits_around(fn, arg);
	u64 base_sync = base.all - MIN(base.async, base.all);
	u64 run_sync = run.all - MIN(run.async, run.all);

	if (async)
		*async = run.async;
	return run_sync > base_sync ? run_sync - base_sync : 0;
}

NORETURN void guest_power_off(u32 status)
{
	guest_flush();
	if (on_kestrel())
		hc_power_off(status);
	else
		outb(ISA_DEBUG_EXIT_PORT, (u8)status); /* QEMU exits with (status << 1) | 1 */
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* --- fault-tolerant instructions ---------------------------------------------------------- */
#define FAULT_RESULT(before) (guest_fault.count != (before) ? (int)guest_fault.vector : NO_FAULT)

int try_rdmsr(u32 msr, u64 *value)
{
	u64 before = guest_fault.count;
	u32 lo = 0, hi = 0;

	__asm__ volatile("1: rdmsr\n2:" GUEST_EXTABLE(1b, 2b) : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*value = ((u64)hi << 32) | lo;
	return FAULT_RESULT(before);
}

int try_wrmsr(u32 msr, u64 value)
{
	u64 before = guest_fault.count;

	__asm__ volatile("1: wrmsr\n2:" GUEST_EXTABLE(1b, 2b)
			 : : "c"(msr), "a"((u32)value), "d"((u32)(value >> 32)) : "memory");
	return FAULT_RESULT(before);
}

int try_write_cr0(u64 value)
{
	u64 before = guest_fault.count;

	__asm__ volatile("1: mov %0, %%cr0\n2:" GUEST_EXTABLE(1b, 2b) : : "r"(value) : "memory");
	return FAULT_RESULT(before);
}

int try_write_cr4(u64 value)
{
	u64 before = guest_fault.count;

	__asm__ volatile("1: mov %0, %%cr4\n2:" GUEST_EXTABLE(1b, 2b) : : "r"(value) : "memory");
	return FAULT_RESULT(before);
}

int try_read64(u64 addr, u64 *value)
{
	u64 before = guest_fault.count;
	u64 v = 0;

	__asm__ volatile("1: mov (%1), %0\n2:" GUEST_EXTABLE(1b, 2b) : "+r"(v) : "r"(addr) : "memory");
	*value = v;
	return FAULT_RESULT(before);
}

int try_write64(u64 addr, u64 value)
{
	u64 before = guest_fault.count;

	__asm__ volatile("1: mov %1, (%0)\n2:" GUEST_EXTABLE(1b, 2b) : : "r"(addr), "r"(value) : "memory");
	return FAULT_RESULT(before);
}

/* --- start-up ----------------------------------------------------------------------------- */
static void describe_boot(void)
{
	const struct multiboot_info *mbi = guest_mbi;

	guest_printf("%s: Kestrel test guest, running %s\n", guest_name,
		     on_kestrel() ? "on Kestrel" : "natively (not on Kestrel)");
	if (!mbi) {
		guest_printf("%s: EAX = 0x%x at entry, not the multiboot magic 0x%x: no boot info\n",
			     guest_name, guest_boot_magic, MULTIBOOT_BOOTLOADER_MAGIC);
		return;
	}
	if (mbi->flags & MULTIBOOT_INFO_MEMORY)
		guest_printf("%s: multiboot info at 0x%x: mem_lower %u KiB, mem_upper %u KiB%s\n",
			     guest_name, guest_boot_mbi, mbi->mem_lower, mbi->mem_upper,
			     mbi->flags & MULTIBOOT_INFO_MMAP ? ", memory map" : "");
	else
		guest_printf("%s: multiboot info at 0x%x without memory information (flags 0x%x)\n",
			     guest_name, guest_boot_mbi, mbi->flags);
}

NORETURN void guest_start(u32 magic, u32 mbi)
{
	guest_uart_init();
	guest_trap_init();

	if (magic == MULTIBOOT_BOOTLOADER_MAGIC && mbi) {
		/* A copy: tests may unmap or scribble on low memory. The mmap stays where it is. */
		memcpy(&mbi_copy, (const void *)(uintptr_t)mbi, sizeof(mbi_copy));
		guest_mbi = &mbi_copy;
		if (mbi >= (uintptr_t)__image_start && mbi < (uintptr_t)__image_end)
			guest_printf("%s: warning: the multiboot info at 0x%x lies inside the image "
				     "(0x%llx-0x%llx), whose .bss was just zeroed\n", guest_name, mbi,
				     (u64)(uintptr_t)__image_start, (u64)(uintptr_t)__image_end);
	}
	describe_boot();
	guest_main();
	guest_done();
}
