/*
 * kestrel.cfg parser (format: docs/config.md). The file sits on a FAT volume anyone can write, so
 * every byte is untrusted: the parser works on (pointer, length) spans of the input, never relies
 * on a NUL terminator, and checks that a value fits before copying it.
 */
#include <kestrel/config.h>
#include <kestrel/fmt.h>
#include <kestrel/string.h>

/* Error messages quote at most this much of the input, so that they fit CONFIG_ERR_MAX. */
#define QUOTE_MAX 40
#define QUOTE_FMT "'%.*s%s'"
#define QUOTE_ARG(s) (int)MIN((s).len, QUOTE_MAX), (s).ptr, (s).len > QUOTE_MAX ? "..." : ""

struct span {
	const char *ptr;
	size_t len;
};

static const char *const loglevel_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static const char *const harness_names[] = {
	[HARNESS_NONE] = "none",
	[HARNESS_QEMU] = "qemu",
	[HARNESS_BOCHS] = "bochs",
};

static const char *const input_names[] = {
	[INPUT_AUTO] = "auto",
	[INPUT_ON] = "on",
	[INPUT_OFF] = "off",
};

static const char *const selftest_names[] = {
	[SELFTEST_NONE] = "none",
	[SELFTEST_FAULT] = "fault",
	[SELFTEST_WRITE_CODE] = "write-code",
	[SELFTEST_STACK_OVERFLOW] = "stack-overflow",
};

struct parser {
	const char *filename;
	struct config *cfg;
	char *err;
	size_t errlen;
	u32 line;
	struct guest_config *guest; /* the open [guest] section; NULL before the first */
	u32 seen;		    /* bit per keys[] entry set in the current section */
};

enum number_result { NUMBER_OK, NUMBER_BAD, NUMBER_TOO_BIG };

static void report(struct parser *p, u32 line, const char *fmt, va_list ap)
{
	size_t n;

	if (!p->err || !p->errlen)
		return;
	n = fmt_snprintf(p->err, p->errlen, "%s:%u: ", p->filename, line);
	if (n < p->errlen)
		fmt_vsnprintf(p->err + n, p->errlen - n, fmt, ap);
}

/* Reports a problem on the current line; returns -1 so callers can `return fail(...)`. */
PRINTF_LIKE(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(p, p->line, fmt, ap);
	va_end(ap);
	return -1;
}

