/* Unit tests for boot/config.c: every key, every error message with its line, and garbage input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/config.h>

#define FILENAME "kestrel.cfg"

static struct config cfg;
static char err[CONFIG_ERR_MAX];

static int parse_len(const char *text, size_t len)
{
	/* No NUL anywhere beforehand, so the checks below see whether the parser wrote one. */
	memset(err, 'X', sizeof(err));
	return config_parse(text, len, FILENAME, &cfg, err, sizeof(err));
}

static int parse(const char *text)
{
	return parse_len(text, strlen(text));
}

/* Macros rather than functions so that a failure names the test's line. */
#define EXPECT_OK_LEN(text, len)						\
	do {									\
		if (parse_len(text, len) != 0)					\
			fail_msg("unexpected error: %s", err);			\
		assert_string_equal(err, "");					\
	} while (0)

#define EXPECT_OK(text) EXPECT_OK_LEN(text, strlen(text))

/* Also checks that the message fits CONFIG_ERR_MAX without truncation. */
#define EXPECT_ERROR_LEN(text, len, message)					\
	do {									\
		assert_int_equal(parse_len(text, len), -1);			\
		assert_string_equal(err, FILENAME ":" message);			\
		assert_true(strlen(err) < sizeof(err) - 1);			\
	} while (0)

#define EXPECT_ERROR(text, message) EXPECT_ERROR_LEN(text, strlen(text), message)

/* A guest section with its mandatory key, for tests about other things. */
#define GUEST(name) "[guest " name "]\nkernel = vmlinuz\n"

static void check_defaults(const struct config *c)
{
	assert_int_equal(c->loglevel, LOG_INFO);
	assert_int_equal(c->hv_memory, CONFIG_HV_MEMORY_DEFAULT);
	assert_int_equal(c->harness, HARNESS_NONE);
	assert_int_equal(c->input, INPUT_AUTO);
	assert_int_equal(c->selftest, SELFTEST_NONE);
	assert_int_equal(c->n_guests, 0);
}

static void test_init_defaults(void **state)
{
	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	config_init(&cfg);
	check_defaults(&cfg);
}

