/*
 * randinsn: random byte sequences executed at CPL 0 and CPL 3. Whatever the bytes do, the guest
 * must survive (its harness catches every vector) and Kestrel must stay up and contain it: any
 * outcome other than this guest powering off with status 0 is a bug, in the harness or in
 * Kestrel. Command line (all optional):
 *   count=N    sequences to run (default 20000)      seed=N    the PRNG stream
 *   ring=0|3|both (default both, alternating at random)  maxlen=N  bytes per sequence (1-64, 16)
 *   bias=N     percent of byte positions that start a fragment from a list of system
 *              instructions (CPUID, RDMSR, VMX, HLT, IN/INS, SYSCALL, ...; default 25): a given
 *              two-byte 0f xx opcode is too rare in uniform bytes to reach Kestrel often
 *   show=N     print the bytes of the first N sequences that only the timer ended
 *
 * The harness:
 *  - Each sequence is written at offset 0x800 of a scratch code page; the bytes before it are
 *    INT3 (0xcc), the bytes after it `INT 0x82` (cd 82) to the end of the page. Running off the
 *    end of the sequence (or jumping forward into that tail) is the way back to the harness
 *    ("ran to its end"); backward jumps out of it hit INT3.
 *  - It runs on its own page tables (CR3) that map only: the scratch code page (user, read and
 *    execute), four scratch data pages (user, read/write, no-execute; the sequence's stack and
 *    half of its registers point there, the other half are random), and, supervisor-only and
 *    read-only, the harness's IDT, GDT/TSS, a shared page and the stub page that switches
 *    back; the IST stack is writable. Everything else (the harness, its page tables, the rest
 *    of RAM, the LAPIC/IOAPIC MMIO) is not present: a stray access is a #PF in the guest, never
 *    an EPT violation.
 *  - Every one of the 256 vectors (DPL 3 gates, all on IST1) and SYSCALL (LSTAR) enter the stub
 *    page, which switches to the harness's CR3 and stack; the harness counts the vector, puts
 *    back a known state (CR0, x87/SSE state, data segments, FS/GS bases) and IRETQs into the
 *    next sequence with fresh registers. Sequences never return into harness code.
 *  - The 8254 PIT ticks at 1000 Hz through the 8259 (automatic EOI) as IRQ0 (vector 0x20):
 *    a sequence that loops forever ends at the next tick. A tick taken before a sequence's
 *    first instruction (it came due while the harness ran) runs that sequence once more.
 *  - At CPL 0 privilege cannot stop the bytes, so the generator rewrites those that could
 *    break the harness itself instead of testing Kestrel: CLI, POPF and IRET (IF=0 loops the
 *    tick could not end), OUT/OUTS (the guest's own reset and power-off ports), MOV to CR/DR,
 *    WRMSR, SYSRET (IOPL 3 from R11), LGDT/LIDT/LLDT/LTR and VMCALL (a random HC_POWER_OFF).
 *    Every byte position is checked, since a jump may land anywhere. CPL 3 runs everything.
 * Prints the number of sequences, how they ended and the exceptions per vector.
 */
#include <kestrel/string.h>
#include <kestrel/x86_desc.h>
#include "guest.h"

const char guest_name[] = "randinsn";

#define CODE_OFFSET 0x800
#define TRAILER_VECTOR 0x82
#define SYSCALL_VECTOR 0x100
#define TIMER_VECTOR 0x20
#define DATA_PAGES 4
#define IST_PAGES 2
#define PIT_RATE 1000
#define MAX_LEN 64

/* --- pages the sequences' address space is made of ------------------------------------------ */
struct shared {
	u64 cr3_full;    /* 0 */
	u64 cr3_rand;    /* 8 */
	u64 harness_rsp; /* 16 */
	u64 ist_top;     /* 24 */
	u64 regs[16];    /* 32: by x86 register number; RSP unused */
	u64 iret[5];     /* 160: RIP, CS, RFLAGS, RSP, SS */
};

union shared_page {
	struct shared s;
	u8 page[4096];
};

