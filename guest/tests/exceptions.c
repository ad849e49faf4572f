/*
 * exceptions: a guest's own exceptions reach its own IDT with the right vector, error code,
 * RIP and CR2, and under Kestrel without a VM exit (none of reason 0, "exception or NMI").
 * VMX instructions are invalid in the guest (#UD, Kestrel hides VMX), and so is VMCALL from
 * ring 3.
 */
#include "guest.h"

const char guest_name[] = "exceptions";

#define NONCANONICAL 0x8000000000000000ull
#define PF_ERR_WRITE (1ull << 1)
#define PF_ERR_USER (1ull << 2)

static u8 victim[4096] __attribute__((aligned(4096)));

struct outcome {
	int vector;
	u64 error, rip, cr2, cs;
	u64 expected_rip; /* where the exception should report it happened */
};

static void record(struct outcome *o, u64 before)
{
	o->vector = guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
	o->error = guest_fault.error;
	o->rip = guest_fault.rip;
	o->cr2 = guest_fault.cr2;
	o->cs = guest_fault.cs;
}

static void divide_by_zero(struct outcome *o)
{
	u64 before = guest_fault.count;
	u32 eax = 1, edx = 0, divisor = 0;

	__asm__ volatile("lea 1f(%%rip), %[at]\n\t"
			 "1: divl %[d]\n2:" GUEST_EXTABLE(1b, 2b)
			 : [at] "=&r"(o->expected_rip), "+a"(eax), "+d"(edx)
			 : [d] "r"(divisor)
			 : "memory");
	record(o, before);
}

static void invalid_opcode(struct outcome *o)
{
	u64 before = guest_fault.count;

	__asm__ volatile("lea 1f(%%rip), %0\n\t"
			 "1: ud2\n2:" GUEST_EXTABLE(1b, 2b)
			 : "=&r"(o->expected_rip) : : "memory");
	record(o, before);
}

static void breakpoint(struct outcome *o)
{
	u64 before = guest_fault.count;

	/* A trap: RIP points after the INT3. */
	__asm__ volatile("lea 2f(%%rip), %0\n\t"
			 "int3\n2:" GUEST_EXTABLE(2b, 2b)
			 : "=&r"(o->expected_rip) : : "memory");
	record(o, before);
}

static void noncanonical_read(struct outcome *o)
{
	u64 before = guest_fault.count, v = 0;

	__asm__ volatile("lea 1f(%%rip), %[at]\n\t"
			 "1: mov (%[addr]), %[v]\n2:" GUEST_EXTABLE(1b, 2b)
			 : [at] "=&r"(o->expected_rip), [v] "+r"(v)
			 : [addr] "r"(NONCANONICAL)
			 : "memory");
	record(o, before);
}

static void page_fault(struct outcome *o, bool write)
{
	u64 before = guest_fault.count, v = 0, addr = (u64)(uintptr_t)victim + 0x18;

	if (write)
		__asm__ volatile("lea 1f(%%rip), %[at]\n\t"
				 "1: mov %[v], (%[addr])\n2:" GUEST_EXTABLE(1b, 2b)
				 : [at] "=&r"(o->expected_rip)
				 : [v] "r"(v), [addr] "r"(addr)
				 : "memory");
	else
		__asm__ volatile("lea 1f(%%rip), %[at]\n\t"
				 "1: mov (%[addr]), %[v]\n2:" GUEST_EXTABLE(1b, 2b)
				 : [at] "=&r"(o->expected_rip), [v] "+r"(v)
				 : [addr] "r"(addr)
				 : "memory");
	record(o, before);
}

/* --- the exceptions that must not exit ------------------------------------------------------ */
static struct {
	struct outcome de, ud, bp, gp, pf_read, pf_write;
} core;

static void core_exceptions(void *arg)
{
	(void)arg;
	divide_by_zero(&core.de);
	invalid_opcode(&core.ud);
	breakpoint(&core.bp);
	noncanonical_read(&core.gp);
	guest_set_page_present((u64)(uintptr_t)victim, false);
	page_fault(&core.pf_read, false);
	page_fault(&core.pf_write, true);
	guest_set_page_present((u64)(uintptr_t)victim, true);
}

static void check_outcome(const char *name, const struct outcome *o, int vector, u64 error)
{
	if (o->vector == NO_FAULT) {
		guest_fail(name, "no exception, want %s", guest_vector_name((u64)vector));
		return;
	}
	guest_check(o->vector == vector && o->error == error && o->rip == o->expected_rip &&
			    (o->cs & 3) == 0,
		    name, "%s (vector %d) error 0x%llx at rip 0x%llx CPL %llu; want %s error 0x%llx at "
		    "0x%llx CPL 0", guest_vector_name((u64)o->vector), o->vector, o->error, o->rip,
		    o->cs & 3, guest_vector_name((u64)vector), error, o->expected_rip);
}

static void check_page_fault(const char *name, const char *cr2_name, const struct outcome *o,
			     u64 error)
{
	u64 addr = (u64)(uintptr_t)victim + 0x18;

	check_outcome(name, o, 14, error);
	guest_check(o->vector == 14 && o->cr2 == addr, cr2_name, "CR2 0x%llx, want 0x%llx", o->cr2,
		    addr);
}

