/* VMCALL: Kestrel's hypercalls (include/kestrel/hypercall.h, docs/hypercalls.md). */
#include <kestrel/console.h>
#include <kestrel/hypercall.h>
#include <kestrel/string.h>
#include <kestrel/vcpu.h>

#define CONSOLE_WRITE_MAX 4096

static s64 hypercall_console_write(struct vcpu *v, u64 gpa, u64 len)
{
	const char *text;

	if (len > CONSOLE_WRITE_MAX)
		return HC_EINVAL;
	text = guest_ram_ptr(v->guest, gpa, len);
	if (!text)
		return HC_EINVAL;
	for (u64 i = 0; i < len; i++)
		guest_console_putc(v->guest, (u8)text[i]);
	return HC_OK;
}

static s64 hypercall_exit_count(struct vcpu *v, u64 reason)
{
	if ((u32)reason == HC_EXIT_ALL)
		return (s64)exit_stats_total(&v->stats);
	if (reason >= EXIT_REASON_MAX)
		return HC_EINVAL;
	return (s64)v->stats.reason[reason].count;
}

static s64 hypercall_exit_stats(struct vcpu *v, u64 reason, u64 gpa)
{
	struct hc_exit_stats *out = guest_ram_ptr(v->guest, gpa, sizeof(*out));
	const struct exit_reason_stats *r;

	if (reason >= EXIT_REASON_MAX || !out)
		return HC_EINVAL;
	r = &v->stats.reason[reason];
	out->count = r->count;
	out->cycles_total = r->cycles;
	out->cycles_min = r->count ? r->min : 0;
	out->cycles_max = r->max;
	memcpy(out->hist, r->hist, sizeof(out->hist));
	return HC_OK;
}

_Static_assert(EXIT_HIST_BUCKETS == 32, "struct hc_exit_stats has 32 histogram buckets");

void exit_vmcall(struct vcpu *v)
{
	u64 *r = v->regs.gpr;
	s64 result;

	/* VMCALL exits at any CPL; only the guest kernel may call (ABI in hypercall.h). */
	if (vcpu_cpl() != 0) {
		vcpu_inject_exception(v, VECTOR_UD);
		return;
	}
	switch (r[GPR_RAX]) {
	case HC_VERSION:
		result = KESTREL_ABI_VERSION;
		break;
	case HC_CONSOLE_WRITE:
		result = hypercall_console_write(v, r[GPR_RBX], r[GPR_RCX]);
		break;
	case HC_POWER_OFF:
		guest_stop(v->guest, (int)(r[GPR_RBX] & 0x7fffffff), "powered off with status %llu",
			   r[GPR_RBX] & 0x7fffffff);
		return;
	case HC_EXIT_COUNT:
		result = hypercall_exit_count(v, r[GPR_RBX]);
		break;
	case HC_EXIT_RESET:
		exit_stats_reset(&v->stats);
		result = HC_OK;
		break;
	case HC_NULL:
		result = HC_OK;
		break;
	case HC_EXIT_STATS:
		result = hypercall_exit_stats(v, r[GPR_RBX], r[GPR_RCX]);
		break;
	default:
		result = HC_ENOSYS;
		break;
	}
	r[GPR_RAX] = (u64)result;
	vcpu_skip_instruction(v);
}