union gdt_page {
	struct {
		u64 gdt[8];
		struct tss64 tss;
	} s;
	u8 page[4096];
};

union shared_page ri_sh __attribute__((aligned(4096)));
static struct idt_gate idt[256] __attribute__((aligned(4096)));
static union gdt_page gdt_page __attribute__((aligned(4096)));
static u8 ist_stack[IST_PAGES * 4096] __attribute__((aligned(4096)));
static u8 code_page[4096] __attribute__((aligned(4096)));
static u8 data_pages[DATA_PAGES * 4096] __attribute__((aligned(4096)));
static u8 harness_stack[16384] __attribute__((aligned(16)));
static u8 fpu_clean[512] __attribute__((aligned(16)));

/* Page tables of the sequences' address space. */
static u64 pml4[512] __attribute__((aligned(4096)));
static u64 pdpt[512] __attribute__((aligned(4096)));
static u64 pd[512] __attribute__((aligned(4096)));
static u64 pts[4][512] __attribute__((aligned(4096)));

extern const u8 ri_stubs_start[], ri_stubs_end[], ri_isr[], ri_syscall[];
NORETURN void ri_launch(void);

/* The frame ri_common builds on the IST stack. */
struct ri_frame {
	u64 cr3;
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error, rip, cs, rflags, rsp, ss;
};

/*
 * The stub page: 256 entries of 16 bytes (error code or 0, vector), the common path that
 * switches CR3 and stacks, the SYSCALL entry and the launch into a sequence. Alone on its
 * pages (aligned and padded with INT3), as it is mapped executable in the sequences' space.
 */
__asm__(".pushsection .text.randinsn_stubs, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl ri_stubs_start\n"
	"ri_stubs_start:\n"
	".globl ri_isr\n"
	"ri_isr:\n"
	".set v, 0\n"
	".rept 256\n"
	"  .balign 16, 0xcc\n"
	"  .if (v == 8) | ((v >= 10) & (v <= 14)) | (v == 17) | (v == 21) | (v == 29) | (v == 30)\n"
	"  .else\n"
	"    pushq $0\n"
	"  .endif\n"
	"  pushq $v\n"
	"  jmp ri_common\n"
	"  .set v, v + 1\n"
	".endr\n"
	"ri_common:\n"
	"  push %rax\n  push %rbx\n  push %rcx\n  push %rdx\n  push %rsi\n  push %rdi\n"
	"  push %rbp\n  push %r8\n  push %r9\n  push %r10\n  push %r11\n  push %r12\n"
	"  push %r13\n  push %r14\n  push %r15\n"
	"  mov %cr3, %rax\n"
	"  push %rax\n"
	"  mov ri_sh+0(%rip), %rax\n"
	"  mov %rax, %cr3\n"
	"  mov %rsp, %rdi\n"
	"  mov ri_sh+16(%rip), %rsp\n"
	"  cld\n"
	"  call randinsn_event\n"
	"  ud2\n"
	".globl ri_syscall\n"
	"ri_syscall:\n" /* SYSCALL: RSP is the sequence's; SFMASK cleared IF */
	"  mov ri_sh+24(%rip), %rsp\n"
	"  pushq $0\n"   /* SS */
	"  pushq $0\n"   /* RSP: unknown */
	"  push %r11\n"  /* RFLAGS */
	"  pushq $0\n"   /* CS */
	"  push %rcx\n"  /* RIP after the SYSCALL */
	"  pushq $0\n"   /* error */
	"  pushq $0x100\n"
	"  jmp ri_common\n"
	".globl ri_launch\n"
	"ri_launch:\n"
	"  mov ri_sh+8(%rip), %rax\n"
	"  mov %rax, %cr3\n"
	"  lea ri_sh+160(%rip), %rsp\n"
	"  mov ri_sh+32+8*1(%rip), %rcx\n"
	"  mov ri_sh+32+8*2(%rip), %rdx\n"
	"  mov ri_sh+32+8*3(%rip), %rbx\n"
	"  mov ri_sh+32+8*5(%rip), %rbp\n"
	"  mov ri_sh+32+8*6(%rip), %rsi\n"
	"  mov ri_sh+32+8*7(%rip), %rdi\n"
	"  mov ri_sh+32+8*8(%rip), %r8\n"
	"  mov ri_sh+32+8*9(%rip), %r9\n"
	"  mov ri_sh+32+8*10(%rip), %r10\n"
	"  mov ri_sh+32+8*11(%rip), %r11\n"
	"  mov ri_sh+32+8*12(%rip), %r12\n"
	"  mov ri_sh+32+8*13(%rip), %r13\n"
	"  mov ri_sh+32+8*14(%rip), %r14\n"
	"  mov ri_sh+32+8*15(%rip), %r15\n"
	"  mov ri_sh+32+8*0(%rip), %rax\n"
	"  iretq\n"
	".balign 4096, 0xcc\n"
	".globl ri_stubs_end\n"
	"ri_stubs_end:\n"
	".popsection\n");

