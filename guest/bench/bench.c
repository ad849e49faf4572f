/*
 * bench: what a VM exit costs, seen from the guest. A multiboot guest built on the test-guest
 * runtime (guest/lib/) that times one operation at a time with the TSC and prints one JSON line
 * per operation:
 *
 *   BENCH {"op":"cpuid","iterations":2000,"min":..,"median":..,"p99":..,"exits_per_op":1.00,..}
 *
 * The same binary runs under Kestrel and natively (QEMU TCG, Bochs through GRUB). On Kestrel it
 * also asks the hypervisor how many exits each operation caused (HC_EXIT_COUNT) and what their
 * root-mode part cost (HC_EXIT_STATS, read after every sample, so the root figures are exact
 * per-iteration values, not histogram estimates); natively those fields are null.
 *
 * Determinism: fixed iteration counts, no randomness, no printing while measuring (all lines
 * are printed at the end), so under Bochs (TSC = retired instructions) two runs print the same
 * numbers. docs/measuring.md explains the method and how to read the figures.
 */
#include <kestrel/fmt.h>
#include <kestrel/string.h>
#include "guest.h"

const char guest_name[] = "bench";

#define N_SAMPLES 2000 /* timed samples of a cheap operation */
#define N_WARMUP 200   /* untimed iterations first (caches, TLB, branch predictors, lazy setup) */
#define N_HLT 100      /* HLT wake-ups: each waits HLT_DELAY ticks */
#define N_MEM 200      /* passes over MEM_BYTES */
#define N_MAX N_SAMPLES
#define HLT_DELAY 100000ull /* TSC ticks from arming the deadline to the deadline */
#define MEM_BYTES (256 * 1024)
#define MEM_STRIDE 64
#define REP_BYTES 64

#define NO_REASON 0xffffffffu
#define EXIT_REASON_INTERRUPT_WINDOW 7
#define EXIT_REASON_XSETBV 55

#define UART_SCR 0x3ff     /* 16550 scratch register: emulated by Kestrel's UART */
#define UNCLAIMED_PORT 0x3e0 /* no device of Kestrel's virtual PC (guest/vm.c) claims it */
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_VERSION_REG 1
#define XAPIC_BASE 0xfee00000ull

#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define APIC_BASE_EN (1ull << 11)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_IRR 0x200
#define APIC_ICR 0x300
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_SELF_IPI 0x3f0
#define LVT_MASKED (1u << 16)
#define LVT_TSC_DEADLINE (2u << 17)
#define ICR_SELF (1u << 18)
#define VEC_TIMER 0xe0
#define VEC_IPI 0xe1
#define VEC_SPURIOUS 0xff

#define CR4_OSXSAVE (1ull << 18)
#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_XSAVE (1u << 26)
#define CPUID1_EDX_APIC (1u << 9)
#define SFMASK_VALUE 0x47700ull /* clear TF, IF, DF, AC, NT on SYSCALL */

/* --- timing ------------------------------------------------------------------------------- */
/*
 * Start: LFENCE waits until every earlier instruction has completed locally, then RDTSC, then
 * LFENCE again so that the measured code does not start before the TSC was read. End: LFENCE
 * (the measured instructions have completed) then RDTSC. RDTSCP is not used: Kestrel hides it.
 * CPUID, the classic serializing fence, would itself exit under a hypervisor.
 */
static inline u64 tsc_begin(void)
{
	u32 lo, hi;

	__asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
	return (u64)hi << 32 | lo;
}

static inline u64 tsc_end(void)
{
	u32 lo, hi;

	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (u64)hi << 32 | lo;
}

static u64 samples[N_MAX], root[N_MAX];
static bool kestrel;

/* --- platform state ----------------------------------------------------------------------- */
static bool have_apic, have_x2apic, have_tsc_deadline, have_xsave;
static volatile u64 irq_tsc, irq_count;

