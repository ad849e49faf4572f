/*
 * printf-style formatting without libc. Everything Kestrel prints goes through here, including
 * text that quotes untrusted input, so malformed formats must never read past the format's NUL
 * or write past the buffer: an unknown conversion is printed literally, widths are clamped.
 */
#include <stdarg.h>
#include <kestrel/fmt.h>
#include <kestrel/string.h>

/* A wider field is a bug in the format, not a layout: clamp it rather than emit pages of pad. */
#define FMT_WIDTH_MAX 64
/* A precision only bounds how much of a string is read; this just keeps the parse from wrapping. */
#define FMT_PRECISION_MAX 0x7fffffff

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

struct out {
	char *buf;
	size_t size;
	size_t len; /* length of the whole output so far, including what did not fit */
};

struct spec {
	bool left;
	bool zero;
	bool has_precision;
	size_t width;
	size_t precision;
	enum length length;
};

static void put_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_chars(struct out *o, const char *s, size_t n)
{
	while (n--)
		put_char(o, *s++);
}

static void put_repeated(struct out *o, char c, size_t n)
{
	while (n--)
		put_char(o, c);
}

/* Pads prefix ("-", "0x" or "") plus body to the field width; zero padding goes between them. */
static void put_field(struct out *o, const struct spec *sp, const char *prefix, const char *body,
		      size_t body_len)
{
	size_t prefix_len = strlen(prefix);
	size_t len = prefix_len + body_len;
	size_t pad = sp->width > len ? sp->width - len : 0;
	bool zero_pad = sp->zero && !sp->left;

	if (!sp->left && !zero_pad)
		put_repeated(o, ' ', pad);
	put_chars(o, prefix, prefix_len);
	if (zero_pad)
		put_repeated(o, '0', pad);
	put_chars(o, body, body_len);
	if (sp->left)
		put_repeated(o, ' ', pad);
}

/* Writes the digits of v ending just before `end` (at least min_digits) and returns their count. */
static size_t u64_to_digits(char *end, u64 v, unsigned int base, bool upper, size_t min_digits)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v || (size_t)(end - p) < min_digits);
	return (size_t)(end - p);
}

static void put_number(struct out *o, const struct spec *sp, const char *prefix, u64 v,
		       unsigned int base, bool upper, size_t min_digits)
{
	char digits[20]; /* UINT64_MAX in decimal */
	size_t n = u64_to_digits(digits + sizeof(digits), v, base, upper, min_digits);

	put_field(o, sp, prefix, digits + sizeof(digits) - n, n);
}

static s64 next_signed(va_list *args, enum length length)
{
	switch (length) {
	case LEN_CHAR:
		return (signed char)va_arg(*args, int);
	case LEN_SHORT:
		return (short)va_arg(*args, int);
	case LEN_LONG:
		return va_arg(*args, long);
	case LEN_LLONG:
		return va_arg(*args, long long);
	case LEN_SIZE:
		return (s64)va_arg(*args, size_t);
	default:
		return va_arg(*args, int);
	}
}

static u64 next_unsigned(va_list *args, enum length length)
{
	switch (length) {
	case LEN_CHAR:
		return (unsigned char)va_arg(*args, unsigned int);
	case LEN_SHORT:
		return (unsigned short)va_arg(*args, unsigned int);
	case LEN_LONG:
		return va_arg(*args, unsigned long);
	case LEN_LLONG:
		return va_arg(*args, unsigned long long);
	case LEN_SIZE:
		return va_arg(*args, size_t);
	default:
		return va_arg(*args, unsigned int);
	}
}

/* A '*' width: negative means left-justify, as in C; INT_MIN must not overflow on negation. */
static void set_star_width(struct spec *sp, int w)
{
	unsigned int magnitude = w < 0 ? 0u - (unsigned int)w : (unsigned int)w;

	if (w < 0)
		sp->left = true;
	sp->width = MIN(magnitude, FMT_WIDTH_MAX);
}

