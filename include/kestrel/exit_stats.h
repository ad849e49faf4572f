/*
 * Per-vCPU exit statistics: for each exit reason the count, the root-mode TSC ticks (total,
 * minimum, maximum) and a log2 histogram good enough for a median and a 99th percentile.
 * Recording is a handful of adds and compares (docs/measuring.md has the measured cost of the
 * whole accounting step); everything else here is pure and host-tested.
 */
#ifndef KESTREL_EXIT_STATS_H
#define KESTREL_EXIT_STATS_H

#include <kestrel/types.h>
#include <kestrel/vmx_exit.h>

/* Bucket b counts costs in [2^b, 2^(b+1)), bucket 0 also 0: one per bit of a u64, so
 * recording needs no clamp. */
#define EXIT_HIST_BUCKETS 64

struct exit_reason_stats {
	u64 count;
	u64 cycles; /* sum */
	u64 min, max; /* min is ~0 while count is 0 (exit_stats_reset) */
	u32 hist[EXIT_HIST_BUCKETS];
};

struct exit_stats {
	struct exit_reason_stats reason[EXIT_REASON_MAX];
	u64 idle; /* ticks the CPU waited, every vCPU halted, inside this vCPU's exits */
};

static inline void exit_stats_record(struct exit_stats *s, u32 reason, u64 cycles)
{
	struct exit_reason_stats *r = &s->reason[reason];
	u32 bucket = 63 - (u32)__builtin_clzll(cycles | 1); /* floor(log2), 0 for 0 and 1 */

	/* Every exit runs this: one register for r, or GCC computes it again for each field. */
	__asm__("" : "+r"(r));

	r->count++;
	r->cycles += cycles;
	if (unlikely(cycles < r->min))
		r->min = cycles;
	if (unlikely(cycles > r->max))
		r->max = cycles;
	r->hist[bucket]++;
}

void exit_stats_reset(struct exit_stats *s);
u64 exit_stats_total(const struct exit_stats *s);

/*
 * The cost below which `permille` of this reason's exits fall (500 = median, 990 = p99),
 * interpolated within its log2 bucket and clamped to [min, max]. 0 when there were none.
 */
u64 exit_stats_percentile(const struct exit_reason_stats *r, u32 permille);

/* One JSON line for a reason: {"guest":..,"reason":..,"count":..,"cycles_total":..,...}.
 * Returns the length written (always NUL-terminated when size > 0). */
size_t exit_stats_json(char *buf, size_t size, const char *guest, u32 reason,
		       const struct exit_reason_stats *r);

#endif