static u64 apic_read(u32 reg)
{
	if (have_x2apic)
		return rdmsr(MSR_X2APIC_FIRST + (reg >> 4));
	return *(volatile u32 *)(uintptr_t)(XAPIC_BASE + reg);
}

static void apic_write(u32 reg, u32 value)
{
	if (have_x2apic)
		wrmsr(MSR_X2APIC_FIRST + (reg >> 4), value);
	else
		*(volatile u32 *)(uintptr_t)(XAPIC_BASE + reg) = value;
}

static void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

/* Timer and IPI handlers: note the TSC first (the end of the measured path), then EOI. */
static void timer_irq(struct trap_frame *f)
{
	(void)f;
	irq_tsc = tsc_end();
	irq_count++;
	apic_eoi();
}

static void spurious_irq(struct trap_frame *f)
{
	(void)f;
}

static void apic_setup(void)
{
	struct cpuid_regs r = cpuid(1, 0);

	have_apic = r.edx & CPUID1_EDX_APIC;
	have_x2apic = r.ecx & CPUID1_ECX_X2APIC;
	have_tsc_deadline = have_apic && (r.ecx & CPUID1_ECX_TSC_DEADLINE);
	have_xsave = r.ecx & CPUID1_ECX_XSAVE;
	pic_mask_all(); /* natively the firmware's 8254 tick must not reach us */
	if (!have_apic)
		return;
	wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_EN |
					  (have_x2apic ? APIC_BASE_EXTD : 0));
	guest_set_irq_handler(VEC_TIMER, timer_irq);
	guest_set_irq_handler(VEC_IPI, timer_irq);
	guest_set_irq_handler(VEC_SPURIOUS, spurious_irq);
	apic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	apic_write(APIC_LVT_LINT0, LVT_MASKED);
	apic_write(APIC_LVT_LINT1, LVT_MASKED);
	apic_write(APIC_LVT_ERROR, LVT_MASKED | VEC_SPURIOUS);
}

/* --- hypercalls ----------------------------------------------------------------------------- */
static struct hc_exit_stats stats_a, stats_b;

static void fetch_stats(u32 reason, struct hc_exit_stats *s)
{
	if (guest_hypercall(HC_EXIT_STATS, reason, (u64)(uintptr_t)s, 0, 0) != HC_OK)
		memset(s, 0, sizeof(*s));
}

/* Exits around a stretch of code: every reason, and the asynchronous ones (external
 * interrupt, VMX-preemption timer) that can land anywhere. */
struct bracket {
	u64 all, irq, timer;
};

static s64 bracket_overhead; /* exits an empty bracket shows: its own counting VMCALLs */

static void bracket_begin(struct bracket *b)
{
	b->irq = hc_exit_count(EXIT_REASON_EXTERNAL_INTERRUPT);
	b->timer = hc_exit_count(EXIT_REASON_PREEMPTION_TIMER);
	b->all = hc_exit_count(GUEST_EXIT_ALL);
}

/* Returns the exits the code caused (asynchronous ones and the bracket's own excluded). */
static s64 bracket_end(const struct bracket *b, u64 *async)
{
	u64 all = hc_exit_count(GUEST_EXIT_ALL);
	u64 irq = hc_exit_count(EXIT_REASON_EXTERNAL_INTERRUPT);
	u64 timer = hc_exit_count(EXIT_REASON_PREEMPTION_TIMER);

	*async = irq - b->irq + timer - b->timer;
	return (s64)(all - b->all) - (s64)*async - bracket_overhead;
}

/* Let Kestrel drain its console (1 ms preemption-timer exits while output is buffered) before
 * anything is measured: wait until a 5 ms stretch passes without an asynchronous exit. */
static void quiesce(void)
{
	guest_flush();
	if (!kestrel)
		return;
	for (int i = 0; i < 200; i++) {
		struct bracket b;
		u64 async;

		bracket_begin(&b);
		guest_delay_us(5000);
		bracket_end(&b, &async);
		if (!async)
			return;
	}
}

