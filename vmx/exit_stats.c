/* Exit statistics: percentiles from the log2 histogram and the JSON-lines form. */
#include <kestrel/exit_stats.h>
#include <kestrel/fmt.h>
#include <kestrel/string.h>

void exit_stats_reset(struct exit_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (u32 i = 0; i < EXIT_REASON_MAX; i++)
		s->reason[i].min = ~0ull; /* so recording needs no first-exit test */
}

u64 exit_stats_total(const struct exit_stats *s)
{
	u64 total = 0;

	for (u32 i = 0; i < EXIT_REASON_MAX; i++)
		total += s->reason[i].count;
	return total;
}

u64 exit_stats_percentile(const struct exit_reason_stats *r, u32 permille)
{
	u64 rank, seen = 0;

	if (!r->count)
		return 0;
	/* The rank-th smallest cost, 1-based, as in the nearest-rank method. */
	rank = (r->count * permille + 999) / 1000;
	if (rank == 0)
		rank = 1;
	for (u32 b = 0; b < EXIT_HIST_BUCKETS; b++) {
		u64 lo = b ? 1ull << b : 0, width = b ? 1ull << b : 2, value;

		if (seen + r->hist[b] < rank) {
			seen += r->hist[b];
			continue;
		}
		/* Spread the bucket's exits evenly over its range. */
		value = lo + width * (rank - seen - 1) / r->hist[b] + width / (2 * r->hist[b]);
		return value < r->min ? r->min : value > r->max ? r->max : value;
	}
	return r->max;
}

size_t exit_stats_json(char *buf, size_t size, const char *guest, u32 reason,
		       const struct exit_reason_stats *r)
{
	return fmt_snprintf(buf, size,
			    "{\"guest\":\"%s\",\"reason\":\"%s\",\"reason_number\":%u,"
			    "\"count\":%llu,\"cycles_total\":%llu,\"cycles_min\":%llu,"
			    "\"cycles_median\":%llu,\"cycles_p99\":%llu,\"cycles_max\":%llu}",
			    guest, exit_reason_name(reason), reason, r->count, r->cycles,
			    r->count ? r->min : 0,
			    exit_stats_percentile(r, 500), exit_stats_percentile(r, 990), r->max);
}
