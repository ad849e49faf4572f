/*
 * kestrel.cfg parser (boot/config.c): the input is the whole file. Checks config_parse's
 * promises: a NUL-terminated "kestrel.cfg:<line>: ..." message on failure (also into a short
 * buffer), and on success only in-range values, NUL-terminated strings and complete guests.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <string.h>

#include <kestrel/config.h>

#include "fuzz.h"

#define FILENAME "kestrel.cfg"

static void check_string(const char *s, size_t max, int may_be_empty)
{
	size_t n = strnlen(s, max);

	FUZZ_CHECK(n < max);
	FUZZ_CHECK(may_be_empty || n > 0);
	FUZZ_CHECK(fuzz_text(s, max, 1)); /* a cmdline may hold tabs */
}

static void check_config(const struct config *cfg)
{
	FUZZ_CHECK(cfg->loglevel <= LOG_DEBUG);
	FUZZ_CHECK(cfg->harness <= HARNESS_BOCHS);
	FUZZ_CHECK(cfg->selftest <= SELFTEST_STACK_OVERFLOW);
	FUZZ_CHECK(cfg->input <= INPUT_OFF);
	FUZZ_CHECK(cfg->hv_memory >= CONFIG_HV_MEMORY_MIN &&
		   cfg->hv_memory <= CONFIG_HV_MEMORY_MAX);
	FUZZ_CHECK(IS_ALIGNED(cfg->hv_memory, MiB(2)));
	FUZZ_CHECK(cfg->n_guests <= CONFIG_MAX_GUESTS);
	FUZZ_CHECK(strcmp(config_loglevel_name(cfg->loglevel), "unknown") != 0);
	FUZZ_CHECK(strcmp(config_harness_name(cfg->harness), "unknown") != 0);
	FUZZ_CHECK(strcmp(config_selftest_name(cfg->selftest), "unknown") != 0);
	for (u32 i = 0; i < cfg->n_guests; i++) {
		const struct guest_config *g = &cfg->guests[i];

		check_string(g->name, sizeof(g->name), 0);
		check_string(g->kernel, sizeof(g->kernel), 0);
		check_string(g->initrd, sizeof(g->initrd), 1);
		check_string(g->cmdline, sizeof(g->cmdline), 1);
		FUZZ_CHECK(!strchr(g->kernel, ' ') && !strchr(g->initrd, ' '));
		FUZZ_CHECK(g->memory >= CONFIG_GUEST_MEMORY_MIN &&
			   g->memory <= CONFIG_GUEST_MEMORY_MAX && IS_ALIGNED(g->memory, MiB(1)));
		FUZZ_CHECK(g->cpus >= 1 && g->cpus <= CONFIG_GUEST_CPUS_MAX);
		FUZZ_CHECK(g->line >= 1);
		for (u32 j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(g->name, cfg->guests[j].name) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: config_parse must not look for a NUL past the end. */
	char *text = (char *)fuzz_dup(data, size);
	static struct config cfg, again;
	char err[CONFIG_ERR_MAX], small[12];
	int r;

	memset(err, 'x', sizeof(err));
	r = config_parse(text, size, FILENAME, &cfg, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
	if (r == 0) {
		FUZZ_CHECK(err[0] == '\0');
		check_config(&cfg);
	} else {
		FUZZ_CHECK(strncmp(err, FILENAME ":", strlen(FILENAME) + 1) == 0);
		/* Messages quote the input as it is: printable ASCII and tabs (docs/config.md). */
		FUZZ_CHECK(fuzz_text(err, sizeof(err), 1));
		/* Keys parsed before the failing line keep their (valid) values. */
		FUZZ_CHECK(cfg.loglevel <= LOG_DEBUG && cfg.harness <= HARNESS_BOCHS);
		FUZZ_CHECK(cfg.n_guests <= CONFIG_MAX_GUESTS);
	}

	/* The same input again: a truncated message, no error buffer at all, the same verdict. */
	memset(small, 'x', sizeof(small));
	FUZZ_CHECK(config_parse(text, size, FILENAME, &again, small, sizeof(small)) == r);
	FUZZ_CHECK(small[sizeof(small) - 1] == '\0' || memchr(small, '\0', sizeof(small)));
	FUZZ_CHECK(config_parse(text, size, FILENAME, &again, NULL, 0) == r);
	if (r == 0)
		FUZZ_CHECK(memcmp(&cfg, &again, sizeof(cfg)) == 0);

	free(text);
	return 0;
}