static void test_empty_inputs(void **state)
{
	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	EXPECT_OK("");
	check_defaults(&cfg);
	memset(err, 'X', sizeof(err));
	assert_int_equal(config_parse(NULL, 0, FILENAME, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	check_defaults(&cfg);
	EXPECT_OK("\n\n\n");
	EXPECT_OK("# only a comment\n   # indented\n\t#tab\n\n   \t \n#");
	check_defaults(&cfg);
}

static void test_repository_config(void **state)
{
	(void)state;
	EXPECT_OK("# Kestrel boot configuration (format: docs/config.md).\n"
		  "loglevel = info\n"
		  "hv_memory = 64M\n");
	check_defaults(&cfg);
}

static void test_global_keys(void **state)
{
	(void)state;
	EXPECT_OK("loglevel = debug\nhv_memory = 128M\nharness = qemu\nselftest = write-code\n"
		  "input = on\n");
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
	assert_int_equal(cfg.hv_memory, 128ull << 20);
	assert_int_equal(cfg.harness, HARNESS_QEMU);
	assert_int_equal(cfg.selftest, SELFTEST_WRITE_CODE);
	assert_int_equal(cfg.input, INPUT_ON);
	assert_int_equal(cfg.n_guests, 0);
}

static void test_choice_values(void **state)
{
	char text[64];

	(void)state;
	for (int l = LOG_ERROR; l <= LOG_DEBUG; l++) {
		snprintf(text, sizeof(text), "loglevel = %s", config_loglevel_name(l));
		EXPECT_OK(text);
		assert_int_equal(cfg.loglevel, l);
	}
	for (int h = HARNESS_NONE; h <= HARNESS_BOCHS; h++) {
		snprintf(text, sizeof(text), "harness = %s", config_harness_name(h));
		EXPECT_OK(text);
		assert_int_equal(cfg.harness, h);
	}
	for (int s = SELFTEST_NONE; s <= SELFTEST_STACK_OVERFLOW; s++) {
		snprintf(text, sizeof(text), "selftest = %s", config_selftest_name(s));
		EXPECT_OK(text);
		assert_int_equal(cfg.selftest, s);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(config_loglevel_name(LOG_ERROR), "error");
	assert_string_equal(config_loglevel_name(LOG_WARN), "warn");
	assert_string_equal(config_loglevel_name(LOG_INFO), "info");
	assert_string_equal(config_loglevel_name(LOG_DEBUG), "debug");
	assert_string_equal(config_harness_name(HARNESS_NONE), "none");
	assert_string_equal(config_harness_name(HARNESS_QEMU), "qemu");
	assert_string_equal(config_harness_name(HARNESS_BOCHS), "bochs");
	assert_string_equal(config_selftest_name(SELFTEST_NONE), "none");
	assert_string_equal(config_selftest_name(SELFTEST_FAULT), "fault");
	assert_string_equal(config_selftest_name(SELFTEST_WRITE_CODE), "write-code");
	assert_string_equal(config_selftest_name(SELFTEST_STACK_OVERFLOW), "stack-overflow");
	/* Values that no parse produces (corrupted memory, a newer enum) still name something. */
	assert_string_equal(config_loglevel_name((enum log_level)4), "unknown");
	assert_string_equal(config_loglevel_name((enum log_level)-1), "unknown");
	assert_string_equal(config_harness_name((enum harness)3), "unknown");
	assert_string_equal(config_selftest_name((enum selftest)99), "unknown");
}

static void test_bad_choice_values(void **state)
{
	(void)state;
	EXPECT_ERROR("loglevel = loud",
		     "1: bad value for 'loglevel': 'loud' (expected error, warn, info or debug)");
	EXPECT_ERROR("\nloglevel = INFO",
		     "2: bad value for 'loglevel': 'INFO' (expected error, warn, info or debug)");
	EXPECT_ERROR("loglevel =",
		     "1: bad value for 'loglevel': '' (expected error, warn, info or debug)");
	EXPECT_ERROR("harness = kvm",
		     "1: bad value for 'harness': 'kvm' (expected none, qemu or bochs)");
	EXPECT_ERROR("input = yes", "1: bad value for 'input': 'yes' (expected auto, on or off)");
	EXPECT_ERROR("selftest = write_code",
		     "1: bad value for 'selftest': 'write_code' "
		     "(expected none, fault, write-code or stack-overflow)");
	/* '#' starts a comment only at the start of a line. */
	EXPECT_ERROR("loglevel = info # chatty",
		     "1: bad value for 'loglevel': 'info # chatty' (expected error, warn, info or "
		     "debug)");
	/* User text is quoted up to 40 characters. */
	EXPECT_ERROR("selftest = 0123456789012345678901234567890123456789",
		     "1: bad value for 'selftest': '0123456789012345678901234567890123456789' "
		     "(expected none, fault, write-code or stack-overflow)");
	EXPECT_ERROR("selftest = 0123456789012345678901234567890123456789X",
		     "1: bad value for 'selftest': '0123456789012345678901234567890123456789...' "
		     "(expected none, fault, write-code or stack-overflow)");
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		u64 bytes;
	} cases[] = {
		{ "hv_memory = 64M", MiB(64) },
		{ "hv_memory = 64m", MiB(64) },
		{ "hv_memory = 8M", MiB(8) },
		{ "hv_memory = 4G", GiB(4) },
		{ "hv_memory = 4g", GiB(4) },
		{ "hv_memory = 2g", GiB(2) },
		{ "hv_memory = 8192K", MiB(8) },
		{ "hv_memory = 10240k", MiB(10) },
		{ "hv_memory = 8388608", MiB(8) },
		{ "hv_memory = 0010M", MiB(10) },
		{ "hv_memory = 4294967296", GiB(4) },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		EXPECT_OK(cases[i].text);
		assert_int_equal(cfg.hv_memory, cases[i].bytes);
	}
	EXPECT_OK(GUEST("a") "memory = 1M\n");
	assert_int_equal(cfg.guests[0].memory, MiB(1));
	EXPECT_OK(GUEST("a") "memory = 64G\n");
	assert_int_equal(cfg.guests[0].memory, GiB(64));
	EXPECT_OK(GUEST("a") "memory = 3m\n");
	assert_int_equal(cfg.guests[0].memory, MiB(3));
	EXPECT_OK(GUEST("a") "memory = 1024k\n");
	assert_int_equal(cfg.guests[0].memory, MiB(1));
	EXPECT_OK(GUEST("a") "memory = 1048576\n");
	assert_int_equal(cfg.guests[0].memory, MiB(1));
}

static void test_bad_sizes(void **state)
{
	static const char *const bad[] = {
		"xyz", "", "M", "64MB", "64MiB", "64 M", "-1M", "+1M", "0x10M", "1.5G", "64T",
		"1,024M", "6 4M", "64Mk",
	};
	char text[128], message[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), GUEST("a") "memory = %s", bad[i]);
		snprintf(message, sizeof(message), FILENAME ":3: bad size '%s' for 'memory'",
			 bad[i]);
		assert_int_equal(parse(text), -1);
		assert_string_equal(err, message);
		snprintf(text, sizeof(text), "hv_memory = %s", bad[i]);
		snprintf(message, sizeof(message), FILENAME ":1: bad size '%s' for 'hv_memory'",
			 bad[i]);
		assert_int_equal(parse(text), -1);
		assert_string_equal(err, message);
	}
}