/* --- the run -------------------------------------------------------------------------------- */
static u64 rng = 0x72616e64696e736eull; /* "randinsn" */
static u64 count = 20000, max_len = 16;
static int rings = 2; /* 0, 3, or 2 for both */
static u64 cr0_good, efer_good;

static u64 executed, executed_r0, executed_r3, completed, timer_ticks, idle_ticks, syscalls;
static u64 soft_ints;
static u64 rewritten_bytes, total_bytes;
static u64 vectors[32];
static u64 cur_len, show, shown;
static bool retried;
static int cur_ring;
static u64 start_tsc, next_report;
static struct {
	u16 limit;
	u64 base;
} __attribute__((packed)) saved_gdtr, saved_idtr;

/* A pattern ending at byte i that would let CPL-0 bytes break the harness (see the top). */
static bool forbidden_at(const u8 *b, u64 i)
{
	u8 c = b[i];

	switch (c) {
	case 0xfa: /* CLI */
	case 0x9d: /* POPF */
	case 0xcf: /* IRET */
	case 0xe6: case 0xe7: case 0xee: case 0xef: /* OUT */
	case 0x6e: case 0x6f:                       /* OUTS */
		return true;
	}
	if (i >= 1 && b[i - 1] == 0x0f &&
	    (c == 0x22 || c == 0x23 || c == 0x30 || c == 0x07)) /* MOV CR/DR, WRMSR, SYSRET */
		return true;
	if (i >= 2 && b[i - 2] == 0x0f && b[i - 1] == 0x01) {
		unsigned reg = (c >> 3) & 7, mod = c >> 6;

		if ((mod != 3 && (reg == 2 || reg == 3)) || c == 0xc1) /* LGDT, LIDT, VMCALL */
			return true;
	}
	if (i >= 2 && b[i - 2] == 0x0f && b[i - 1] == 0x00) {
		unsigned reg = (c >> 3) & 7;

		if (reg == 2 || reg == 3) /* LLDT, LTR */
			return true;
	}
	return false;
}

/*
 * Fragments that make the bytes reach Kestrel more often than uniform bytes would (a given
 * 0f xx opcode is one position pair in 65536): instructions that exit or that a hypervisor
 * must refuse, prefixes and privileged forms. Operands after them stay random. At CPL 0 the
 * filter still rewrites the forbidden ones (VMCALL, CLI, OUT, ...).
 */