PRINTF_LIKE(3, 4) static int fail_at(struct parser *p, u32 line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(p, line, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
	       c == '-';
}

static struct span make_span(const char *ptr, size_t len)
{
	return (struct span){ .ptr = ptr, .len = len };
}

static struct span trim(struct span s)
{
	while (s.len && is_blank(s.ptr[0])) {
		s.ptr++;
		s.len--;
	}
	while (s.len && is_blank(s.ptr[s.len - 1]))
		s.len--;
	return s;
}

/* Index of the first `c` in s, or s.len. */
static size_t find_char(struct span s, char c)
{
	size_t i = 0;

	while (i < s.len && s.ptr[i] != c)
		i++;
	return i;
}

static size_t find_blank(struct span s)
{
	size_t i = 0;

	while (i < s.len && !is_blank(s.ptr[i]))
		i++;
	return i;
}

static bool span_eq(struct span s, const char *str)
{
	return strlen(str) == s.len && memcmp(s.ptr, str, s.len) == 0;
}

/* The caller has checked that s.len < the size of dst. */
static void copy_span(char *dst, struct span s)
{
	memcpy(dst, s.ptr, s.len);
	dst[s.len] = '\0';
}

static const char *name_of(const char *const *names, size_t count, unsigned int value)
{
	return value < count ? names[value] : "unknown";
}

/* "64G", "2M", "4K" or plain bytes: the largest unit that divides the size exactly. */
static const char *size_text(char *buf, size_t len, u64 bytes)
{
	static const struct {
		u64 unit;
		const char *suffix;
	} units[] = { { GiB(1), "G" }, { MiB(1), "M" }, { KiB(1), "K" }, { 1, "" } };
	size_t i = 0;

	while (bytes && !IS_ALIGNED(bytes, units[i].unit))
		i++;
	fmt_snprintf(buf, len, "%llu%s", (unsigned long long)(bytes / units[i].unit),
		     units[i].suffix);
	return buf;
}

/* Decimal digits only: no sign, no base prefix, no spaces. */
static enum number_result parse_decimal(struct span s, u64 *out)
{
	bool too_big = false;
	u64 v = 0;

	if (!s.len)
		return NUMBER_BAD;
	for (size_t i = 0; i < s.len; i++) {
		u64 digit;

		if (!is_digit(s.ptr[i]))
			return NUMBER_BAD;
		digit = (u64)(s.ptr[i] - '0');
		if (too_big || v > (UINT64_MAX - digit) / 10)
			too_big = true;
		else
			v = v * 10 + digit;
	}
	*out = v;
	return too_big ? NUMBER_TOO_BIG : NUMBER_OK;
}

/* A decimal number with an optional K, M or G suffix (any case). */
static enum number_result parse_size(struct span s, u64 *out)
{
	u64 unit = 1;
	enum number_result result;

	if (s.len) {
		switch (s.ptr[s.len - 1]) {
		case 'K':
		case 'k':
			unit = KiB(1);
			break;
		case 'M':
		case 'm':
			unit = MiB(1);
			break;
		case 'G':
		case 'g':
			unit = GiB(1);
			break;
		}
	}
	if (unit != 1)
		s.len--;

	result = parse_decimal(s, out);
	if (result != NUMBER_OK)
		return result;
	if (*out > UINT64_MAX / unit)
		return NUMBER_TOO_BIG;
	*out *= unit;
	return NUMBER_OK;
}

static int fail_size_range(struct parser *p, const char *key, u64 min, u64 max)
{
	char min_text[24], max_text[24];

	return fail(p, "'%s' out of range (%s..%s)", key,
		    size_text(min_text, sizeof(min_text), min),
		    size_text(max_text, sizeof(max_text), max));
}

static int set_size(struct parser *p, const char *key, struct span value, u64 align, u64 min,
		    u64 max, u64 *out)
{
	u64 bytes;

	switch (parse_size(value, &bytes)) {
	case NUMBER_BAD:
		return fail(p, "bad size " QUOTE_FMT " for '%s'", QUOTE_ARG(value), key);
	case NUMBER_TOO_BIG:
		return fail_size_range(p, key, min, max);
	case NUMBER_OK:
		break;
	}
	if (!IS_ALIGNED(bytes, align))
		return fail(p, "'%s' must be a multiple of %llu MiB", key,
			    (unsigned long long)(align / MiB(1)));
	if (bytes < min || bytes > max)
		return fail_size_range(p, key, min, max);
	*out = bytes;
	return 0;
}

static int set_cpus(struct parser *p, const char *key, struct span value)
{
	u64 cpus;

	switch (parse_decimal(value, &cpus)) {
	case NUMBER_BAD:
		return fail(p, "bad number " QUOTE_FMT " for '%s'", QUOTE_ARG(value), key);
	case NUMBER_TOO_BIG:
		cpus = 0;
		break;
	case NUMBER_OK:
		break;
	}
	if (cpus < 1 || cpus > CONFIG_GUEST_CPUS_MAX)
		return fail(p, "'%s' out of range (1..%d)", key, CONFIG_GUEST_CPUS_MAX);
	p->guest->cpus = (u32)cpus;
	return 0;
}

static int set_watchdog(struct parser *p, const char *key, struct span value)
{
	u64 seconds;

	switch (parse_decimal(value, &seconds)) {
	case NUMBER_BAD:
		return fail(p, "bad number " QUOTE_FMT " for '%s'", QUOTE_ARG(value), key);
	case NUMBER_TOO_BIG:
		seconds = CONFIG_WATCHDOG_MAX + 1;
		break;
	case NUMBER_OK:
		break;
	}
	if (seconds > CONFIG_WATCHDOG_MAX)
		return fail(p, "'%s' out of range (0..%d seconds)", key, CONFIG_WATCHDOG_MAX);
	p->guest->watchdog = (u32)seconds;
	return 0;
}

/* Returns the index of `value` in names, or -1 after reporting it. */
static int parse_choice(struct parser *p, const char *key, struct span value,
			const char *const *names, size_t count, const char *expected)
{
	for (size_t i = 0; i < count; i++) {
		if (span_eq(value, names[i]))
			return (int)i;
	}
	return fail(p, "bad value for '%s': " QUOTE_FMT " (expected %s)", key, QUOTE_ARG(value),
		    expected);
}

static int set_file(struct parser *p, const char *key, struct span value, char *dst)
{
	if (!value.len)
		return fail(p, "missing file name for '%s'", key);
	if (value.len >= CONFIG_PATH_MAX)
		return fail(p, "'%s' too long (max %d characters)", key, CONFIG_PATH_MAX - 1);
	if (find_blank(value) != value.len)
		return fail(p, "bad file name " QUOTE_FMT " for '%s' (no spaces allowed)",
			    QUOTE_ARG(value), key);
	copy_span(dst, value);
	return 0;
}

static int set_cmdline(struct parser *p, const char *key, struct span value)
{
	if (value.len >= CONFIG_CMDLINE_MAX)
		return fail(p, "'%s' too long (max %d characters)", key, CONFIG_CMDLINE_MAX - 1);
	copy_span(p->guest->cmdline, value);
	return 0;
}

static int set_loglevel(struct parser *p, const char *key, struct span value)
{
	int choice = parse_choice(p, key, value, loglevel_names, ARRAY_SIZE(loglevel_names),
				  "error, warn, info or debug");

	if (choice < 0)
		return -1;
	p->cfg->loglevel = (enum log_level)choice;
	return 0;
}

static int set_harness(struct parser *p, const char *key, struct span value)
{
	int choice = parse_choice(p, key, value, harness_names, ARRAY_SIZE(harness_names),
				  "none, qemu or bochs");

	if (choice < 0)
		return -1;
	p->cfg->harness = (enum harness)choice;
	return 0;
}

static int set_selftest(struct parser *p, const char *key, struct span value)
{
	int choice = parse_choice(p, key, value, selftest_names, ARRAY_SIZE(selftest_names),
				  "none, fault, write-code or stack-overflow");

	if (choice < 0)
		return -1;
	p->cfg->selftest = (enum selftest)choice;
	return 0;
}

static int set_input(struct parser *p, const char *key, struct span value)
{
	int choice = parse_choice(p, key, value, input_names, ARRAY_SIZE(input_names),
				  "auto, on or off");

	if (choice < 0)
		return -1;
	p->cfg->input = (enum console_input)choice;
	return 0;
}

static int set_hv_memory(struct parser *p, const char *key, struct span value)
{
	return set_size(p, key, value, MiB(2), CONFIG_HV_MEMORY_MIN, CONFIG_HV_MEMORY_MAX,
			&p->cfg->hv_memory);
}

static int set_memory(struct parser *p, const char *key, struct span value)
{
	return set_size(p, key, value, MiB(1), CONFIG_GUEST_MEMORY_MIN, CONFIG_GUEST_MEMORY_MAX,
			&p->guest->memory);
}

static int set_kernel(struct parser *p, const char *key, struct span value)
{
	return set_file(p, key, value, p->guest->kernel);
}

static int set_initrd(struct parser *p, const char *key, struct span value)
{
	return set_file(p, key, value, p->guest->initrd);
}

static const struct {
	const char *name;
	bool in_guest;
	int (*set)(struct parser *p, const char *key, struct span value);
} keys[] = {
	{ "loglevel", false, set_loglevel },
	{ "hv_memory", false, set_hv_memory },
	{ "harness", false, set_harness },
	{ "selftest", false, set_selftest },
	{ "input", false, set_input },
	{ "kernel", true, set_kernel },
	{ "initrd", true, set_initrd },
	{ "cmdline", true, set_cmdline },
	{ "memory", true, set_memory },
	{ "cpus", true, set_cpus },
	{ "watchdog", true, set_watchdog },
};

static int parse_assignment(struct parser *p, struct span line)
{
	size_t eq = find_char(line, '=');
	struct span key, value;
	size_t id = 0;

	if (eq == line.len)
		return fail(p, "expected 'key = value'");
	key = trim(make_span(line.ptr, eq));
	value = trim(make_span(line.ptr + eq + 1, line.len - eq - 1));
	if (!key.len)
		return fail(p, "expected 'key = value'");

	while (id < ARRAY_SIZE(keys) && !span_eq(key, keys[id].name))
		id++;
	if (id == ARRAY_SIZE(keys))
		return fail(p, "unknown key " QUOTE_FMT, QUOTE_ARG(key));
	if (keys[id].in_guest && !p->guest)
		return fail(p, "'%s' is only valid in a [guest NAME] section", keys[id].name);
	if (!keys[id].in_guest && p->guest)
		return fail(p, "'%s' must come before the first [guest] section", keys[id].name);
	if (p->seen & (1u << id))
		return fail(p, "duplicate key '%s'", keys[id].name);
	p->seen |= 1u << id;
	return keys[id].set(p, keys[id].name, value);
}

/* A guest's mandatory keys can only be checked once its section has ended. */
static int finish_guest(struct parser *p)
{
	if (p->guest && !p->guest->kernel[0])
		return fail_at(p, p->guest->line, "guest '%s' has no kernel", p->guest->name);
	return 0;
}

static bool is_guest_name(struct span name)
{
	if (!name.len || name.len >= CONFIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		if (!is_name_char(name.ptr[i]))
			return false;
	}
	return true;
}

static int parse_section(struct parser *p, struct span line)
{
	struct config *cfg = p->cfg;
	size_t close = find_char(line, ']');
	struct span inner, word, name;
	struct guest_config *guest;

	if (finish_guest(p))
		return -1;
	if (close == line.len)
		return fail(p, "unterminated section header");
	if (close + 1 != line.len)
		return fail(p, "unexpected text after section header");

	inner = trim(make_span(line.ptr + 1, close - 1));
	word = make_span(inner.ptr, find_blank(inner));
	name = trim(make_span(inner.ptr + word.len, inner.len - word.len));
	if (!span_eq(word, "guest"))
		return fail(p, "unknown section " QUOTE_FMT " (expected [guest NAME])",
			    QUOTE_ARG(inner));
	if (!name.len)
		return fail(p, "missing guest name (expected [guest NAME])");
	if (!is_guest_name(name))
		return fail(p, "bad guest name " QUOTE_FMT " (1 to %d letters, digits, '_' or '-')",
			    QUOTE_ARG(name), CONFIG_NAME_MAX - 1);
	for (u32 i = 0; i < cfg->n_guests; i++) {
		if (span_eq(name, cfg->guests[i].name))
			return fail(p, "duplicate guest " QUOTE_FMT " (first at line %u)",
				    QUOTE_ARG(name), cfg->guests[i].line);
	}
	if (cfg->n_guests == CONFIG_MAX_GUESTS)
		return fail(p, "too many guests (max %d)", CONFIG_MAX_GUESTS);

	guest = &cfg->guests[cfg->n_guests++];
	copy_span(guest->name, name);
	guest->memory = CONFIG_GUEST_MEMORY_DEFAULT;
	guest->cpus = 1;
	guest->line = p->line;
	p->guest = guest;
	p->seen = 0;
	return 0;
}

/* Printable ASCII or a tab: what a text editor shows as such. */
static bool is_text_char(char c)
{
	return (c >= 0x20 && c <= 0x7e) || c == '\t';
}

/* One line without its '\n'. */
static int parse_line(struct parser *p, struct span line)
{
	if (line.len && line.ptr[line.len - 1] == '\r')
		line.len--;
	if (line.len > CONFIG_LINE_MAX)
		return fail(p, "line too long (max %d characters)", CONFIG_LINE_MAX);
	/* Checked before anything else so that messages can quote input without escaping it. */
	for (size_t i = 0; i < line.len; i++) {
		if (!is_text_char(line.ptr[i]))
			return fail(p, "non-printable character (byte 0x%02x)", (u8)line.ptr[i]);
	}

	line = trim(line);
	if (!line.len || line.ptr[0] == '#')
		return 0;
	if (line.ptr[0] == '[')
		return parse_section(p, line);
	return parse_assignment(p, line);
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->loglevel = LOG_INFO;
	cfg->hv_memory = CONFIG_HV_MEMORY_DEFAULT;
	cfg->harness = HARNESS_NONE;
	cfg->selftest = SELFTEST_NONE;
	cfg->input = INPUT_AUTO;
}

int config_parse(const char *text, size_t len, const char *filename, struct config *cfg, char *err,
		 size_t errlen)
{
	struct parser p = { .filename = filename, .cfg = cfg, .err = err, .errlen = errlen };
	size_t pos = 0;

	config_init(cfg);
	if (err && errlen)
		err[0] = '\0';
	while (pos < len) {
		struct span line = make_span(text + pos, 0);

		while (pos + line.len < len && line.ptr[line.len] != '\n')
			line.len++;
		pos += line.len + 1;
		p.line++;
		if (parse_line(&p, line))
			return -1;
	}
	return finish_guest(&p);
}

const char *config_harness_name(enum harness h)
{
	return name_of(harness_names, ARRAY_SIZE(harness_names), h);
}

const char *config_selftest_name(enum selftest s)
{
	return name_of(selftest_names, ARRAY_SIZE(selftest_names), s);
}

const char *config_loglevel_name(enum log_level l)
{
	return name_of(loglevel_names, ARRAY_SIZE(loglevel_names), l);
}
