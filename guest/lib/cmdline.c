/*
 * The multiboot command line (`cmdline` in kestrel.cfg) for guests that take parameters:
 * space-separated `key=value` words. Copied on first use, so a guest may then reuse the low
 * memory where the loader put it.
 */
#include <kestrel/string.h>
#include "guest.h"

#define CMDLINE_MAX 1024

static char cmdline[CMDLINE_MAX];
static bool copied;

const char *guest_cmdline(void)
{
	if (!copied) {
		copied = true;
		if (guest_mbi && (guest_mbi->flags & MULTIBOOT_INFO_CMDLINE) && guest_mbi->cmdline &&
		    guest_mbi->cmdline < guest_ram_end()) {
			const char *src = (const char *)(uintptr_t)guest_mbi->cmdline;
			size_t i = 0;

			for (; i < CMDLINE_MAX - 1 && src[i]; i++)
				cmdline[i] = src[i];
			cmdline[i] = 0;
		}
	}
	return cmdline;
}

bool guest_cmdline_str(const char *key, char *buf, size_t len)
{
	const char *p = guest_cmdline();
	size_t klen = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = 0;

			p += klen + 1;
			while (p[n] && p[n] != ' ')
				n++;
			if (!len)
				return true;
			n = MIN(n, len - 1);
			memcpy(buf, p, n);
			buf[n] = 0;
			return true;
		}
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

bool guest_cmdline_u64(const char *key, u64 *value)
{
	char buf[32], *p = buf;
	u64 v = 0, base = 10;

	if (!guest_cmdline_str(key, buf, sizeof(buf)) || !*buf)
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!*p)
			return false;
	}
	for (; *p; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		v = v * base + d;
	}
	switch (*p) {
	case 0:
		break;
	case 'k': case 'K':
		v <<= 10, p++;
		break;
	case 'm': case 'M':
		v <<= 20, p++;
		break;
	case 'g': case 'G':
		v <<= 30, p++;
		break;
	default:
		return false;
	}
	if (*p)
		return false;
	*value = v;
	return true;
}

u64 guest_ram_end(void)
{
	if (!guest_mbi || !(guest_mbi->flags & MULTIBOOT_INFO_MEMORY))
		return 0;
	return MiB(1) + KiB(guest_mbi->mem_upper);
}