static void test_size_alignment_and_range(void **state)
{
	(void)state;
	EXPECT_ERROR("hv_memory = 9M", "1: 'hv_memory' must be a multiple of 2 MiB");
	EXPECT_ERROR("hv_memory = 1K", "1: 'hv_memory' must be a multiple of 2 MiB");
	EXPECT_ERROR("hv_memory = 6M", "1: 'hv_memory' out of range (8M..4G)");
	EXPECT_ERROR("hv_memory = 0", "1: 'hv_memory' out of range (8M..4G)");
	EXPECT_ERROR("hv_memory = 4098M", "1: 'hv_memory' out of range (8M..4G)");
	EXPECT_ERROR("hv_memory = 8G", "1: 'hv_memory' out of range (8M..4G)");
	EXPECT_ERROR(GUEST("a") "memory = 1536K", "3: 'memory' must be a multiple of 1 MiB");
	EXPECT_ERROR(GUEST("a") "memory = 1048575", "3: 'memory' must be a multiple of 1 MiB");
	EXPECT_ERROR(GUEST("a") "memory = 0M", "3: 'memory' out of range (1M..64G)");
	EXPECT_ERROR(GUEST("a") "memory = 65537M", "3: 'memory' out of range (1M..64G)");
	EXPECT_ERROR(GUEST("a") "memory = 65G", "3: 'memory' out of range (1M..64G)");
}

/* Numbers too big for 64 bits are out of range, never wrapped into range. */
static void test_size_overflow(void **state)
{
	(void)state;
	/* UINT64_MAX bytes parses, and is odd. */
	EXPECT_ERROR(GUEST("a") "memory = 18446744073709551615",
		     "3: 'memory' must be a multiple of 1 MiB");
	EXPECT_ERROR(GUEST("a") "memory = 18446744073709551616",
		     "3: 'memory' out of range (1M..64G)");
	EXPECT_ERROR(GUEST("a") "memory = 99999999999999999999999999999999M",
		     "3: 'memory' out of range (1M..64G)");
	/* 2^34 G and 2^54 K are 2^64 bytes, which would wrap to 0. */
	EXPECT_ERROR(GUEST("a") "memory = 17179869184G", "3: 'memory' out of range (1M..64G)");
	EXPECT_ERROR(GUEST("a") "memory = 18014398509481984K",
		     "3: 'memory' out of range (1M..64G)");
	/* 2^44 M + 1 M wraps to 1 M if the multiplication is not checked. */
	EXPECT_ERROR(GUEST("a") "memory = 17592186044417M", "3: 'memory' out of range (1M..64G)");
	EXPECT_ERROR("hv_memory = 18446744073709551616", "1: 'hv_memory' out of range (8M..4G)");
	EXPECT_ERROR(GUEST("a") "cpus = 18446744073709551617", "3: 'cpus' out of range (1..64)");
	EXPECT_ERROR(GUEST("a") "cpus = 4294967297", "3: 'cpus' out of range (1..64)");
	EXPECT_ERROR(GUEST("a") "watchdog = 3601", "3: 'watchdog' out of range (0..3600 seconds)");
	EXPECT_ERROR(GUEST("a") "watchdog = 99999999999999999999",
		     "3: 'watchdog' out of range (0..3600 seconds)");
	EXPECT_ERROR(GUEST("a") "watchdog = 5s", "3: bad number '5s' for 'watchdog'");
}

static void test_guest_all_keys(void **state)
{
	const struct guest_config *g = &cfg.guests[0];

	(void)state;
	EXPECT_OK("loglevel = warn\n"
		  "\n"
		  "[guest linux-1_A]\n"
		  "kernel = \\EFI\\kestrel\\bzImage\n"
		  "initrd = initrd.img\n"
		  "cmdline = console=ttyS0 root=/dev/vda rw\n"
		  "memory = 512M\n"
		  "cpus = 4\n"
		  "watchdog = 30\n");
	assert_int_equal(cfg.loglevel, LOG_WARN);
	assert_int_equal(cfg.n_guests, 1);
	assert_string_equal(g->name, "linux-1_A");
	assert_string_equal(g->kernel, "\\EFI\\kestrel\\bzImage");
	assert_string_equal(g->initrd, "initrd.img");
	assert_string_equal(g->cmdline, "console=ttyS0 root=/dev/vda rw");
	assert_int_equal(g->watchdog, 30);
	assert_int_equal(g->memory, MiB(512));
	assert_int_equal(g->cpus, 4);
	assert_int_equal(g->line, 3);
}

static void test_guest_defaults(void **state)
{
	const struct guest_config *g = &cfg.guests[0];

	(void)state;
	EXPECT_OK("[guest g]\nkernel = k\n");
	assert_int_equal(cfg.n_guests, 1);
	assert_string_equal(g->name, "g");
	assert_string_equal(g->kernel, "k");
	assert_string_equal(g->initrd, "");
	assert_string_equal(g->cmdline, "");
	assert_int_equal(g->memory, CONFIG_GUEST_MEMORY_DEFAULT);
	assert_int_equal(g->cpus, 1);
	assert_int_equal(g->line, 1);
}

