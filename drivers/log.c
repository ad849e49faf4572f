/* The log facility: format one line, prefix it, hand it to every sink. */
#include <kestrel/fmt.h>
#include <kestrel/log.h>
#include <kestrel/string.h>

static log_sink_fn sinks[LOG_MAX_SINKS];
static enum log_level max_level = LOG_INFO;

void log_set_sinks(log_sink_fn first, log_sink_fn second)
{
	sinks[0] = first;
	sinks[1] = second;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

static const char *const level_tag[] = {
	[LOG_ERROR] = "error: ",
	[LOG_WARN] = "warning: ",
	[LOG_INFO] = "",
	[LOG_DEBUG] = "debug: ",
};

void log_raw(const char *text, size_t len)
{
	for (size_t i = 0; i < LOG_MAX_SINKS; i++)
		if (sinks[i])
			sinks[i](text, len);
}

/* A line of up to LOG_LINE_MAX - 2 characters in `line`, ended with a newline even when it
 * was cut short, so that the next one starts clean. */
static void emit_line(char line[LOG_LINE_MAX], size_t n)
{
	n = MIN(n, LOG_LINE_MAX - 2);
	line[n++] = '\n';
	line[n] = '\0';
	log_raw(line, n);
}

void log_write(enum log_level level, const char *src, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	va_list ap;

	if (level > max_level)
		return;
	n = fmt_snprintf(line, sizeof(line), "[%s] %s", src, level_tag[level]);
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		n += fmt_vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	emit_line(line, n);
}

void log_guest_line(const char *src, const char *text, size_t len)
{
	char line[LOG_LINE_MAX];
	size_t n = fmt_snprintf(line, sizeof(line), "[%s] %.*s", src, (int)MIN(len, LOG_LINE_MAX),
				text);

	emit_line(line, n);
}