static void check_core(void)
{
	u64 exits = 0;

	if (on_kestrel())
		exits = guest_exits_during(EXIT_REASON_EXCEPTION_NMI, core_exceptions, NULL);
	else
		core_exceptions(NULL);

	check_outcome("de", &core.de, 0, 0);
	check_outcome("ud", &core.ud, 6, 0);
	check_outcome("bp", &core.bp, 3, 0);
	check_outcome("gp-noncanonical", &core.gp, 13, 0);
	check_page_fault("pf-read", "pf-read-cr2", &core.pf_read, 0);
	check_page_fault("pf-write", "pf-write-cr2", &core.pf_write, PF_ERR_WRITE);

	if (guest_kestrel_only("no-exception-exits")) {
		guest_printf("exceptions: %llu exits of reason 0 (exception or NMI) across #DE #UD #BP "
			     "#GP #PF #PF\n", exits);
		guest_check(exits == 0, "no-exception-exits", "%llu exits of reason 0, want 0", exits);
	}
	/* The page is back. */
	guest_check(try_write64((u64)(uintptr_t)victim, 1) == NO_FAULT && victim[0] == 1,
		    "pf-remap", "the page still faults after being mapped again");
}

/* --- #GP from a reserved CR4 bit ------------------------------------------------------------ */
static void check_cr4_reserved(void)
{
	u64 cr4 = read_cr4();
	int v;

	if (!on_kestrel()) {
		/* QEMU 7.2's TCG re-executes such a MOV to CR4 forever instead of raising #GP. */
		guest_skip("gp-cr4-reserved", "natively QEMU TCG hangs on a reserved CR4 bit");
		return;
	}
	v = try_write_cr4(cr4 | (1ull << 63));
	if (v == NO_FAULT)
		write_cr4(cr4);
	guest_check(v == 13 && guest_fault.error == 0, "gp-cr4-reserved",
		    "CR4 bit 63: %s (error 0x%llx), want #GP(0)",
		    v == NO_FAULT ? "no fault" : guest_vector_name((u64)v),
		    v == NO_FAULT ? 0 : guest_fault.error);
}

/* --- #PF from ring 3 ------------------------------------------------------------------------ */
static u64 user_read(u64 addr)
{
	u64 v;

	return (u64)try_read64(addr, &v);
}

static void check_user_page_fault(void)
{
	u64 addr = (u64)(uintptr_t)victim + 0x18, before = guest_fault.count;
	int v;

	guest_set_page_present((u64)(uintptr_t)victim, false);
	v = (int)guest_run_user(user_read, addr);
	guest_set_page_present((u64)(uintptr_t)victim, true);
	if (v == NO_FAULT || guest_fault.count == before) {
		guest_fail("pf-user", "no exception from a ring-3 read of an unmapped page");
		return;
	}
	guest_check(v == 14 && guest_fault.error == PF_ERR_USER && guest_fault.cr2 == addr &&
			    (guest_fault.cs & 3) == 3,
		    "pf-user", "%s error 0x%llx CR2 0x%llx CPL %llu; want #PF error 0x%llx CR2 0x%llx "
		    "CPL 3", guest_vector_name((u64)v), guest_fault.error, guest_fault.cr2,
		    guest_fault.cs & 3, PF_ERR_USER, addr);
}

/* --- VMX instructions ----------------------------------------------------------------------- */
static u64 vmx_region[512] __attribute__((aligned(4096)));

static int vmx_instruction(int which)
{
	u64 before = guest_fault.count, pa = (u64)(uintptr_t)vmx_region, type = 1;
	struct {
		u64 eptp, reserved;
	} desc = { pa | 0x1e, 0 };

	switch (which) {
	case 0:
		__asm__ volatile("1: vmxon %0\n2:" GUEST_EXTABLE(1b, 2b) : : "m"(pa) : "memory", "cc");
		break;
	case 1:
		__asm__ volatile("1: vmclear %0\n2:" GUEST_EXTABLE(1b, 2b) : : "m"(pa) : "memory", "cc");
		break;
	case 2:
		__asm__ volatile("1: vmptrld %0\n2:" GUEST_EXTABLE(1b, 2b) : : "m"(pa) : "memory", "cc");
		break;
	default:
		__asm__ volatile("1: invept %0, %1\n2:" GUEST_EXTABLE(1b, 2b)
				 : : "m"(desc), "r"(type) : "memory", "cc");
		break;
	}
	return guest_fault.count != before ? (int)guest_fault.vector : NO_FAULT;
}

static void check_vmx_instructions(void)
{
	static const char *const names[] = { "vmxon-ud", "vmclear-ud", "vmptrld-ud", "invept-ud" };

	for (int i = 0; i < 4; i++) {
		int v = vmx_instruction(i);

		guest_check(v == 6, names[i], "%s, want #UD",
			    v == NO_FAULT ? "no fault" : guest_vector_name((u64)v));
	}
}

static u64 user_vmcall(u64 arg)
{
	u64 before = guest_fault.count, rax = HC_NULL;

	(void)arg;
	__asm__ volatile("1: vmcall\n2:" GUEST_EXTABLE(1b, 2b)
			 : "+a"(rax) : : "rbx", "rcx", "rdx", "rsi", "memory");
	return guest_fault.count != before ? guest_fault.vector : (u64)(s64)NO_FAULT;
}

static void check_user_vmcall(void)
{
	int v = (int)guest_run_user(user_vmcall, 0);

	guest_check(v == 6 && (guest_fault.cs & 3) == 3, "vmcall-ring3-ud", "%s at CPL %llu, want #UD "
		    "at CPL 3", v == NO_FAULT ? "no fault" : guest_vector_name((u64)v),
		    guest_fault.cs & 3);
}

void guest_main(void)
{
	check_core();
	check_cr4_reserved();
	check_user_page_fault();
	check_vmx_instructions();
	check_user_vmcall();
}
