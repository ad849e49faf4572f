/* Exit statistics: recording, percentiles from the log2 histogram, the JSON-lines form. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/exit_stats.h>

static struct exit_stats *fresh(void)
{
	struct exit_stats *s = malloc(sizeof(*s));

	assert_non_null(s);
	memset(s, 0xa5, sizeof(*s)); /* exit_stats_reset must set every field */
	exit_stats_reset(s);
	return s;
}

static void record_counts_sums_and_extremes(void **state)
{
	struct exit_stats *s = fresh();
	struct exit_reason_stats *r = &s->reason[EXIT_REASON_CPUID];

	exit_stats_record(s, EXIT_REASON_CPUID, 200);
	exit_stats_record(s, EXIT_REASON_CPUID, 150);
	exit_stats_record(s, EXIT_REASON_CPUID, 4000);
	exit_stats_record(s, EXIT_REASON_VMCALL, 0);
	assert_int_equal(r->count, 3);
	assert_int_equal(r->cycles, 4350);
	assert_int_equal(r->min, 150);
	assert_int_equal(r->max, 4000);
	assert_int_equal(r->hist[7], 2);  /* 128..255 */
	assert_int_equal(r->hist[11], 1); /* 2048..4095 */
	assert_int_equal(s->reason[EXIT_REASON_VMCALL].hist[0], 1);
	assert_int_equal(s->reason[EXIT_REASON_VMCALL].min, 0);
	assert_int_equal(exit_stats_total(s), 4);
	exit_stats_reset(s);
	assert_int_equal(exit_stats_total(s), 0);
	assert_int_equal(s->reason[EXIT_REASON_CPUID].max, 0);
	free(s);
}

static void huge_costs_land_in_the_last_bucket(void **state)
{
	struct exit_stats *s = fresh();

	exit_stats_record(s, EXIT_REASON_HLT, ~0ull);
	exit_stats_record(s, EXIT_REASON_HLT, 1ull << 63);
	exit_stats_record(s, EXIT_REASON_HLT, 1ull << 40);
	assert_int_equal(s->reason[EXIT_REASON_HLT].hist[EXIT_HIST_BUCKETS - 1], 2);
	assert_int_equal(s->reason[EXIT_REASON_HLT].hist[40], 1);
	free(s);
}

static void percentiles_of_one_value_are_that_value(void **state)
{
	struct exit_stats *s = fresh();
	struct exit_reason_stats *r = &s->reason[EXIT_REASON_IO];

	assert_int_equal(exit_stats_percentile(r, 500), 0); /* no exits: 0 */
	for (int i = 0; i < 10; i++)
		exit_stats_record(s, EXIT_REASON_IO, 300);
	assert_int_equal(exit_stats_percentile(r, 500), 300); /* clamped to [min, max] */
	assert_int_equal(exit_stats_percentile(r, 990), 300);
	assert_int_equal(exit_stats_percentile(r, 0), 300);
	free(s);
}

/* Against exact percentiles of a known distribution: within the resolution of a bucket. */
static void percentiles_stay_within_their_bucket(void **state)
{
	struct exit_stats *s = fresh();
	struct exit_reason_stats *r = &s->reason[EXIT_REASON_RDMSR];
	u64 values[1000];
	u32 seed = 7;

	for (int i = 0; i < 1000; i++) {
		seed = seed * 1103515245 + 12345;
		values[i] = 100 + (seed >> 8) % 5000;
		exit_stats_record(s, EXIT_REASON_RDMSR, values[i]);
	}
	for (int i = 0; i < 1000; i++) /* insertion sort: exact nearest-rank reference */
		for (int j = i; j > 0 && values[j - 1] > values[j]; j--) {
			u64 t = values[j];

			values[j] = values[j - 1];
			values[j - 1] = t;
		}
	for (u32 permille = 10; permille <= 990; permille += 10) {
		u64 exact = values[(1000 * permille + 999) / 1000 - 1];
		u64 estimate = exit_stats_percentile(r, permille);
		u64 bucket_lo = 1ull << (63 - __builtin_clzll(exact));

		assert_true(estimate >= bucket_lo / 2 && estimate < bucket_lo * 4);
		assert_true(estimate >= r->min && estimate <= r->max);
	}
	free(s);
}

static void json_line_has_every_field(void **state)
{
	struct exit_stats *s = fresh();
	char line[400];
	size_t n;

	exit_stats_record(s, EXIT_REASON_CPUID, 185);
	exit_stats_record(s, EXIT_REASON_CPUID, 250);
	n = exit_stats_json(line, sizeof(line), "bench", EXIT_REASON_CPUID,
			    &s->reason[EXIT_REASON_CPUID]);
	assert_int_equal(n, strlen(line));
	assert_non_null(strstr(line, "{\"guest\":\"bench\",\"reason\":\"CPUID\",\"reason_number\":10,"));
	assert_non_null(strstr(line, "\"count\":2,\"cycles_total\":435,\"cycles_min\":185,"));
	assert_non_null(strstr(line, "\"cycles_max\":250}"));
	assert_non_null(strstr(line, "\"cycles_median\":"));
	assert_non_null(strstr(line, "\"cycles_p99\":"));
	/* Truncation keeps a NUL and reports the full length. */
	assert_int_equal(exit_stats_json(line, 10, "bench", EXIT_REASON_CPUID,
					 &s->reason[EXIT_REASON_CPUID]),
			 n);
	assert_int_equal(strlen(line), 9);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_counts_sums_and_extremes),
		cmocka_unit_test(huge_costs_land_in_the_last_bucket),
		cmocka_unit_test(percentiles_of_one_value_are_that_value),
		cmocka_unit_test(percentiles_stay_within_their_bucket),
		cmocka_unit_test(json_line_has_every_field),
	};

	return cmocka_run_group_tests_name("exit_stats", tests, NULL, NULL);
}