static const struct token {
	u8 len, bytes[4];
} tokens[] = {
	{ 2, { 0x0f, 0xa2 } },             /* CPUID */
	{ 2, { 0x0f, 0x32 } },             /* RDMSR */
	{ 2, { 0x0f, 0x30 } },             /* WRMSR */
	{ 2, { 0x0f, 0x33 } },             /* RDPMC */
	{ 2, { 0x0f, 0x31 } },             /* RDTSC */
	{ 3, { 0x0f, 0x01, 0xf9 } },       /* RDTSCP */
	{ 3, { 0x0f, 0x01, 0xc1 } },       /* VMCALL */
	{ 3, { 0x0f, 0x01, 0xc2 } },       /* VMLAUNCH */
	{ 3, { 0x0f, 0x01, 0xc3 } },       /* VMRESUME */
	{ 3, { 0x0f, 0x01, 0xc4 } },       /* VMXOFF */
	{ 3, { 0x0f, 0x01, 0xd4 } },       /* VMFUNC */
	{ 2, { 0x0f, 0x78 } },             /* VMREAD */
	{ 2, { 0x0f, 0x79 } },             /* VMWRITE */
	{ 2, { 0x0f, 0xc7 } },             /* VMPTRLD/VMPTRST/RDRAND/RDSEED/CMPXCHG16B */
	{ 3, { 0x66, 0x0f, 0xc7 } },       /* VMCLEAR */
	{ 3, { 0xf3, 0x0f, 0xc7 } },       /* VMXON, RDPID */
	{ 4, { 0x66, 0x0f, 0x38, 0x80 } }, /* INVEPT */
	{ 4, { 0x66, 0x0f, 0x38, 0x81 } }, /* INVVPID */
	{ 4, { 0x66, 0x0f, 0x38, 0x82 } }, /* INVPCID */
	{ 2, { 0x0f, 0x37 } },             /* GETSEC */
	{ 2, { 0x0f, 0x08 } },             /* INVD */
	{ 2, { 0x0f, 0x09 } },             /* WBINVD */
	{ 2, { 0x0f, 0x06 } },             /* CLTS */
	{ 3, { 0x0f, 0x01, 0xf0 } },       /* LMSW AX */
	{ 3, { 0x0f, 0x01, 0xd0 } },       /* XGETBV */
	{ 3, { 0x0f, 0x01, 0xd1 } },       /* XSETBV */
	{ 3, { 0x0f, 0x01, 0xc8 } },       /* MONITOR */
	{ 3, { 0x0f, 0x01, 0xc9 } },       /* MWAIT */
	{ 3, { 0x0f, 0x01, 0xf8 } },       /* SWAPGS */
	{ 3, { 0x0f, 0x01, 0xcf } },       /* ENCLS */
	{ 3, { 0xf3, 0x0f, 0xae } },       /* RD/WRFSBASE, UMONITOR */
	{ 3, { 0xf2, 0x0f, 0xae } },       /* UMWAIT */
	{ 2, { 0x0f, 0xae } },             /* FXSAVE/FXRSTOR/LDMXCSR/XSAVE/... */
	{ 2, { 0x0f, 0x01 } },             /* SGDT/SIDT/LGDT/LIDT/SMSW/LMSW/INVLPG + modrm */
	{ 2, { 0x0f, 0x00 } },             /* SLDT/STR/LLDT/LTR/VERR/VERW + modrm */
	{ 2, { 0x0f, 0x20 } },             /* MOV from CR */
	{ 2, { 0x0f, 0x21 } },             /* MOV from DR */
	{ 2, { 0x0f, 0x22 } },             /* MOV to CR */
	{ 2, { 0x0f, 0x05 } },             /* SYSCALL */
	{ 2, { 0x0f, 0x34 } },             /* SYSENTER */
	{ 2, { 0x0f, 0x35 } },             /* SYSEXIT */
	{ 2, { 0x0f, 0x0b } },             /* UD2 */
	{ 1, { 0xf4 } },                   /* HLT */
	{ 1, { 0xe4 } }, { 1, { 0xe5 } }, { 1, { 0xec } }, { 1, { 0xed } }, /* IN */
	{ 2, { 0xf3, 0x6c } }, { 2, { 0xf3, 0x6d } },                       /* REP INS */
	{ 1, { 0xee } }, { 2, { 0xf3, 0x6e } },                             /* OUT, REP OUTS */
	{ 1, { 0xfa } }, { 1, { 0xfb } }, { 1, { 0x9c } }, { 1, { 0x9d } }, /* CLI STI PUSHF POPF */
	{ 2, { 0x48, 0xcf } },             /* IRETQ */
	{ 1, { 0xcd } },                   /* INT n */
	{ 1, { 0xcb } },                   /* RETF */
	{ 1, { 0x8e } },                   /* MOV Sreg */
	{ 1, { 0xf0 } }, { 1, { 0x66 } }, { 1, { 0x67 } }, { 1, { 0x48 } }, /* prefixes */
};