static void test_several_guests(void **state)
{
	(void)state;
	/* The same key in different sections is no duplicate. */
	EXPECT_OK("[guest a]\nkernel = ka\nmemory = 2M\n"
		  "[guest b]\nkernel = kb\ncpus = 2\n"
		  "[guest A]\nkernel = kA\n");
	assert_int_equal(cfg.n_guests, 3);
	assert_string_equal(cfg.guests[0].name, "a");
	assert_string_equal(cfg.guests[0].kernel, "ka");
	assert_int_equal(cfg.guests[0].memory, MiB(2));
	assert_int_equal(cfg.guests[0].cpus, 1);
	assert_int_equal(cfg.guests[0].line, 1);
	assert_string_equal(cfg.guests[1].name, "b");
	assert_int_equal(cfg.guests[1].memory, CONFIG_GUEST_MEMORY_DEFAULT);
	assert_int_equal(cfg.guests[1].cpus, 2);
	assert_int_equal(cfg.guests[1].line, 4);
	assert_string_equal(cfg.guests[2].name, "A");
	assert_int_equal(cfg.guests[2].line, 7);
}

static void test_guest_limit(void **state)
{
	char text[1024] = "";

	(void)state;
	for (int i = 0; i < CONFIG_MAX_GUESTS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), GUEST("g%d"), i);
	EXPECT_OK(text);
	assert_int_equal(cfg.n_guests, CONFIG_MAX_GUESTS);
	assert_string_equal(cfg.guests[CONFIG_MAX_GUESTS - 1].name, "g7");

	strcat(text, GUEST("g8"));
	EXPECT_ERROR(text, "17: too many guests (max 8)");
}

static void test_guest_names(void **state)
{
	(void)state;
	EXPECT_OK(GUEST("abcdefghijklmnopqrstuvwxyz01234"));
	assert_string_equal(cfg.guests[0].name, "abcdefghijklmnopqrstuvwxyz01234");
	EXPECT_OK("  [ \tguest \t x-Y_9\t ]  \nkernel = k\n");
	assert_string_equal(cfg.guests[0].name, "x-Y_9");

	EXPECT_ERROR(GUEST("abcdefghijklmnopqrstuvwxyz012345"),
		     "1: bad guest name 'abcdefghijklmnopqrstuvwxyz012345' (1 to 31 letters, "
		     "digits, '_' or '-')");
	EXPECT_ERROR(GUEST("my vm"),
		     "1: bad guest name 'my vm' (1 to 31 letters, digits, '_' or '-')");
	EXPECT_ERROR(GUEST("a.b"), "1: bad guest name 'a.b' (1 to 31 letters, digits, '_' or '-')");
	EXPECT_ERROR(GUEST("a[b"), "1: bad guest name 'a[b' (1 to 31 letters, digits, '_' or '-')");
	EXPECT_ERROR("[guest]", "1: missing guest name (expected [guest NAME])");
	EXPECT_ERROR("[ guest  ]", "1: missing guest name (expected [guest NAME])");
}

static void test_section_errors(void **state)
{
	(void)state;
	EXPECT_ERROR("[guest a", "1: unterminated section header");
	EXPECT_ERROR("[", "1: unterminated section header");
	EXPECT_ERROR("[guest a] # comment", "1: unexpected text after section header");
	EXPECT_ERROR("[guest a]]", "1: unexpected text after section header");
	EXPECT_ERROR("[foo]", "1: unknown section 'foo' (expected [guest NAME])");
	EXPECT_ERROR("[]", "1: unknown section '' (expected [guest NAME])");
	EXPECT_ERROR("[Guest a]", "1: unknown section 'Guest a' (expected [guest NAME])");
	EXPECT_ERROR("[guesta]", "1: unknown section 'guesta' (expected [guest NAME])");
	EXPECT_ERROR("\n\n[global]\n", "3: unknown section 'global' (expected [guest NAME])");
}

static void test_duplicate_guest(void **state)
{
	(void)state;
	EXPECT_ERROR("# guests\n" GUEST("x") GUEST("y") "\n" GUEST("x"),
		     "7: duplicate guest 'x' (first at line 2)");
}

static void test_guest_without_kernel(void **state)
{
	(void)state;
	/* Reported at the section's header, when the section ends: at the next header... */
	EXPECT_ERROR("[guest x]\ncmdline = quiet\n\n[guest y]\nkernel = k\n",
		     "1: guest 'x' has no kernel");
	/* ...or at the end of the file. */
	EXPECT_ERROR(GUEST("a") "\n[guest b]\nmemory = 16M\n# end\n", "4: guest 'b' has no kernel");
	EXPECT_ERROR("[guest only]", "1: guest 'only' has no kernel");
	/* An earlier guest's missing kernel comes before a later line's problem. */
	EXPECT_ERROR("[guest x]\n[bad", "1: guest 'x' has no kernel");
	EXPECT_ERROR("[guest x]\n[guest x]", "1: guest 'x' has no kernel");
}

