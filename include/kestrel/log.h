/*
 * Kestrel's log: one line per call, prefixed with its source ("[hv] ...") so the logs of the
 * hypervisor and of several guests interleave readably and a harness can parse them.
 * Errors and warnings add "error: " / "warning: " after the prefix.
 */
#ifndef KESTREL_LOG_H
#define KESTREL_LOG_H

#include <kestrel/config.h>
#include <kestrel/types.h>

#ifndef LOG_SRC
#define LOG_SRC "hv"
#endif

typedef void (*log_sink_fn)(const char *text, size_t len);

#define LOG_MAX_SINKS 2
#define LOG_LINE_MAX 512

/* Replace the output sinks (NULL entries are skipped). */
void log_set_sinks(log_sink_fn first, log_sink_fn second);
void log_set_level(enum log_level level);

void log_write(enum log_level level, const char *src, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* A guest's console line, "[src] text", printed at every log level. */
void log_guest_line(const char *src, const char *text, size_t len);

/* Bytes as they are, for an interactive guest console. */
void log_raw(const char *text, size_t len);

#define log_err(...) log_write(LOG_ERROR, LOG_SRC, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, LOG_SRC, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, LOG_SRC, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, LOG_SRC, __VA_ARGS__)

#endif
