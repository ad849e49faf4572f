/*
 * EPT exits. A guest-physical address outside the guest's RAM is either a device's MMIO range
 * (the local APIC, the IOAPIC): then the instruction is fetched through the guest's own page
 * tables, decoded (vmx/x86_decode.c), performed against the device and stepped over, as the
 * seeds' MMIO flow describes; or nothing: then the guest ends with the address it touched.
 */
#include <kestrel/log.h>
#include <kestrel/sched.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>
#include <kestrel/x86_decode.h>

/* EPT-violation exit qualification (SDM Vol. 3C Table 28-7). */
#define EPT_QUAL_READ (1u << 0)
#define EPT_QUAL_WRITE (1u << 1)
#define EPT_QUAL_FETCH (1u << 2)
#define EPT_QUAL_LINEAR_VALID (1u << 7)
#define EPT_QUAL_TRANSLATED (1u << 8) /* with bit 7: the translated address, not a table */
#define INSN_MAX 15

struct mmio_access {
	const struct vdev_mmio_range *range;
	u64 offset;
};

static u64 mmio_read(void *ctx, u32 size)
{
	struct mmio_access *a = ctx;

	return a->range->ops->read(a->range->dev, a->offset, size);
}

static void mmio_write(void *ctx, u32 size, u64 value)
{
	struct mmio_access *a = ctx;

	a->range->ops->write(a->range->dev, a->offset, size, value);
}

/* Up to 15 bytes at CS:RIP, page by page through the guest's tables. Returns the count, 0 when
 * a #PF was queued or the guest stopped. */
static u32 fetch_instruction(struct vcpu *v, u8 *bytes)
{
	u64 linear = vmcs_readnat(VMCS_GUEST_CS_BASE) + vmcs_readnat(VMCS_GUEST_RIP);
	u32 got = 0;

	while (got < INSN_MAX) {
		u64 gpa;
		u32 chunk = (u32)MIN((u64)INSN_MAX - got, PAGE_SIZE - ((linear + got) & 0xfff));
		const u8 *src;

		if (vcpu_linear_to_phys(v, linear + got, WALK_FETCH, &gpa))
			return got ? got : 0;
		src = guest_ram_ptr(v->guest, gpa, chunk);
		if (!src)
			break;
		for (u32 i = 0; i < chunk; i++)
			bytes[got + i] = src[i];
		got += chunk;
	}
	return got;
}

static void emulate_mmio(struct vcpu *v, const struct vdev_mmio_range *range, u64 gpa)
{
	struct mmio_access access = { range, gpa - range->base };
	struct x86_mmio_ops ops = { mmio_read, mmio_write, &access };
	u8 bytes[INSN_MAX];
	u32 n = fetch_instruction(v, bytes);
	struct x86_insn insn;
	u64 rflags, rsp;
	enum cpu_mode mode;

	if (!n)
		return;
	mode = x86_cpu_mode(vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA,
			    vmcs_read32(VMCS_GUEST_CS_AR));
	rflags = vmcs_readnat(VMCS_GUEST_RFLAGS);
	rsp = vmcs_readnat(VMCS_GUEST_RSP);
	v->regs.gpr[GPR_RSP] = rsp; /* the decoder indexes every GPR, RSP included */
	if (x86_decode(bytes, n, mode, &insn) ||
	    x86_emulate_mmio(&insn, v->regs.gpr, &rflags, &ops)) {
		log_err("guest '%s': cannot emulate the instruction at RIP 0x%llx touching %s at GPA "
			"0x%llx: %02x %02x %02x %02x %02x %02x %02x %02x", v->guest->name,
			vmcs_readnat(VMCS_GUEST_RIP), range->name, gpa, bytes[0], bytes[1], bytes[2],
			bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
		guest_stop(v->guest, -1, "MMIO instruction not emulated at GPA 0x%llx (%s)", gpa,
			   range->name);
		return;
	}
	if (v->regs.gpr[GPR_RSP] != rsp)
		vmcs_writenat(VMCS_GUEST_RSP, v->regs.gpr[GPR_RSP]);
	vmcs_writenat(VMCS_GUEST_RFLAGS, rflags);
	vmcs_writenat(VMCS_GUEST_RIP, vmcs_readnat(VMCS_GUEST_RIP) + insn.length);
	sched_devices_changed(v->guest);
}

void exit_ept_violation(struct vcpu *v)
{
	u64 q = v->exit_qualification, gpa = vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS);
	const char *access = q & EPT_QUAL_FETCH ? "instruction fetch"
			     : q & EPT_QUAL_WRITE ? "write"
						  : "read";
	const struct vdev_mmio_range *range = vdev_mmio_find(&v->guest->bus, gpa, 1);

	/* Only a data access to the device's address is MMIO; a page walk that lands on a device
	 * page (bit 8 clear) has no instruction to emulate (SDM Vol. 3C Table 28-7). */
	if (range && !(q & EPT_QUAL_FETCH) && (q & EPT_QUAL_LINEAR_VALID) &&
	    (q & EPT_QUAL_TRANSLATED)) {
		emulate_mmio(v, range, gpa);
		return;
	}
	if ((q & EPT_QUAL_LINEAR_VALID) && !(q & EPT_QUAL_TRANSLATED))
		access = "paging-structure access";
	log_err("guest '%s': EPT violation: %s at GPA 0x%llx (outside its %llu MiB of RAM), "
		"RIP 0x%llx", v->guest->name, access, gpa, v->guest->ram_size >> 20,
		vmcs_readnat(VMCS_GUEST_RIP));
	if (q & EPT_QUAL_LINEAR_VALID)
		log_err("  guest linear address 0x%llx", vmcs_readnat(VMCS_GUEST_LINEAR_ADDRESS));
	guest_stop(v->guest, -1, "EPT violation: %s at GPA 0x%llx", access, gpa);
}

/* A misconfigured EPT entry is Kestrel's bug, never the guest's (SDM Vol. 3C 29.3.3.1). */
void exit_ept_misconfig(struct vcpu *v)
{
	u64 gpa = vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS);

	log_err("guest '%s': EPT misconfiguration at GPA 0x%llx: a Kestrel bug, please report",
		v->guest->name, gpa);
	vcpu_dump(v);
	guest_stop(v->guest, -1, "EPT misconfiguration at GPA 0x%llx", gpa);
}