static void test_scope_errors(void **state)
{
	(void)state;
	EXPECT_ERROR("kernel = vmlinuz", "1: 'kernel' is only valid in a [guest NAME] section");
	EXPECT_ERROR("initrd = i", "1: 'initrd' is only valid in a [guest NAME] section");
	EXPECT_ERROR("cmdline = quiet", "1: 'cmdline' is only valid in a [guest NAME] section");
	EXPECT_ERROR("memory = 64M", "1: 'memory' is only valid in a [guest NAME] section");
	EXPECT_ERROR("cpus = 2", "1: 'cpus' is only valid in a [guest NAME] section");
	EXPECT_ERROR(GUEST("a") "loglevel = info",
		     "3: 'loglevel' must come before the first [guest] section");
	EXPECT_ERROR(GUEST("a") "hv_memory = 64M",
		     "3: 'hv_memory' must come before the first [guest] section");
	EXPECT_ERROR(GUEST("a") "harness = qemu",
		     "3: 'harness' must come before the first [guest] section");
	EXPECT_ERROR(GUEST("a") "selftest = fault",
		     "3: 'selftest' must come before the first [guest] section");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	EXPECT_ERROR("loglevel = info\nloglevel = info", "2: duplicate key 'loglevel'");
	EXPECT_ERROR("hv_memory = 8M\nharness = none\nhv_memory = 8M",
		     "3: duplicate key 'hv_memory'");
	EXPECT_ERROR("harness = none\nharness = qemu", "2: duplicate key 'harness'");
	EXPECT_ERROR("selftest = none\nselftest = none", "2: duplicate key 'selftest'");
	EXPECT_ERROR(GUEST("a") "kernel = other", "3: duplicate key 'kernel'");
	EXPECT_ERROR(GUEST("a") "initrd = i\ninitrd = j", "4: duplicate key 'initrd'");
	EXPECT_ERROR(GUEST("a") "cmdline =\ncmdline = x", "4: duplicate key 'cmdline'");
	EXPECT_ERROR(GUEST("a") "memory = 1M\nmemory = 1M", "4: duplicate key 'memory'");
	EXPECT_ERROR(GUEST("a") "cpus = 1\ncpus = 1", "4: duplicate key 'cpus'");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	EXPECT_ERROR("loglevel", "1: expected 'key = value'");
	EXPECT_ERROR("loglevel info", "1: expected 'key = value'");
	EXPECT_ERROR("= info", "1: expected 'key = value'");
	EXPECT_ERROR("  \t= info", "1: expected 'key = value'");
	EXPECT_ERROR("]", "1: expected 'key = value'");
	EXPECT_ERROR("memroy = 1", "1: unknown key 'memroy'");
	EXPECT_ERROR("\n\n\n\n\n\nmemroy = 1", "7: unknown key 'memroy'");
	EXPECT_ERROR("LogLevel = info", "1: unknown key 'LogLevel'");
	EXPECT_ERROR("hv memory = 64M", "1: unknown key 'hv memory'");
	EXPECT_ERROR("a#b = c", "1: unknown key 'a#b'");
	EXPECT_ERROR("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz = 1",
		     "1: unknown key 'abcdefghijklmnopqrstuvwxyzabcdefghijklmn...'");
	EXPECT_ERROR(GUEST("a") "name = a", "3: unknown key 'name'");
}

static void test_whitespace(void **state)
{
	(void)state;
	EXPECT_OK("loglevel=debug");
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
	EXPECT_OK(" \t loglevel \t=\t error \t ");
	assert_int_equal(cfg.loglevel, LOG_ERROR);
	EXPECT_OK("\t[guest a]\n\tkernel\t=\tk\t\n  memory   =   2M  \n");
	assert_string_equal(cfg.guests[0].kernel, "k");
	assert_int_equal(cfg.guests[0].memory, MiB(2));
}

static void test_cmdline(void **state)
{
	char text[CONFIG_CMDLINE_MAX + 64];
	size_t prefix;

	(void)state;
	EXPECT_OK(GUEST("a") "cmdline =   console=ttyS0  quiet\tloglevel=3 # not a comment  \t");
	assert_string_equal(cfg.guests[0].cmdline,
			    "console=ttyS0  quiet\tloglevel=3 # not a comment");
	EXPECT_OK(GUEST("a") "cmdline =");
	assert_string_equal(cfg.guests[0].cmdline, "");
	EXPECT_OK(GUEST("a") "cmdline==x");
	assert_string_equal(cfg.guests[0].cmdline, "=x");

	strcpy(text, GUEST("a") "cmdline = ");
	prefix = strlen(text);
	memset(text + prefix, 'c', CONFIG_CMDLINE_MAX - 1);
	text[prefix + CONFIG_CMDLINE_MAX - 1] = '\0';
	EXPECT_OK(text);
	assert_int_equal(strlen(cfg.guests[0].cmdline), CONFIG_CMDLINE_MAX - 1);
	strcat(text, "c");
	EXPECT_ERROR(text, "3: 'cmdline' too long (max 1023 characters)");
}