/* --- the operations ----------------------------------------------------------------------- */
static u64 mtrr_def_type, lstar_value, cr0_value, xcr0_value;
static u8 rep_buffer[REP_BYTES] __attribute__((aligned(64)));
static u8 mem_buffer[MEM_BYTES] __attribute__((aligned(4096)));

static void op_empty(void)
{
}

static void op_rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
}

static void op_cpuid(void)
{
	u32 a = KESTREL_CPUID_BASE, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

static void op_vmcall(void)
{
	u64 rax = HC_NULL;

	__asm__ volatile("vmcall" : "+a"(rax) : : "rbx", "rcx", "rdx", "rsi", "memory");
}

static void op_rdmsr_mtrr(void)
{
	(void)rdmsr(MSR_IA32_MTRR_DEF_TYPE);
}

static void op_wrmsr_mtrr(void)
{
	wrmsr(MSR_IA32_MTRR_DEF_TYPE, mtrr_def_type);
}

static void op_rdmsr_lstar(void)
{
	(void)rdmsr(MSR_LSTAR);
}

static void op_wrmsr_lstar(void)
{
	wrmsr(MSR_LSTAR, lstar_value);
}

static void op_in_scr(void)
{
	(void)inb(UART_SCR);
}

static void op_out_scr(void)
{
	outb(UART_SCR, 0x5a);
}

static void op_in_unclaimed(void)
{
	(void)inb(UNCLAIMED_PORT);
}

static void op_out_unclaimed(void)
{
	outb(UNCLAIMED_PORT, 0x5a);
}

static void op_rep_outsb(void)
{
	const void *src = rep_buffer;
	u64 n = REP_BYTES;

	__asm__ volatile("rep outsb" : "+S"(src), "+c"(n) : "d"((u16)UNCLAIMED_PORT) : "memory");
}

static void op_cr0_cd(void)
{
	write_cr0(cr0_value | CR0_CD);
	write_cr0(cr0_value);
}

static void op_cr8(void)
{
	write_cr8(1);
	write_cr8(0);
}

static void op_mmio(void)
{
	volatile u32 *ioapic = (volatile u32 *)(uintptr_t)IOAPIC_BASE;
	u32 v;

	/* Plain MOVs, which Kestrel's instruction decoder emulates: IOREGSEL, then IOWIN. */
	__asm__ volatile("movl %1, (%2)\n\tmovl 0x10(%2), %0"
			 : "=r"(v) : "r"((u32)IOAPIC_VERSION_REG), "r"(ioapic) : "memory");
}

static void op_xsetbv(void)
{
	__asm__ volatile("xsetbv" : : "c"(0), "a"((u32)xcr0_value), "d"((u32)(xcr0_value >> 32))
			 : "memory");
}

static void op_mem(void)
{
	const volatile u8 *p = mem_buffer;

	for (u32 i = 0; i < MEM_BYTES; i += MEM_STRIDE)
		(void)p[i];
}

/* One page cleared with REP STOSB, as Linux's clear_page_erms does. */
static void op_rep_stosb(void)
{
	void *dst = mem_buffer;
	u64 n = PAGE_SIZE;

	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0) : "memory");
}

/* --- custom samples: interrupts ------------------------------------------------------------ */
static u64 hlt_missed; /* deadlines that had passed before HLT (then not a HLT wake-up) */

/*
 * TSC deadline to handler: arm the deadline HLT_DELAY ticks ahead, STI;HLT (the STI shadow
 * keeps the interrupt out until HLT has started), and the handler notes the TSC.
 */
static u64 sample_hlt(void)
{
	u64 seen = irq_count, deadline = rdtsc() + HLT_DELAY;

	wrmsr(MSR_TSC_DEADLINE, deadline);
	if (rdtsc() >= deadline)
		hlt_missed++;
	while (irq_count == seen)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	return irq_tsc - deadline;
}