static u64 bias = 25; /* percent of positions that start a token */

static void write_sequence(int ring)
{
	u8 *code = code_page + CODE_OFFSET;
	u64 len = 1 + guest_rand(&rng) % max_len;

	/* Restore the tail of the previous sequence, then the new bytes. */
	for (u64 i = 0; i < MAX_LEN + 2; i += 2) {
		code[i] = 0xcd;
		code[i + 1] = TRAILER_VECTOR;
	}
	for (u64 i = 0; i < len; i++) {
		u64 r = guest_rand(&rng);

		if (r % 100 < bias) {
			const struct token *t = &tokens[(r >> 8) % ARRAY_SIZE(tokens)];

			for (u64 j = 0; j < t->len && i + j < len; j++)
				code[i + j] = t->bytes[j];
			/* the filter below checks each of these bytes in turn */
			for (u64 j = 0; j < t->len && i < len; j++, i++)
				if (ring == 0)
					while (forbidden_at(code, i)) {
						code[i] = (u8)guest_rand(&rng);
						rewritten_bytes++;
					}
			i--;
			continue;
		}
		code[i] = (u8)r;
		if (ring == 0)
			while (forbidden_at(code, i)) {
				code[i] = (u8)guest_rand(&rng);
				rewritten_bytes++;
			}
	}
	/* The tail starts right after the sequence: cd 82 cd 82 ... */
	for (u64 i = len; i < MAX_LEN + 2; i++)
		code[i] = (i - len) % 2 ? TRAILER_VECTOR : 0xcd;
	/* No pattern can end in the tail: cd and 82 neither complete a forbidden pair nor make
	 * 0f 01 / 0f 00 an LGDT, LIDT, VMCALL, LLDT or LTR. */
	cur_len = len;
	total_bytes += len;
}

static void set_registers(int ring)
{
	struct shared *sh = &ri_sh.s;
	u64 data = (u64)(uintptr_t)data_pages;

	for (int r = 0; r < 16; r++) {
		u64 x = guest_rand(&rng);

		sh->regs[r] = x & 1 ? guest_rand(&rng) : data + (x >> 8) % (DATA_PAGES * 4096 - 64);
	}
	sh->iret[0] = (u64)(uintptr_t)code_page + CODE_OFFSET;
	sh->iret[1] = ring ? GUEST_USER_CS : GUEST_KERNEL_CS;
	sh->iret[2] = RFLAGS_IF | 2;
	sh->iret[3] = data + 3 * 4096 + (guest_rand(&rng) & 0xff8);
	sh->iret[4] = ring ? GUEST_USER_DS : GUEST_KERNEL_DS;
}

static NORETURN void finish(void);
static NORETURN void relaunch(void);

static void report_progress(void)
{
	guest_printf("randinsn: %llu of %llu sequences, %llu ms\n", executed, count,
		     (rdtsc() - start_tsc) / guest_tsc_khz());
}

/* Known-good state, then the next sequence. Runs on the harness stack with CR3_full. */
static NORETURN void launch_next(void)
{
	int ring;

	if (executed == count)
		finish();
	if (executed == next_report) {
		report_progress();
		next_report += count / 10 ? count / 10 : 1;
	}
	ring = rings == 2 ? (int)(guest_rand(&rng) & 1) * 3 : rings;
	cur_ring = ring;
	write_sequence(ring);
	set_registers(ring);
	retried = false;
	executed++;
	if (ring)
		executed_r3++;
	else
		executed_r0++;
	relaunch();
}