static void test_file_names(void **state)
{
	char text[CONFIG_PATH_MAX + 64];
	size_t prefix;

	(void)state;
	strcpy(text, "[guest a]\nkernel = ");
	prefix = strlen(text);
	memset(text + prefix, 'k', CONFIG_PATH_MAX - 1);
	text[prefix + CONFIG_PATH_MAX - 1] = '\0';
	EXPECT_OK(text);
	assert_int_equal(strlen(cfg.guests[0].kernel), CONFIG_PATH_MAX - 1);
	strcat(text, "k");
	EXPECT_ERROR(text, "2: 'kernel' too long (max 127 characters)");

	strcpy(text, GUEST("a") "initrd = ");
	prefix = strlen(text);
	memset(text + prefix, 'i', CONFIG_PATH_MAX);
	text[prefix + CONFIG_PATH_MAX] = '\0';
	EXPECT_ERROR(text, "3: 'initrd' too long (max 127 characters)");

	EXPECT_ERROR("[guest a]\nkernel = my kernel",
		     "2: bad file name 'my kernel' for 'kernel' (no spaces allowed)");
	EXPECT_ERROR(GUEST("a") "initrd = a\tb",
		     "3: bad file name 'a\tb' for 'initrd' (no spaces allowed)");
	EXPECT_ERROR("[guest a]\nkernel =", "2: missing file name for 'kernel'");
	EXPECT_ERROR(GUEST("a") "initrd =  \t", "3: missing file name for 'initrd'");
	EXPECT_OK(GUEST("a") "initrd = ~!@#$%^&*()[]{}<>=+|;:'\",.?/\\`");
	assert_string_equal(cfg.guests[0].initrd, "~!@#$%^&*()[]{}<>=+|;:'\",.?/\\`");
}

static void test_cpus(void **state)
{
	(void)state;
	EXPECT_OK(GUEST("a") "cpus = 64");
	assert_int_equal(cfg.guests[0].cpus, 64);
	EXPECT_OK(GUEST("a") "cpus = 001");
	assert_int_equal(cfg.guests[0].cpus, 1);
	EXPECT_ERROR(GUEST("a") "cpus = 0", "3: 'cpus' out of range (1..64)");
	EXPECT_ERROR(GUEST("a") "cpus = 65", "3: 'cpus' out of range (1..64)");
	EXPECT_ERROR(GUEST("a") "cpus = two", "3: bad number 'two' for 'cpus'");
	EXPECT_ERROR(GUEST("a") "cpus = -1", "3: bad number '-1' for 'cpus'");
	EXPECT_ERROR(GUEST("a") "cpus = 2K", "3: bad number '2K' for 'cpus'");
	EXPECT_ERROR(GUEST("a") "cpus =", "3: bad number '' for 'cpus'");
}

static void test_line_length(void **state)
{
	char text[3 * CONFIG_LINE_MAX];
	size_t len;

	(void)state;
	/* Exactly the limit, as a comment and as a key; a CR of a CRLF does not count. */
	memset(text, ' ', CONFIG_LINE_MAX);
	text[0] = '#';
	text[CONFIG_LINE_MAX] = '\0';
	EXPECT_OK(text);
	memcpy(text, "loglevel = debug", 16);
	EXPECT_OK(text);
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
	strcpy(text + CONFIG_LINE_MAX, "\r\n");
	EXPECT_OK(text);

	/* One more, on the third line; the length is checked before the bytes. */
	len = (size_t)snprintf(text, sizeof(text), "\n\n");
	memset(text + len, '\x01', CONFIG_LINE_MAX + 1);
	strcpy(text + len + CONFIG_LINE_MAX + 1, "\r\n");
	EXPECT_ERROR(text, "3: line too long (max 1100 characters)");
	memset(text + len, '#', CONFIG_LINE_MAX + 1);
	text[len + CONFIG_LINE_MAX + 1] = '\0';
	EXPECT_ERROR(text, "3: line too long (max 1100 characters)");
}

static void test_non_printable(void **state)
{
	(void)state;
	EXPECT_ERROR("loglevel = \x01info", "1: non-printable character (byte 0x01)");
	EXPECT_ERROR("\n# comment \x7f\n", "2: non-printable character (byte 0x7f)");
	EXPECT_ERROR("# caf\xc3\xa9\n", "1: non-printable character (byte 0xc3)");
	EXPECT_ERROR("\xff", "1: non-printable character (byte 0xff)");
	EXPECT_ERROR("\x1b[31m", "1: non-printable character (byte 0x1b)");
	EXPECT_ERROR("loglevel = info\rharness = qemu\n", "1: non-printable character (byte 0x0d)");
	EXPECT_ERROR("loglevel = info\r\r\n", "1: non-printable character (byte 0x0d)");
	EXPECT_ERROR("\f", "1: non-printable character (byte 0x0c)");
	EXPECT_ERROR("\v", "1: non-printable character (byte 0x0b)");
	/* Embedded NUL bytes: the input is a length, not a string. */
	EXPECT_ERROR_LEN("loglevel = debug\0garbage", 24, "1: non-printable character (byte 0x00)");
	EXPECT_ERROR_LEN("loglevel = info\n\n\0", 18, "3: non-printable character (byte 0x00)");
	/* ...and nothing after `len` is looked at. */
	EXPECT_OK_LEN("loglevel = debug\x01", 16);
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
}