static u64 intwin_late; /* self-IPIs not yet pending at STI (natively: IPI delivery delay) */

/*
 * Interrupt window: with IF=0 send a self-IPI (on Kestrel a WRMSR exit that leaves the interrupt
 * pending and arms interrupt-window exiting), then time STI;NOP: the window opens after the
 * instruction following STI, Kestrel injects the interrupt and the handler notes the TSC.
 */
static u64 sample_intwin(void)
{
	u64 seen = irq_count, t0;

	if (have_x2apic)
		apic_write(APIC_SELF_IPI, VEC_IPI);
	else
		apic_write(APIC_ICR, ICR_SELF | VEC_IPI);
	if (!kestrel) {
		/* Natively the IPI may take a moment to reach the IRR: wait for it (bounded). */
		for (int i = 0; i < 100000; i++)
			if (apic_read(APIC_IRR + 0x10 * (VEC_IPI / 32)) & (1u << (VEC_IPI % 32)))
				break;
	}
	t0 = tsc_begin();
	__asm__ volatile("sti; nop; cli" ::: "memory");
	if (irq_count == seen) {
		intwin_late++;
		while (irq_count == seen)
			__asm__ volatile("sti; nop; cli" ::: "memory");
	}
	return irq_tsc - t0;
}

/* --- custom pass: SYSCALL/SYSRET in ring 3 -------------------------------------------------- */
struct user_pass {
	u64 *out;
	u64 n;
};

static u64 user_syscalls(u64 arg)
{
	struct user_pass *p = (struct user_pass *)(uintptr_t)arg;

	for (u64 i = 0; i < p->n; i++) {
		u64 t0 = tsc_begin();

		__asm__ volatile("syscall" : : : "rcx", "r11", "memory");
		p->out[i] = tsc_end() - t0;
	}
	return p->n;
}

static void pass_syscall(u64 *out, unsigned n)
{
	struct user_pass p = { out, n };

	guest_run_user(user_syscalls, (u64)(uintptr_t)&p);
}

/* --- preparation (returns why the operation cannot run here, or NULL) ----------------------- */
static const char *need_kestrel(void)
{
	return kestrel ? NULL : "VMCALL raises #UD outside Kestrel";
}

static const char *prep_mtrr(void)
{
	if (try_rdmsr(MSR_IA32_MTRR_DEF_TYPE, &mtrr_def_type) != NO_FAULT)
		return "RDMSR IA32_MTRR_DEF_TYPE faults";
	if (try_wrmsr(MSR_IA32_MTRR_DEF_TYPE, mtrr_def_type) != NO_FAULT)
		return "WRMSR IA32_MTRR_DEF_TYPE faults";
	return NULL;
}

static const char *prep_lstar(void)
{
	lstar_value = rdmsr(MSR_LSTAR);
	return NULL;
}

static const char *prep_cr0(void)
{
	cr0_value = read_cr0() & ~(CR0_CD | CR0_NW);
	return NULL;
}

static const char *prep_cr8(void)
{
	write_cr8(0);
	return NULL;
}

static const char *prep_hlt(void)
{
	if (!have_tsc_deadline)
		return "no TSC-deadline timer (CPUID.1:ECX[24] = 0)";
	apic_write(APIC_LVT_TIMER, LVT_TSC_DEADLINE | VEC_TIMER);
	hlt_missed = 0;
	return NULL;
}