/* The state every sequence starts from, then into the sequence in ri_sh. */
static NORETURN void relaunch(void)
{
	int ring = cur_ring;

	if (read_cr0() != cr0_good) /* LMSW / CLTS (they exit: Kestrel tracks CR0.TS/MP/EM) */
		write_cr0(cr0_good);
	__asm__ volatile("fxrstor64 %0" : : "m"(*(const u8(*)[512])fpu_clean));
	__asm__ volatile("mov %0, %%ds\n\tmov %0, %%es\n\tmov %1, %%fs\n\tmov %1, %%gs"
			 : : "r"(ring ? GUEST_USER_DS : GUEST_KERNEL_DS), "r"(0) : "memory");
	wrmsr(MSR_FS_BASE, 0);
	wrmsr(MSR_GS_BASE, 0);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	ri_launch();
}

static void dump_frame(const struct ri_frame *f)
{
	guest_printf("  vector 0x%llx error 0x%llx rip %016llx cs %llx rflags %llx rsp %016llx ss %llx "
		     "cr3 %llx\n", f->vector, f->error, f->rip, f->cs, f->rflags, f->rsp, f->ss,
		     f->cr3);
	guest_printf("  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", f->rax, f->rbx, f->rcx,
		     f->rdx);
}

void randinsn_event(struct ri_frame *f);
void randinsn_event(struct ri_frame *f)
{
	u64 tail = (u64)(uintptr_t)code_page + CODE_OFFSET + cur_len;

	if (f->cr3 != ri_sh.s.cr3_rand) {
		/* Not from a sequence: the harness itself faulted. */
		guest_fail("harness", "vector 0x%llx in the harness (sequence %llu, CPL %d)",
			   f->vector, executed, cur_ring);
		dump_frame(f);
		guest_done();
	}
	if (f->vector < 32) {
		vectors[f->vector]++;
	} else if (f->vector == TRAILER_VECTOR && f->rip > tail &&
		   f->rip <= (u64)(uintptr_t)code_page + 4096) {
		completed++;
	} else if (f->vector == TIMER_VECTOR && f->rip == (u64)(uintptr_t)code_page + CODE_OFFSET &&
		   f->rflags == (RFLAGS_IF | 2) && !retried) {
		/* Most likely the tick came due while the harness ran and was taken before the
		 * sequence's first instruction (or the sequence is a `jmp $`): run it once more. */
		idle_ticks++;
		retried = true;
		relaunch();
	} else if (f->vector == TIMER_VECTOR) {
		timer_ticks++; /* (or an INT 0x20: the PIC's automatic EOI makes them alike) */
		if (shown < show) {
			shown++;
			guest_printf("randinsn: sequence %llu (CPL %d) ended by the timer at offset "
				     "%lld:", executed, cur_ring,
				     (s64)(f->rip - (u64)(uintptr_t)code_page - CODE_OFFSET));
			for (u64 i = 0; i < cur_len; i++)
				guest_printf(" %02x", code_page[CODE_OFFSET + i]);
			guest_printf("\n");
		}
	} else if (f->vector == SYSCALL_VECTOR) {
		syscalls++;
	} else {
		soft_ints++;
	}
	launch_next();
}

/* --- setup ------------------------------------------------------------------------------------ */
static void set_gate(unsigned v, u64 handler)
{
	/* present, DPL 3, interrupt gate: INT n works from CPL 3 */
	idt[v] = idt_gate_make(handler, GUEST_KERNEL_CS, 0xee, 1);
}

static bool nx;

static void map(u64 va, u64 flags)
{
	u64 pdi = va >> 21;

	if (pdi >= ARRAY_SIZE(pts)) {
		guest_fail("setup", "page 0x%llx beyond the harness's 8 MiB map", va);
		guest_done();
	}
	if (!nx)
		flags &= ~PTE_NX;
	pd[pdi] = (u64)(uintptr_t)pts[pdi] | PTE_P | PTE_W | PTE_U;
	pts[pdi][(va >> 12) & 511] = va | flags | PTE_P;
}

static void map_range(const void *start, u64 bytes, u64 flags)
{
	for (u64 va = (u64)(uintptr_t)start; va < (u64)(uintptr_t)start + bytes; va += 4096)
		map(va, flags);
}

