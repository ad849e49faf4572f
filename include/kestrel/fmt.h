/* printf-style formatting for freestanding code (host-testable). */
#ifndef KESTREL_FMT_H
#define KESTREL_FMT_H

#include <stdarg.h>
#include <kestrel/types.h>

/*
 * Supports %d %i %u %x %X %c %s %p %%, flags '-' and '0', a field width (number or '*'),
 * a precision for %s ('.N' or '.*'), and the length modifiers hh h l ll z.
 * %p prints 0x followed by 16 hex digits. A NULL %s prints "(null)".
 * Always NUL-terminates when size > 0; returns the length the full output would have had.
 */
size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);

#endif
