/*
 * I/O instruction exits: every port exits (the I/O bitmaps are all ones) and goes to the
 * guest's device bus (guest/vdev.c); unclaimed ports read all ones. String forms (INS/OUTS,
 * with REP) are emulated a page at a time and restarted until RCX reaches zero.
 */
#include <kestrel/cpu.h>
#include <kestrel/sched.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

/* Exit qualification for I/O instructions (SDM Vol. 3C Table 28-5). */
#define IO_QUAL_SIZE(q) (((q) & 7) + 1)
#define IO_QUAL_IN (1u << 3)
#define IO_QUAL_STRING (1u << 4)
#define IO_QUAL_REP (1u << 5)
#define IO_QUAL_PORT(q) ((u16)((q) >> 16))
#define RFLAGS_DF (1ull << 10)
/* VM-exit instruction information for INS/OUTS: address size in bits 9:7 (Table 28-8). */
#define INSN_INFO_ADDR_SIZE(i) (((i) >> 7) & 7)
#define STRING_IO_MAX_PER_EXIT 4096 /* bytes: bounds the time one exit spends in root mode */

static void port_io(struct vcpu *v, u16 port, u32 size, bool in)
{
	u64 *rax = &v->regs.gpr[GPR_RAX];
	u32 mask = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;

	if (!in) {
		vdev_io_write(&v->guest->bus, port, size, (u32)*rax & mask);
		return;
	}
	/* IN EAX zero-extends into RAX; IN AL/AX keep the rest (SDM Vol. 3A 3.4.1.1). */
	if (size == 4)
		*rax = vdev_io_read(&v->guest->bus, port, 4);
	else
		*rax = (*rax & ~(u64)mask) | (vdev_io_read(&v->guest->bus, port, size) & mask);
}

/* The guest page a string operand is in, translated once for all its elements there. */
struct string_page {
	u64 linear; /* page-aligned; ~0 before the first translation */
	u64 gpa;
	u8 *host; /* NULL: the page is not guest RAM */
};

/*
 * Host pointers to the `size` bytes of the operand at `linear`: an element may straddle two
 * pages that need not be adjacent in guest-physical memory. Returns 0; or what
 * vcpu_linear_to_phys() returned (a #PF is queued, or the guest was stopped); or 1 when a
 * byte is not in guest RAM (*gpa says where).
 */
static int operand_bytes(struct vcpu *v, struct string_page *page, u64 linear, u32 size,
			 enum walk_access access, u8 *byte[4], u64 *gpa)
{
	for (u32 i = 0; i < size; i++) {
		u64 la = linear + i;

		if (ALIGN_DOWN(la, PAGE_SIZE) != page->linear) {
			int err = vcpu_linear_to_phys(v, la, access, gpa);

			if (err)
				return err;
			page->linear = ALIGN_DOWN(la, PAGE_SIZE);
			page->gpa = ALIGN_DOWN(*gpa, PAGE_SIZE);
			page->host = guest_ram_ptr(v->guest, page->gpa, PAGE_SIZE);
		}
		if (!page->host) {
			*gpa = page->gpa + (la & (PAGE_SIZE - 1));
			return 1;
		}
		byte[i] = page->host + (la & (PAGE_SIZE - 1));
	}
	return 0;
}

/* One element of INS/OUTS between the port and the operand's bytes. */
static void string_element(struct vcpu *v, u16 port, u32 size, bool in, u8 *const byte[4])
{
	u32 value = 0;

	if (in) {
		value = vdev_io_read(&v->guest->bus, port, size);
		for (u32 i = 0; i < size; i++)
			*byte[i] = (u8)(value >> (8 * i));
		return;
	}
	for (u32 i = 0; i < size; i++)
		value |= (u32)*byte[i] << (8 * i);
	vdev_io_write(&v->guest->bus, port, size, value);
}

static void string_io(struct vcpu *v, u16 port, u32 size, bool in, bool rep)
{
	u32 info = vmcs_read32(VMCS_EXIT_INSTRUCTION_INFO);
	u64 addr_mask = INSN_INFO_ADDR_SIZE(info) == 0   ? 0xffffull
			: INSN_INFO_ADDR_SIZE(info) == 1 ? 0xffffffffull
							 : ~0ull;
	u64 *index = &v->regs.gpr[in ? GPR_RDI : GPR_RSI];
	u64 *count = &v->regs.gpr[GPR_RCX];
	/* The CPU computed the operand's linear address (segment base included), 28.2.1. */
	u64 linear = vmcs_readnat(VMCS_GUEST_LINEAR_ADDRESS);
	s64 step = vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_DF ? -(s64)size : (s64)size;
	u64 remaining = rep ? *count & addr_mask : 1;
	struct string_page page = { .linear = ~0ull };
	u32 done = 0;

	while (remaining && done * size < STRING_IO_MAX_PER_EXIT) {
		u8 *byte[4];
		u64 gpa;
		int err = operand_bytes(v, &page, linear, size, in ? WALK_WRITE : WALK_READ, byte,
					&gpa);

		if (err < 0)
			return; /* #PF queued, or the guest stopped: the instruction did not finish */
		if (err) {
			guest_stop(v->guest, -1, "string I/O on port 0x%x with memory outside RAM "
				   "(GPA 0x%llx)", port, gpa);
			return;
		}
		string_element(v, port, size, in, byte);
		linear += step;
		*index = (*index & ~addr_mask) | ((*index + step) & addr_mask);
		remaining--;
		done++;
		if (rep)
			*count = (*count & ~addr_mask) | remaining;
	}
	if (!remaining)
		vcpu_skip_instruction(v); /* otherwise the REP re-executes from where it stopped */
}

/* A timer or an interrupt controller was accessed: its next event and what it would deliver
 * may have changed. Interrupt requests devices raise arrive through their irq_line. */
static void after_device_access(struct guest *g)
{
	if (g->bus.events_touched) {
		g->bus.events_touched = false;
		sched_devices_changed(g);
	}
}

void exit_io(struct vcpu *v)
{
	u64 q = v->exit_qualification;
	u32 size = IO_QUAL_SIZE(q);
	bool in = q & IO_QUAL_IN;

	if (q & IO_QUAL_STRING) {
		string_io(v, IO_QUAL_PORT(q), size, in, q & IO_QUAL_REP);
	} else {
		port_io(v, IO_QUAL_PORT(q), size, in);
		vcpu_skip_instruction(v);
	}
	after_device_access(v->guest);
}