static void setup(void)
{
	struct shared *sh = &ri_sh.s;
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) gdtr = { sizeof(gdt_page.s.gdt) - 1, (u64)(uintptr_t)gdt_page.s.gdt },
				  idtr = { sizeof(idt) - 1, (u64)(uintptr_t)idt };
	u64 tss = (u64)(uintptr_t)&gdt_page.s.tss, limit = sizeof(struct tss64) - 1;
	u64 *g = gdt_page.s.gdt;

	nx = (rdmsr(MSR_EFER) & EFER_NXE) != 0;
	/* The address space of the sequences. */
	pml4[0] = (u64)(uintptr_t)pdpt | PTE_P | PTE_W | PTE_U;
	pdpt[0] = (u64)(uintptr_t)pd | PTE_P | PTE_W | PTE_U;
	map_range(&ri_sh, sizeof(ri_sh), PTE_NX);
	map_range(idt, sizeof(idt), PTE_NX);
	map_range(&gdt_page, sizeof(gdt_page), PTE_NX);
	map_range(ist_stack, sizeof(ist_stack), PTE_W | PTE_NX);
	map_range(ri_stubs_start, (u64)(ri_stubs_end - ri_stubs_start), 0);
	map_range(code_page, sizeof(code_page), PTE_U);
	map_range(data_pages, sizeof(data_pages), PTE_U | PTE_W | PTE_NX);

	/* GDT as the runtime's (accessed bits set: the pages are read-only when it runs), TSS. */
	g[0] = 0;
	g[1] = 0x00AF9B000000FFFFull;
	g[2] = 0x00CF93000000FFFFull;
	g[3] = 0x00CFFB000000FFFFull;
	g[4] = 0x00CFF3000000FFFFull;
	g[5] = 0x00AFFB000000FFFFull;
	g[6] = tss_descriptor_low(tss, limit);
	g[7] = tss_descriptor_high(tss);
	gdt_page.s.tss.ist[0] = (u64)(uintptr_t)(ist_stack + sizeof(ist_stack));
	gdt_page.s.tss.rsp[0] = gdt_page.s.tss.ist[0];
	gdt_page.s.tss.iomap_base = sizeof(struct tss64);
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, (u64)(uintptr_t)(ri_isr + 16 * v));

	sh->cr3_full = read_cr3();
	sh->cr3_rand = (u64)(uintptr_t)pml4;
	sh->harness_rsp = (u64)(uintptr_t)(harness_stack + sizeof(harness_stack));
	sh->ist_top = gdt_page.s.tss.ist[0];

	/* x87/SSE usable (so the bytes can use them), a clean image to restore each time. */
	write_cr4(read_cr4() | (1ull << 9) | CR4_OSXMMEXCPT);
	write_cr0(read_cr0() & ~((1ull << 2) | (1ull << 3)));
	__asm__ volatile("fninit\n\tfxsave64 %0" : "=m"(*(u8(*)[512])fpu_clean));
	cr0_good = read_cr0();
	efer_good = rdmsr(MSR_EFER);

	/* SYSCALL from either ring lands in the stub; IF, TF, DF, AC, NT cleared. */
	wrmsr(MSR_STAR, GUEST_STAR);
	wrmsr(MSR_LSTAR, (u64)(uintptr_t)ri_syscall);
	wrmsr(MSR_SFMASK, (1u << 9) | (1u << 8) | (1u << 10) | (1u << 18) | (1u << 14));
	__asm__ volatile("mov %0, %%db7" : : "r"(0x400ull));

	/* The tick: 8259 with automatic EOI (ICW4 0x03), IRQ0 only; PIT at PIT_RATE. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, TIMER_VECTOR);
	outb(0xa1, TIMER_VECTOR + 8);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x03);
	outb(0xa1, 0x03);
	outb(0x21, 0xfe);
	outb(0xa1, 0xff);
	pit_start(PIT_RATE);

	/* The code page: INT3 before the sequence, the `INT 0x82` tail after it. */
	memset(code_page, 0xcc, CODE_OFFSET);
	for (u64 i = CODE_OFFSET; i < sizeof(code_page); i += 2) {
		code_page[i] = 0xcd;
		code_page[i + 1] = TRAILER_VECTOR;
	}

	__asm__ volatile("sgdt %0\n\tsidt %1" : "=m"(saved_gdtr), "=m"(saved_idtr));
	__asm__ volatile("lgdt %0\n\t"
			 "lidt %1\n\t"
			 "ltr %w2" : : "m"(gdtr), "m"(idtr), "r"(GUEST_TSS_SEL) : "memory");
}

