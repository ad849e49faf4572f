/* EPT exits: an access to guest-physical memory the guest does not have. */
#include <kestrel/log.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>

/* EPT-violation exit qualification (SDM Vol. 3C Table 28-7). */
#define EPT_QUAL_READ (1u << 0)
#define EPT_QUAL_WRITE (1u << 1)
#define EPT_QUAL_FETCH (1u << 2)
#define EPT_QUAL_LINEAR_VALID (1u << 7)

void exit_ept_violation(struct vcpu *v)
{
	u64 q = v->exit_qualification, gpa = vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS);
	const char *access = q & EPT_QUAL_FETCH ? "instruction fetch"
			     : q & EPT_QUAL_WRITE ? "write"
						  : "read";

	log_err("guest '%s': EPT violation: %s at GPA 0x%llx (outside its %llu MiB of RAM), "
		"RIP 0x%llx%s", v->guest->name, access, gpa, v->guest->ram_size >> 20,
		vmcs_readnat(VMCS_GUEST_RIP), q & EPT_QUAL_LINEAR_VALID ? "" : " (paging walk)");
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