static void test_line_endings(void **state)
{
	const struct guest_config *g = &cfg.guests[0];

	(void)state;
	EXPECT_OK("loglevel = warn\r\nharness = bochs\r\n\r\n[guest a]\r\nkernel = k\r\n"
		  "cmdline = a b \r\n");
	assert_int_equal(cfg.loglevel, LOG_WARN);
	assert_int_equal(cfg.harness, HARNESS_BOCHS);
	assert_string_equal(g->kernel, "k");
	assert_string_equal(g->cmdline, "a b");
	assert_int_equal(g->line, 4);

	/* No newline at the end, with and without a final CR. */
	EXPECT_OK("loglevel = debug");
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
	EXPECT_OK("loglevel = debug\r");
	EXPECT_OK("[guest a]\r\nkernel = vmlinuz");
	assert_string_equal(g->kernel, "vmlinuz");
	EXPECT_OK("[guest a]\nkernel = vmlinuz\r");
	assert_string_equal(g->kernel, "vmlinuz");

	/* Line numbers count LF and CRLF lines alike. */
	EXPECT_ERROR("\r\n\n\r\nbad", "4: expected 'key = value'");
}

/* The loader relies on keys before a bad line, to end a test run cleanly through `harness`. */
static void test_keeps_earlier_keys_on_error(void **state)
{
	(void)state;
	EXPECT_ERROR("harness = qemu\nloglevel = debug\nbogus\nselftest = fault\n",
		     "3: expected 'key = value'");
	assert_int_equal(cfg.harness, HARNESS_QEMU);
	assert_int_equal(cfg.loglevel, LOG_DEBUG);
	assert_int_equal(cfg.selftest, SELFTEST_NONE);

	EXPECT_ERROR("harness = bochs\n" GUEST("a") "cpus = 99\n",
		     "4: 'cpus' out of range (1..64)");
	assert_int_equal(cfg.harness, HARNESS_BOCHS);
	assert_int_equal(cfg.n_guests, 1);
	assert_string_equal(cfg.guests[0].kernel, "vmlinuz");
	assert_int_equal(cfg.guests[0].cpus, 1);

	/* A fresh parse starts from the defaults again. */
	EXPECT_OK("");
	check_defaults(&cfg);
}

/* Every size of error buffer gets a NUL-terminated prefix of the message and no write past it. */
static void test_small_error_buffers(void **state)
{
	static const char text[] = "loglevel = loud";
	char full[CONFIG_ERR_MAX];

	(void)state;
	assert_int_equal(config_parse(text, strlen(text), FILENAME, &cfg, full, sizeof(full)), -1);
	assert_int_equal(config_parse(text, strlen(text), FILENAME, &cfg, NULL, 0), -1);
	for (size_t size = 0; size <= sizeof(full); size++) {
		char *small = malloc(size ? size : 1);

		assert_non_null(small);
		assert_int_equal(config_parse(text, strlen(text), FILENAME, &cfg, small, size), -1);
		if (size) {
			assert_int_equal(strlen(small), MIN(strlen(full), size - 1));
			assert_memory_equal(small, full, strlen(small));
		}
		free(small);
	}
	assert_int_equal(cfg.loglevel, LOG_INFO);
}

