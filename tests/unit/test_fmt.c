/* Unit tests for drivers/fmt.c: every conversion, padding, truncation and malformed formats. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/fmt.h>

static char buf[256];

/* Checks both the text and the returned length; a macro so failures name the caller's line. */
#define CHECK_WITH(func, expected, ...)						\
	do {									\
		size_t len_ = func(buf, sizeof(buf), __VA_ARGS__);		\
		assert_string_equal(buf, expected);				\
		assert_int_equal(len_, strlen(expected));			\
	} while (0)

#define CHECK(expected, ...) CHECK_WITH(fmt_snprintf, expected, __VA_ARGS__)

/* No format attribute: lets the tests pass formats that gcc would (rightly) reject. */
static size_t raw_snprintf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = fmt_vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return len;
}

#define CHECK_RAW(expected, ...) CHECK_WITH(raw_snprintf, expected, __VA_ARGS__)

static void test_plain_text(void **state)
{
	(void)state;
	CHECK("", "%s", "");
	CHECK_RAW("", "");
	CHECK_RAW("hello, world", "hello, world");
	CHECK("100%", "100%%");
	CHECK("%%", "%%%%");
}

static void test_signed(void **state)
{
	(void)state;
	CHECK("0", "%d", 0);
	CHECK("42 -42", "%d %i", 42, -42);
	CHECK("2147483647", "%d", INT_MAX);
	CHECK("-2147483648", "%d", INT_MIN);
	CHECK("-1", "%i", -1);
}

static void test_unsigned_and_hex(void **state)
{
	(void)state;
	CHECK("0", "%u", 0u);
	CHECK("4294967295", "%u", UINT_MAX);
	CHECK("deadbeef", "%x", 0xdeadbeefu);
	CHECK("DEADBEEF", "%X", 0xdeadbeefu);
	CHECK("0", "%x", 0u);
	CHECK("ffffffff", "%x", -1);
}