static void done_hlt(void)
{
	wrmsr(MSR_TSC_DEADLINE, 0);
	apic_write(APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
}

static const char *prep_intwin(void)
{
	if (!have_apic)
		return "no local APIC";
	intwin_late = 0;
	return NULL;
}

static const char *prep_xsetbv(void)
{
	u32 lo, hi;

	if (!have_xsave)
		return "CPUID.1:ECX.XSAVE = 0 (Kestrel hides XSAVE)";
	write_cr4(read_cr4() | CR4_OSXSAVE);
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0_value = (u64)hi << 32 | lo;
	return NULL;
}

static const char *prep_syscall(void)
{
	wrmsr(MSR_STAR, GUEST_STAR);
	wrmsr(MSR_LSTAR, (u64)(uintptr_t)guest_syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_VALUE);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	return NULL;
}

/* --- the table ---------------------------------------------------------------------------- */
struct op {
	const char *name, *what;
	u32 reason;   /* the exit reason whose root-mode cost is reported; NO_REASON: none expected */
	unsigned n;   /* timed samples */
	const char *(*prepare)(void);
	void (*fn)(void);              /* one iteration, timed by sample_call() */
	u64 (*sample)(void);           /* or: one iteration that times itself */
	void (*pass)(u64 *, unsigned); /* or: a whole pass that fills the samples itself */
	void (*finish)(void);
};

static const struct op ops[] = {
	{ "tsc_overhead", "the timing harness around an empty call", NO_REASON, N_SAMPLES, NULL,
	  op_empty, NULL, NULL, NULL },
	{ "rdtsc", "RDTSC (never exits)", NO_REASON, N_SAMPLES, NULL, op_rdtsc, NULL, NULL, NULL },
	{ "cpuid", "CPUID leaf 0x40000000 (Kestrel's policy table)", 10, N_SAMPLES, NULL, op_cpuid,
	  NULL, NULL, NULL },
	{ "vmcall_null", "VMCALL HC_NULL", EXIT_REASON_VMCALL, N_SAMPLES, need_kestrel, op_vmcall,
	  NULL, NULL, NULL },
	{ "rdmsr_emulated", "RDMSR IA32_MTRR_DEF_TYPE (0x2ff, stored by Kestrel)", 31, N_SAMPLES,
	  prep_mtrr, op_rdmsr_mtrr, NULL, NULL, NULL },
	{ "wrmsr_emulated", "WRMSR IA32_MTRR_DEF_TYPE (0x2ff, stored by Kestrel)", 32, N_SAMPLES,
	  prep_mtrr, op_wrmsr_mtrr, NULL, NULL, NULL },
	{ "rdmsr_passthrough", "RDMSR IA32_LSTAR (MSR bitmap: no exit)", NO_REASON, N_SAMPLES,
	  prep_lstar, op_rdmsr_lstar, NULL, NULL, NULL },
	{ "wrmsr_passthrough", "WRMSR IA32_LSTAR (MSR bitmap: no exit)", NO_REASON, N_SAMPLES,
	  prep_lstar, op_wrmsr_lstar, NULL, NULL, NULL },
	{ "in_emulated", "INB 0x3ff (UART scratch register)", 30, N_SAMPLES, NULL, op_in_scr, NULL,
	  NULL, NULL },
	{ "out_emulated", "OUTB 0x3ff (UART scratch register)", 30, N_SAMPLES, NULL, op_out_scr, NULL,
	  NULL, NULL },
	{ "in_unclaimed", "INB 0x3e0 (no device)", 30, N_SAMPLES, NULL, op_in_unclaimed, NULL, NULL,
	  NULL },
	{ "out_unclaimed", "OUTB 0x3e0 (no device)", 30, N_SAMPLES, NULL, op_out_unclaimed, NULL, NULL,
	  NULL },
	{ "rep_outsb_64", "REP OUTSB of 64 bytes to 0x3e0", 30, N_SAMPLES, NULL, op_rep_outsb, NULL,
	  NULL, NULL },
	{ "cr0_cd_toggle", "MOV to CR0 setting then clearing CD (two writes, shadowed bit)", 28,
	  N_SAMPLES, prep_cr0, op_cr0_cd, NULL, NULL, NULL },
	{ "cr8_write", "MOV to CR8, 1 then 0 (two writes; TPR shadow: no exit)", NO_REASON,
	  N_SAMPLES, prep_cr8, op_cr8, NULL, NULL, NULL },
	{ "hlt_timer_wake", "STI;HLT woken by the TSC-deadline timer: deadline to handler",
	  EXIT_REASON_HLT, N_HLT, prep_hlt, NULL, sample_hlt, NULL, done_hlt },
	{ "interrupt_window", "self-IPI with IF=0, then STI;NOP: STI to handler",
	  EXIT_REASON_INTERRUPT_WINDOW, N_SAMPLES, prep_intwin, NULL, sample_intwin, NULL, NULL },
	{ "mmio_ioapic", "IOAPIC MMIO: IOREGSEL write + IOWIN read (version)",
	  EXIT_REASON_EPT_VIOLATION, N_SAMPLES, NULL, op_mmio, NULL, NULL, NULL },
	{ "xsetbv", "XSETBV XCR0 (its own value)", EXIT_REASON_XSETBV, N_SAMPLES, prep_xsetbv,
	  op_xsetbv, NULL, NULL, NULL },
	{ "syscall_sysret", "SYSCALL/SYSRET round trip from ring 3 (no exit)", NO_REASON, N_SAMPLES,
	  prep_syscall, NULL, NULL, pass_syscall, NULL },
	{ "mem_loop_256k", "256 KiB read at a 64-byte stride (EPT-mapped RAM, no exit)", NO_REASON,
	  N_MEM, NULL, op_mem, NULL, NULL, NULL },
	{ "rep_stosb_4k", "REP STOSB clearing 4 KiB (EPT-mapped RAM, no exit)", NO_REASON, N_MEM,
	  NULL, op_rep_stosb, NULL, NULL, NULL },
};

#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static u64 sample_call(void (*fn)(void))
{
	u64 t0 = tsc_begin();

	fn();
	return tsc_end() - t0;
}

static void run_pass(const struct op *op, u64 *out, unsigned n)
{
	if (op->pass) {
		op->pass(out, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		out[i] = op->sample ? op->sample() : sample_call(op->fn);
}

/* --- results ------------------------------------------------------------------------------ */
struct result {
	const char *why; /* not NULL: unsupported here, and why */
	unsigned n;
	u64 min, median, p99, max, mean10; /* mean10: mean x 10 */
	s64 exits100;                       /* exits per iteration x 100 (Kestrel) */
	u64 async;
	u64 root_n;                                        /* exits of `reason` in the root pass */
	u64 root_min, root_median, root_p99, root_max, root_mean10; /* per iteration */
	u64 extra;                                         /* hlt: missed; intwin: late */
};

static struct result results[N_OPS];

static void sort(u64 *a, unsigned n)
{
	/* Shell sort with Ciura's gaps: no recursion, no allocation, n <= N_MAX. */
	static const unsigned gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (unsigned g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
		for (unsigned i = gaps[g]; i < n; i++) {
			u64 v = a[i];
			unsigned j = i;

			for (; j >= gaps[g] && a[j - gaps[g]] > v; j -= gaps[g])
				a[j] = a[j - gaps[g]];
			a[j] = v;
		}
}

/* Nearest rank, 1-based, as Kestrel's exit_stats_percentile(). */
static u64 percentile(const u64 *sorted, unsigned n, unsigned permille)
{
	u64 rank = ((u64)n * permille + 999) / 1000;

	return sorted[rank ? rank - 1 : 0];
}

static void summarize(u64 *a, unsigned n, u64 *min, u64 *median, u64 *p99, u64 *max, u64 *mean10)
{
	u64 sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += a[i];
	sort(a, n);
	*min = a[0];
	*median = percentile(a, n, 500);
	*p99 = percentile(a, n, 990);
	*max = a[n - 1];
	*mean10 = (sum * 10 + n / 2) / n;
}

/*
 * The root-mode pass: each sample followed by HC_EXIT_STATS(reason); the growth of cycles_total
 * between two reads is the root-mode cost of that iteration's exits of `reason`. A VMCALL op
 * also sees the previous read's own VMCALL: each read is paired with a second one whose cost
 * (the difference between the two) stands for it.
 */
static void root_pass(const struct op *op, struct result *r)
{
	u32 reason = op->reason;
	bool vmcall = reason == EXIT_REASON_VMCALL;
	u64 prev_total, prev_count, prev_cost = 0, count = 0;

	fetch_stats(reason, &stats_a);
	if (vmcall) {
		fetch_stats(reason, &stats_b);
		prev_cost = stats_b.cycles_total - stats_a.cycles_total;
		stats_a = stats_b;
	}
	prev_total = stats_a.cycles_total;
	prev_count = stats_a.count;
	for (unsigned i = 0; i < op->n; i++) {
		u64 scratch;

		run_pass(op, &scratch, 1);
		fetch_stats(reason, &stats_a);
		root[i] = stats_a.cycles_total - prev_total;
		count += stats_a.count - prev_count;
		if (vmcall) {
			root[i] -= prev_cost;
			count--;
			fetch_stats(reason, &stats_b);
			prev_cost = stats_b.cycles_total - stats_a.cycles_total;
			stats_a = stats_b;
		}
		prev_total = stats_a.cycles_total;
		prev_count = stats_a.count;
	}
	r->root_n = count;
	summarize(root, op->n, &r->root_min, &r->root_median, &r->root_p99, &r->root_max,
		  &r->root_mean10);
}

static void run_op(const struct op *op, struct result *r)
{
	struct bracket b;
	s64 exits = 0;

	r->why = op->prepare ? op->prepare() : NULL;
	if (r->why)
		return;
	r->n = op->n;
	run_pass(op, samples, MIN(N_WARMUP, op->n));
	if (kestrel)
		bracket_begin(&b);
	run_pass(op, samples, op->n);
	if (kestrel) {
		exits = bracket_end(&b, &r->async);
		r->exits100 = (exits * 100 + op->n / 2) / op->n;
	}
	summarize(samples, op->n, &r->min, &r->median, &r->p99, &r->max, &r->mean10);
	if (kestrel && op->reason != NO_REASON)
		root_pass(op, r);
	r->extra = op->sample == sample_hlt ? hlt_missed : op->sample == sample_intwin ? intwin_late : 0;
	if (op->finish)
		op->finish();
}

static const char *reason_name(u32 reason)
{
	switch (reason) {
	case 7: return "INTERRUPT_WINDOW";
	case 10: return "CPUID";
	case 12: return "HLT";
	case 18: return "VMCALL";
	case 28: return "CR_ACCESS";
	case 30: return "IO_INSTRUCTION";
	case 31: return "RDMSR";
	case 32: return "WRMSR";
	case 48: return "EPT_VIOLATION";
	case 55: return "XSETBV";
	default: return "?";
	}
}

/* A x10 or x100 fixed-point value as a JSON number. */
static void print_fixed(u64 v, unsigned scale)
{
	if (scale == 10)
		guest_printf("%llu.%llu", v / 10, v % 10);
	else
		guest_printf("%llu.%02llu", v / 100, v % 100);
}

static void print_result(const struct op *op, const struct result *r)
{
	guest_printf("BENCH {\"op\":\"%s\",\"what\":\"%s\",\"platform\":\"%s\"", op->name, op->what,
		     kestrel ? "kestrel" : "native");
	if (r->why) {
		guest_printf(",\"supported\":false,\"why\":\"%s\"}\n", r->why);
		return;
	}
	guest_printf(",\"supported\":true,\"iterations\":%u,\"warmup\":%u,\"min\":%llu,\"median\":%llu,"
		     "\"p99\":%llu,\"max\":%llu,\"mean\":",
		     r->n, MIN(N_WARMUP, r->n), r->min, r->median, r->p99, r->max);
	print_fixed(r->mean10, 10);
	if (op->sample == sample_hlt)
		guest_printf(",\"deadline_ticks\":%llu,\"missed\":%llu", HLT_DELAY, r->extra);
	if (op->sample == sample_intwin)
		guest_printf(",\"late\":%llu", r->extra);
	if (!kestrel) {
		guest_printf(",\"exits_per_op\":null,\"async_exits\":null,\"exit_reason\":null,"
			     "\"root_exits_per_op\":null,\"root_min\":null,\"root_median\":null,"
			     "\"root_p99\":null,\"root_mean\":null}\n");
		return;
	}
	guest_printf(",\"exits_per_op\":");
	if (r->exits100 < 0)
		guest_printf("-");
	print_fixed((u64)(r->exits100 < 0 ? -r->exits100 : r->exits100), 100);
	guest_printf(",\"async_exits\":%llu", r->async);
	if (op->reason == NO_REASON) {
		guest_printf(",\"exit_reason\":null,\"root_exits_per_op\":null,\"root_min\":null,"
			     "\"root_median\":null,\"root_p99\":null,\"root_mean\":null}\n");
		return;
	}
	guest_printf(",\"exit_reason\":\"%s\",\"exit_reason_number\":%u,\"root_exits_per_op\":",
		     reason_name(op->reason), op->reason);
	print_fixed((r->root_n * 100 + r->n / 2) / r->n, 100);
	guest_printf(",\"root_min\":%llu,\"root_median\":%llu,\"root_p99\":%llu,\"root_max\":%llu,"
		     "\"root_mean\":",
		     r->root_min, r->root_median, r->root_p99, r->root_max);
	print_fixed(r->root_mean10, 10);
	guest_printf("}\n");
}

void guest_main(void)
{
	struct bracket b;
	u64 async;
	struct cpuid_regs v = cpuid(0, 0);
	char vendor[13];

	kestrel = on_kestrel();
	memcpy(vendor + 0, &v.ebx, 4);
	memcpy(vendor + 4, &v.edx, 4);
	memcpy(vendor + 8, &v.ecx, 4);
	vendor[12] = 0;
	apic_setup();
	if (kestrel) {
		bracket_overhead = 0;
		bracket_begin(&b);
		bracket_overhead = bracket_end(&b, &async);
	}
	guest_printf("BENCH {\"bench\":\"start\",\"platform\":\"%s\",\"vendor\":\"%s\","
		     "\"tsc_khz\":%llu,\"x2apic\":%s,\"tsc_deadline\":%s,\"xsave\":%s,"
		     "\"samples\":%u,\"warmup\":%u}\n",
		     kestrel ? "kestrel" : "native", vendor, guest_tsc_khz(),
		     have_x2apic ? "true" : "false", have_tsc_deadline ? "true" : "false",
		     have_xsave ? "true" : "false", N_SAMPLES, N_WARMUP);
	quiesce();

	/* Measure everything first, print afterwards: console output makes exits of its own. */
	for (unsigned i = 0; i < N_OPS; i++)
		run_op(&ops[i], &results[i]);

	for (unsigned i = 0; i < N_OPS; i++)
		print_result(&ops[i], &results[i]);

	/* Controls: on Kestrel none of these may exit. */
	for (unsigned i = 0; i < N_OPS; i++) {
		const struct op *op = &ops[i];
		const struct result *r = &results[i];
		char name[48];

		if (op->reason != NO_REASON || r->why)
			continue;
		fmt_snprintf(name, sizeof(name), "%s-no-exit", op->name);
		if (kestrel)
			guest_check(r->exits100 == 0, name, "%lld.%02lld exits per iteration, want 0",
				    r->exits100 / 100, r->exits100 % 100);
	}
	guest_printf("BENCH {\"bench\":\"end\"}\n");
}