static void test_long_filename(void **state)
{
	char filename[400];

	(void)state;
	memset(filename, 'f', sizeof(filename) - 1);
	filename[sizeof(filename) - 1] = '\0';
	memset(err, 'X', sizeof(err));
	assert_int_equal(config_parse("x", 1, filename, &cfg, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, filename, sizeof(err) - 1);
}

/* Deterministic xorshift64, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Length of a string field, which must be NUL-terminated within its array. */
static size_t field_len(const char *field, size_t size)
{
	const char *nul = memchr(field, '\0', size);

	assert_non_null(nul);
	return (size_t)(nul - field);
}

static bool valid_guest_name(const char *name)
{
	static const char allowed[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	size_t len = field_len(name, CONFIG_NAME_MAX);

	return len > 0 && strspn(name, allowed) == len;
}

/* What a successful parse promises the loader. */
static void check_valid_config(const struct config *c)
{
	assert_in_range(c->loglevel, LOG_ERROR, LOG_DEBUG);
	assert_in_range(c->harness, HARNESS_NONE, HARNESS_BOCHS);
	assert_in_range(c->selftest, SELFTEST_NONE, SELFTEST_STACK_OVERFLOW);
	assert_in_range(c->hv_memory, CONFIG_HV_MEMORY_MIN, CONFIG_HV_MEMORY_MAX);
	assert_true(IS_ALIGNED(c->hv_memory, MiB(2)));
	assert_in_range(c->n_guests, 0, CONFIG_MAX_GUESTS);
	for (u32 i = 0; i < c->n_guests; i++) {
		const struct guest_config *g = &c->guests[i];

		assert_true(valid_guest_name(g->name));
		assert_true(field_len(g->kernel, sizeof(g->kernel)) > 0);
		field_len(g->initrd, sizeof(g->initrd));
		field_len(g->cmdline, sizeof(g->cmdline));
		assert_in_range(g->memory, CONFIG_GUEST_MEMORY_MIN, CONFIG_GUEST_MEMORY_MAX);
		assert_true(IS_ALIGNED(g->memory, MiB(1)));
		assert_in_range(g->cpus, 1, CONFIG_GUEST_CPUS_MAX);
		for (u32 j = 0; j < i; j++)
			assert_string_not_equal(g->name, c->guests[j].name);
	}
}

/*
 * Parses `len` bytes copied to a heap block of exactly that size (so ASan catches any read past
 * the end) with an error buffer of random size; returns whether it parsed.
 */
static bool parse_garbage(const char *text, size_t len)
{
	size_t errlen = rng() % 4 ? sizeof(err) : rng() % (sizeof(err) + 1);
	char *copy = malloc(len ? len : 1);
	char *small_err = malloc(errlen ? errlen : 1);
	int result;

	assert_non_null(copy);
	assert_non_null(small_err);
	memcpy(copy, text, len);
	result = config_parse(copy, len, "fuzz.cfg", &cfg, small_err, errlen);
	assert_true(result == 0 || result == -1);
	if (errlen) {
		assert_non_null(memchr(small_err, '\0', errlen));
		if (result == 0)
			assert_string_equal(small_err, "");
		else
			assert_memory_equal(small_err, "fuzz.cfg:", MIN(errlen - 1, 9));
	}
	if (result == 0)
		check_valid_config(&cfg);
	free(small_err);
	free(copy);
	return result == 0;
}

/* Fragments of valid and nearly valid lines, so that random input gets past the first line. */
static const char *const fragments[] = {
	"\n", "\r\n", "\r", " ", "\t", "=", " = ", "#", "[", "]", "[guest ", "[guest a]\n",
	"[guest b]\n", "[guest a-b_9]\n", "guest", "kernel", "kernel = vmlinuz\n", "initrd",
	"cmdline", "cmdline = console=ttyS0 quiet\n", "memory", "memory = 64M\n", "cpus",
	"cpus = 2\n", "loglevel", "loglevel = debug\n", "hv_memory", "hv_memory = 16M\n",
	"harness", "harness = qemu\n", "selftest", "selftest = fault\n", "none", "info", "0", "1",
	"64", "2M", "4G", "18446744073709551616", "99999999999999999999G", "K", "m", "g", "x", "\0",
	"\x7f", "\xff", "-", "_",
};

static void test_garbage_never_crashes(void **state)
{
	static char text[100000];
	size_t successes = 0;

	(void)state;
	/* One 100 000-byte block of random bytes, and one of random fragments. */
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)rng();
	parse_garbage(text, sizeof(text));
	for (size_t len = 0; len < sizeof(text);) {
		const char *f = fragments[rng() % ARRAY_SIZE(fragments)];
		size_t n = MIN(strlen(f) ? strlen(f) : 1, sizeof(text) - len);

		memcpy(text + len, f, n);
		len += n;
	}
	parse_garbage(text, sizeof(text));

	/* Then many short inputs: random bytes, fragment soup, and soup with one byte changed. */
	for (int iter = 0; iter < 100000; iter++) {
		size_t len = 0, target = rng() % 400;

		switch (iter % 3) {
		case 0:
			for (; len < target; len++)
				text[len] = (char)rng();
			break;
		case 1:
		case 2:
			while (len < target) {
				const char *f = fragments[rng() % ARRAY_SIZE(fragments)];
				size_t n = strlen(f) ? strlen(f) : 1;

				memcpy(text + len, f, n);
				len += n;
			}
			if (iter % 3 == 2 && len)
				text[rng() % len] = (char)rng();
			break;
		}
		successes += parse_garbage(text, len);
	}
	/* Some inputs must have parsed, or the loop only exercised the first error paths. */
	assert_true(successes > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_repository_config),
		cmocka_unit_test(test_global_keys),
		cmocka_unit_test(test_choice_values),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_choice_values),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_size_alignment_and_range),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_guest_all_keys),
		cmocka_unit_test(test_guest_defaults),
		cmocka_unit_test(test_several_guests),
		cmocka_unit_test(test_guest_limit),
		cmocka_unit_test(test_guest_names),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_duplicate_guest),
		cmocka_unit_test(test_guest_without_kernel),
		cmocka_unit_test(test_scope_errors),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_file_names),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_non_printable),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_keeps_earlier_keys_on_error),
		cmocka_unit_test(test_small_error_buffers),
		cmocka_unit_test(test_long_filename),
		cmocka_unit_test(test_garbage_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
