/* VMCALL: Kestrel's hypercalls (include/kestrel/hypercall.h, docs/hypercalls.md). */
#include <kestrel/console.h>
#include <kestrel/hypercall.h>
#include <kestrel/string.h>
#include <kestrel/vcpu.h>

#define CONSOLE_WRITE_MAX 4096

/* Each hypercall takes its arguments from the guest's registers and returns RAX. */
typedef s64 hypercall_fn(struct vcpu *v, const u64 *gpr);

static s64 hypercall_version(struct vcpu *v, const u64 *gpr)
{
	return KESTREL_ABI_VERSION;
}

static s64 hypercall_console_write(struct vcpu *v, const u64 *gpr)
{
	u64 gpa = gpr[GPR_RBX], len = gpr[GPR_RCX];
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

static s64 hypercall_power_off(struct vcpu *v, const u64 *gpr)
{
	u64 status = gpr[GPR_RBX] & 0x7fffffff;

	guest_stop(v->guest, (int)status, "powered off with status %llu", status);
	return HC_OK; /* nobody sees it: the guest never runs again */
}

static s64 hypercall_exit_count(struct vcpu *v, const u64 *gpr)
{
	u64 reason = gpr[GPR_RBX];

	if ((u32)reason == HC_EXIT_ALL)
		return (s64)exit_stats_total(&v->stats);
	if (reason >= EXIT_REASON_MAX)
		return HC_EINVAL;
	return (s64)v->stats.reason[reason].count;
}

static s64 hypercall_exit_reset(struct vcpu *v, const u64 *gpr)
{
	exit_stats_reset(&v->stats);
	return HC_OK;
}

static s64 hypercall_null(struct vcpu *v, const u64 *gpr)
{
	return HC_OK;
}

static s64 hypercall_exit_stats(struct vcpu *v, const u64 *gpr)
{
	u64 reason = gpr[GPR_RBX];
	struct hc_exit_stats *out = guest_ram_ptr(v->guest, gpr[GPR_RCX], sizeof(*out));
	const struct exit_reason_stats *r;

	if (reason >= EXIT_REASON_MAX || !out)
		return HC_EINVAL;
	r = &v->stats.reason[reason];
	out->count = r->count;
	out->cycles_total = r->cycles;
	out->cycles_min = r->count ? r->min : 0;
	out->cycles_max = r->max;
	/* The ABI's last bucket holds every cost of 2^31 ticks and more. */
	memset(out->hist, 0, sizeof(out->hist));
	for (u32 b = 0; b < EXIT_HIST_BUCKETS; b++)
		out->hist[MIN(b, HC_HIST_BUCKETS - 1)] += r->hist[b];
	return HC_OK;
}

static hypercall_fn *const hypercalls[HC_COUNT] = {
	[HC_VERSION] = hypercall_version,
	[HC_CONSOLE_WRITE] = hypercall_console_write,
	[HC_POWER_OFF] = hypercall_power_off,
	[HC_EXIT_COUNT] = hypercall_exit_count,
	[HC_EXIT_RESET] = hypercall_exit_reset,
	[HC_NULL] = hypercall_null,
	[HC_EXIT_STATS] = hypercall_exit_stats,
};

static COLD void vmcall_from_user(struct vcpu *v)
{
	vcpu_inject_exception(v, VECTOR_UD);
}

void exit_vmcall(struct vcpu *v)
{
	u64 *gpr = v->regs.gpr;
	u64 nr = gpr[GPR_RAX];

	/* VMCALL exits at any CPL; only the guest kernel may call (ABI in hypercall.h). */
	if (unlikely(vcpu_cpl() != 0)) {
		vmcall_from_user(v);
		return;
	}
	gpr[GPR_RAX] = (u64)(likely(nr < HC_COUNT) ? hypercalls[nr](v, gpr) : HC_ENOSYS);
	vcpu_skip_instruction(v);
}