/* Parses flags, width, precision and length after a '%'; returns where the conversion is. */
static const char *parse_spec(const char *p, struct spec *sp, va_list *args)
{
	for (;; p++) {
		if (*p == '-')
			sp->left = true;
		else if (*p == '0')
			sp->zero = true;
		else
			break;
	}

	if (*p == '*') {
		set_star_width(sp, va_arg(*args, int));
		p++;
	} else {
		for (; *p >= '0' && *p <= '9'; p++)
			sp->width = MIN(sp->width * 10 + (size_t)(*p - '0'), FMT_WIDTH_MAX);
	}

	if (*p == '.') {
		p++;
		sp->has_precision = true;
		if (*p == '*') {
			int precision = va_arg(*args, int);

			/* A negative precision counts as none, as in C. */
			sp->has_precision = precision >= 0;
			sp->precision = precision >= 0 ? (size_t)precision : 0;
			p++;
		} else {
			for (; *p >= '0' && *p <= '9'; p++)
				sp->precision = MIN(sp->precision * 10 + (size_t)(*p - '0'),
						    FMT_PRECISION_MAX);
		}
	}

	if (*p == 'h') {
		sp->length = LEN_SHORT;
		if (*++p == 'h') {
			sp->length = LEN_CHAR;
			p++;
		}
	} else if (*p == 'l') {
		sp->length = LEN_LONG;
		if (*++p == 'l') {
			sp->length = LEN_LLONG;
			p++;
		}
	} else if (*p == 'z') {
		sp->length = LEN_SIZE;
		p++;
	}
	return p;
}

/* Formats one conversion; returns false if `conv` is not one we know. */
static bool put_conversion(struct out *o, struct spec *sp, char conv, va_list *args)
{
	switch (conv) {
	case 'd':
	case 'i': {
		s64 v = next_signed(args, sp->length);
		/* Negate in unsigned arithmetic so INT64_MIN has a magnitude. */
		u64 magnitude = v < 0 ? 0 - (u64)v : (u64)v;

		put_number(o, sp, v < 0 ? "-" : "", magnitude, 10, false, 1);
		return true;
	}
	case 'u':
		put_number(o, sp, "", next_unsigned(args, sp->length), 10, false, 1);
		return true;
	case 'x':
	case 'X':
		put_number(o, sp, "", next_unsigned(args, sp->length), 16, conv == 'X', 1);
		return true;
	case 'p':
		put_number(o, sp, "0x", (uintptr_t)va_arg(*args, void *), 16, false, 16);
		return true;
	case 'c': {
		char c = (char)va_arg(*args, int);

		sp->zero = false;
		put_field(o, sp, "", &c, 1);
		return true;
	}
	case 's': {
		const char *s = va_arg(*args, const char *);

		if (!s)
			s = "(null)";
		sp->zero = false;
		put_field(o, sp, "", s, sp->has_precision ? strnlen(s, sp->precision) : strlen(s));
		return true;
	}
	case '%':
		put_char(o, '%');
		return true;
	default:
		return false;
	}
}

size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size };
	const char *p = fmt;
	va_list args;

	/* A copy, so the helpers can take it by pointer and keep the position between them. */
	va_copy(args, ap);
	while (*p) {
		const char *start = p;
		struct spec sp = { 0 };

		if (*p != '%') {
			put_char(&o, *p++);
			continue;
		}
		p = parse_spec(p + 1, &sp, &args);
		if (put_conversion(&o, &sp, *p, &args)) {
			p++;
			continue;
		}
		/* Unknown, or the format ended inside the specification: show it as written. */
		if (*p)
			p++;
		put_chars(&o, start, (size_t)(p - start));
	}
	va_end(args);

	if (size)
		buf[MIN(o.len, size - 1)] = '\0';
	return o.len;
}

size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return len;
}