static NORETURN void finish(void)
{
	u64 ms = (rdtsc() - start_tsc) / guest_tsc_khz(), faults = 0;
	u64 *runtime_gdt = (u64 *)(uintptr_t)saved_gdtr.base;

	pit_stop();
	pic_mask_all();
	/* Back to the runtime's descriptor tables (its TSS descriptor was left busy). */
	runtime_gdt[GUEST_TSS_SEL / 8] &= ~(0x2ull << 40);
	__asm__ volatile("lgdt %0\n\tlidt %1\n\tltr %w2"
			 : : "m"(saved_gdtr), "m"(saved_idtr), "r"(GUEST_TSS_SEL) : "memory");
	for (int v = 0; v < 32; v++)
		faults += vectors[v];
	guest_printf("randinsn: %llu sequences (%llu at CPL 0, %llu at CPL 3), %llu random bytes "
		     "(%llu rewritten at CPL 0), in %llu ms\n", executed, executed_r0, executed_r3,
		     total_bytes, rewritten_bytes, ms);
	guest_printf("randinsn: %llu ran to their end, %llu exceptions, %llu ended by the timer, "
		     "%llu by SYSCALL, %llu by INT n; %llu ticks while in the harness\n", completed,
		     faults, timer_ticks, syscalls, soft_ints, idle_ticks);
	guest_printf("randinsn: exceptions per vector (software INT 0-31 included):");
	for (int v = 0, n = 0; v < 32; v++) {
		if (!vectors[v])
			continue;
		if (n++ % 8 == 0)
			guest_printf("\nrandinsn:  ");
		if (v < 22 && v != 15)
			guest_printf(" %s=%llu", guest_vector_name((u64)v), vectors[v]);
		else
			guest_printf(" #%d=%llu", v, vectors[v]);
	}
	guest_printf("\n");
	guest_check(executed == count && completed + faults + timer_ticks + syscalls + soft_ints ==
						 count,
		    "all-sequences", "%llu of %llu executed, %llu accounted for", executed, count,
		    completed + faults + timer_ticks + syscalls + soft_ints);
	guest_check(rdmsr(MSR_EFER) == efer_good, "efer-intact", "EFER 0x%llx, was 0x%llx",
		    rdmsr(MSR_EFER), efer_good);
	guest_done();
}

void guest_main(void)
{
	char arg[8];

	guest_cmdline_u64("count", &count);
	guest_cmdline_u64("seed", &rng);
	guest_cmdline_u64("maxlen", &max_len);
	guest_cmdline_u64("show", &show);
	guest_cmdline_u64("bias", &bias);
	if (guest_cmdline_str("ring", arg, sizeof(arg)))
		rings = !strcmp(arg, "0") ? 0 : !strcmp(arg, "3") ? 3 : 2;
	max_len = MAX(1ull, MIN(max_len, (u64)MAX_LEN));
	guest_printf("randinsn: %llu sequences of 1-%llu bytes at %s, seed 0x%llx, bias %llu%%\n",
		     count, max_len, rings == 2 ? "CPL 0 and 3" : rings ? "CPL 3" : "CPL 0", rng,
		     bias);
	guest_tsc_khz();
	setup();
	start_tsc = rdtsc();
	next_report = 0;
	/* Switch to the harness stack for good: events come back there. */
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "call *%1" : : "r"(ri_sh.s.harness_rsp), "r"(launch_next) : "memory");
	__builtin_unreachable();
}