static void test_length_modifiers(void **state)
{
	(void)state;
	CHECK("-1 255", "%hhd %hhu", (signed char)-1, (unsigned char)255);
	CHECK("-1 65535", "%hd %hu", (short)-1, (unsigned short)65535);
	/* hh and h convert the promoted int back to the narrow type. */
	CHECK_RAW("-56 200 2345", "%hhd %hhu %hx", 200, 200, 0x12345);
	CHECK("-9223372036854775808", "%ld", LONG_MIN);
	CHECK("18446744073709551615", "%lu", ULONG_MAX);
	CHECK("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK("9223372036854775807", "%lld", (long long)INT64_MAX);
	CHECK("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	CHECK("ffffffffffffffff FFFFFFFFFFFFFFFF", "%llx %llX", ~0ull, ~0ull);
	CHECK("18446744073709551615 ffffffffffffffff", "%zu %zx", SIZE_MAX, SIZE_MAX);
	CHECK("-5", "%zd", (ptrdiff_t)-5);
	CHECK("1099511627776", "%lu", 1ul << 40);
}

static void test_int64_min_padded(void **state)
{
	(void)state;
	CHECK("-0009223372036854775808", "%023lld", (long long)INT64_MIN);
	CHECK("   -9223372036854775808", "%23lld", (long long)INT64_MIN);
	CHECK("-9223372036854775808   |", "%-23lld|", (long long)INT64_MIN);
	CHECK("-9223372036854775808", "%5lld", (long long)INT64_MIN);
}

static void test_width_and_flags(void **state)
{
	(void)state;
	CHECK("   42", "%5d", 42);
	CHECK("42   |", "%-5d|", 42);
	CHECK("00042", "%05d", 42);
	CHECK("-0042", "%05d", -42);
	CHECK("  -42", "%5d", -42);
	CHECK("12345", "%2d", 12345);
	CHECK("000000ff", "%08x", 255u);
	CHECK("FF      |", "%-8X|", 255u);
	CHECK("   ab", "%5s", "ab");
	CHECK("ab   |", "%-5s|", "ab");
	CHECK("  x", "%3c", 'x');
	CHECK("x  |", "%-3c|", 'x');
	/* '-' wins over '0'; '0' does not apply to strings and characters. */
	CHECK_RAW("42   |", "%-05d|", 42);
	CHECK_RAW("42   |", "%0-5d|", 42);
	CHECK_RAW("   ab", "%05s", "ab");
	CHECK_RAW("  x", "%03c", 'x');
	CHECK_RAW("42   |", "%--005d|", 42);
}

static void test_star_width(void **state)
{
	(void)state;
	CHECK("   42", "%*d", 5, 42);
	CHECK("42   |", "%*d|", -5, 42);
	CHECK("42   |", "%-*d|", 5, 42);
	CHECK("ab  |", "%*s|", -4, "ab");
	CHECK("7", "%*d", 0, 7);
}

static void test_width_clamped(void **state)
{
	char expected[80];

	(void)state;
	memset(expected, ' ', 63);
	strcpy(expected + 63, "1");
	CHECK(expected, "%100d", 1);
	CHECK(expected, "%*d", 1000000, 1);
	CHECK_RAW(expected, "%99999999999999999999999d", 1);

	memset(expected, '0', 63);
	strcpy(expected + 63, "1");
	CHECK_RAW(expected, "%099999999999999999999999d", 1);

	/* INT_MIN as a '*' width: left-justified, clamped, no overflow on negation. */
	memset(expected, ' ', 64);
	expected[0] = '1';
	strcpy(expected + 64, "|");
	CHECK_RAW(expected, "%*d|", INT_MIN, 1);
}

static void test_string_precision(void **state)
{
	static const char unterminated[3] = { 'x', 'y', 'z' };

	(void)state;
	CHECK("abc", "%.3s", "abcdef");
	CHECK("", "%.0s", "abcdef");
	CHECK("abc", "%.10s", "abc");
	CHECK("ab", "%.*s", 2, "abc");
	CHECK("abc", "%.*s", -1, "abc");
	CHECK("abc", "%.*s", INT_MIN, "abc");
	CHECK("   ab", "%5.2s", "abcdef");
	CHECK("ab   |", "%-5.2s|", "abcdef");
	CHECK("  ab|", "%*.*s|", 4, 2, "abcdef");
	/* A precision bounds the read: the argument needs no NUL (ASan checks). */
	CHECK("xyz", "%.*s", 3, unterminated);
	CHECK("xy", "%.2s", unterminated);
	CHECK_RAW("abc", "%.99999999999999999999s", "abc");
	/* The header only defines a precision for %s; elsewhere it is ignored. */
	CHECK("7", "%.3d", 7);
}

static void test_null_string(void **state)
{
	const char *null = NULL;

	(void)state;
	CHECK_RAW("(null)", "%s", null);
	CHECK_RAW("  (null)", "%8s", null);
	CHECK_RAW("(nu", "%.3s", null);
}

static void test_pointer(void **state)
{
	(void)state;
	CHECK("0x0000000000001234", "%p", (void *)0x1234);
	CHECK("0x0000000000000000", "%p", NULL);
	CHECK("0xffffffffffffffff", "%p", (void *)UINTPTR_MAX);
	CHECK("  0x00000000deadbeef", "%20p", (void *)0xdeadbeef);
	CHECK("0x00000000deadbeef  |", "%-20p|", (void *)0xdeadbeef);
	CHECK_RAW("0x0000000000000001", "%05p", (void *)1);
}

static void test_char(void **state)
{
	(void)state;
	CHECK("abc", "%c%c%c", 'a', 'b', 'c');
	/* A NUL character is output and counted like any other. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(fmt_snprintf(buf, sizeof(buf), "%cz", 0), 2);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'z');
	assert_int_equal(buf[2], '\0');
}

static void test_unknown_conversions(void **state)
{
	(void)state;
	CHECK_RAW("%q", "%q");
	CHECK_RAW("a%5qb", "a%5qb");
	CHECK_RAW("%lq %hhz %-08.3k", "%lq %hhz %-08.3k");
	CHECK_RAW("%f %e %n %o", "%f %e %n %o");
	/* Unknown conversions take no argument. */
	CHECK_RAW("%q 7", "%q %d", 7);
	CHECK_RAW("%+d", "%+d", 7);
	/* A format that ends inside a specification is printed up to its NUL, never past it. */
	CHECK_RAW("%", "%");
	CHECK_RAW("abc%", "abc%");
	CHECK_RAW("%-", "%-");
	CHECK_RAW("%05", "%05");
	CHECK_RAW("%l", "%l");
	CHECK_RAW("%ll", "%ll");
	CHECK_RAW("%hh", "%hh");
	CHECK_RAW("%z", "%z");
	CHECK_RAW("%.", "%.");
	CHECK_RAW("%.5", "%.5");
	CHECK_RAW("%*", "%*", 5);
}

static void test_truncation(void **state)
{
	char small[16];

	(void)state;
	/* size 0: nothing written, not even with a NULL buffer. */
	assert_int_equal(fmt_snprintf(NULL, 0, "hello %d", 12345), 11);
	memset(small, 'X', sizeof(small));
	assert_int_equal(fmt_snprintf(small, 0, "hello"), 5);
	assert_int_equal(small[0], 'X');

	memset(small, 'X', sizeof(small));
	assert_int_equal(fmt_snprintf(small, 1, "hello"), 5);
	assert_string_equal(small, "");
	assert_int_equal(small[1], 'X');

	memset(small, 'X', sizeof(small));
	assert_int_equal(fmt_snprintf(small, 5, "hello world"), 11);
	assert_string_equal(small, "hell");
	assert_int_equal(small[5], 'X');

	assert_int_equal(fmt_snprintf(small, 6, "hello"), 5);
	assert_string_equal(small, "hello");
	assert_int_equal(fmt_snprintf(small, 5, "hello"), 5);
	assert_string_equal(small, "hell");

	/* Truncation inside padding and inside a number. */
	assert_int_equal(fmt_snprintf(small, 4, "%10d", -123), 10);
	assert_string_equal(small, "   ");
	assert_int_equal(fmt_snprintf(small, 4, "%d", -123456), 7);
	assert_string_equal(small, "-12");
	assert_int_equal(fmt_snprintf(small, 8, "%p", (void *)0x1234), 18);
	assert_string_equal(small, "0x00000");
}

/* Every buffer size gives a prefix of the full output and writes nothing past `size`. */
static void test_truncation_every_size(void **state)
{
	const char *format = "%s|%-6d|%05x|%c|%.3s|%p|%lld";
	char full[128], *dst;
	size_t len;

	(void)state;
	len = fmt_snprintf(full, sizeof(full), format, "str", -42, 0xbeefu, 'c', "truncated",
			   (void *)full, (long long)INT64_MIN);
	assert_int_equal(len, strlen(full));
	for (size_t size = 0; size <= len + 2; size++) {
		/* Exactly `size` bytes on the heap, so ASan flags any write past them. */
		dst = malloc(size ? size : 1);
		assert_non_null(dst);
		assert_int_equal(fmt_snprintf(dst, size, format, "str", -42, 0xbeefu, 'c',
					      "truncated", (void *)full, (long long)INT64_MIN),
				 len);
		if (size) {
			assert_int_equal(strlen(dst), MIN(len, size - 1));
			assert_memory_equal(dst, full, MIN(len, size - 1));
		}
		free(dst);
	}
}

static void compare_with_libc(const char *format, ...)
{
	char ours[128], libc[128];
	va_list ap, ap2;
	size_t len;
	int libc_len;

	va_start(ap, format);
	va_copy(ap2, ap);
	len = fmt_vsnprintf(ours, sizeof(ours), format, ap);
	libc_len = vsnprintf(libc, sizeof(libc), format, ap2);
	va_end(ap2);
	va_end(ap);
	if (strcmp(ours, libc) != 0 || len != (size_t)libc_len)
		fail_msg("format \"%s\": got \"%s\" (%zu), libc \"%s\" (%d)", format, ours, len,
			 libc, libc_len);
}

/* Within the supported subset the output is exactly C's. */
static void test_matches_libc(void **state)
{
	static const char *const int_formats[] = {
		"%d", "%i", "%u", "%x", "%X", "%5d", "%-5d|", "%05d", "%012d", "%08x", "%-8X|",
		"%1d", "%hd", "%hhd", "%hu", "%hhu", "%hx", "%hhx", "%64d", "%-64u|", "%064x",
		"%*d",
	};
	static const int ints[] = {
		0, 1, -1, 7, 42, -42, 255, 256, 12345, -65536, INT_MAX, INT_MIN,
	};
	static const char *const ll_formats[] = {
		"%lld", "%llu", "%llx", "%llX", "%25lld", "%025lld", "%-25lld|", "%ld", "%lu",
		"%lx",
	};
	static const long long lls[] = { 0, 1, -1, INT64_MIN, INT64_MAX, 1ll << 40, -(1ll << 40) };
	static const char *const size_formats[] = { "%zu", "%zx", "%20zu", "%-20zx|" };
	static const size_t sizes[] = { 0, 1, 12345, SIZE_MAX };
	static const char *const str_formats[] = {
		"%s", "%10s", "%-10s|", "%.2s", "%10.2s", "%-10.2s|", "%.0s", "[%s]", "%.*s",
	};
	static const char *const strs[] = { "", "a", "hello", "a longer string than ten" };

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(int_formats); f++) {
		for (size_t v = 0; v < ARRAY_SIZE(ints); v++) {
			if (strchr(int_formats[f], '*'))
				compare_with_libc(int_formats[f], 9, ints[v]);
			else
				compare_with_libc(int_formats[f], ints[v]);
		}
	}
	for (size_t f = 0; f < ARRAY_SIZE(ll_formats); f++)
		for (size_t v = 0; v < ARRAY_SIZE(lls); v++)
			compare_with_libc(ll_formats[f], lls[v]);
	for (size_t f = 0; f < ARRAY_SIZE(size_formats); f++)
		for (size_t v = 0; v < ARRAY_SIZE(sizes); v++)
			compare_with_libc(size_formats[f], sizes[v]);
	for (size_t f = 0; f < ARRAY_SIZE(str_formats); f++) {
		for (size_t v = 0; v < ARRAY_SIZE(strs); v++) {
			if (strchr(str_formats[f], '*'))
				compare_with_libc(str_formats[f], 3, strs[v]);
			else
				compare_with_libc(str_formats[f], strs[v]);
		}
	}
	compare_with_libc("%c|%3c|%-3c|", 'a', 'b', 'c');
	compare_with_libc("mixed %s=%d (%x) %c%%", "key", -7, 0x7fu, '!');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_unsigned_and_hex),
		cmocka_unit_test(test_length_modifiers),
		cmocka_unit_test(test_int64_min_padded),
		cmocka_unit_test(test_width_and_flags),
		cmocka_unit_test(test_star_width),
		cmocka_unit_test(test_width_clamped),
		cmocka_unit_test(test_string_precision),
		cmocka_unit_test(test_null_string),
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_char),
		cmocka_unit_test(test_unknown_conversions),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_every_size),
		cmocka_unit_test(test_matches_libc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
