/*
 * ept: the guest sees its own RAM and nothing else. It scans all of its RAM for Kestrel's
 * banner and the format string that prints it (they live in Kestrel's memory, which EPT must
 * not map into the guest), then, under Kestrel only, reads a guest-physical address 16 MiB past
 * the end of its RAM: Kestrel must end the guest there with an EPT violation, reporting that
 * GPA. If the read returns, that is a failure.
 */
#include "guest.h"

const char guest_name[] = "ept";

#ifndef KESTREL_VERSION_STRING
#define KESTREL_VERSION_STRING "0.1.0"
#endif

#define KEY 0x5a /* needles are kept XOR KEY: the guest's own memory never holds them in clear */
#define PROBE_GAP MiB(16)

/*
 * The pieces are separate NUL-terminated arrays, so no two of them are adjacent in the image;
 * the needles are assembled, encoded, at run time.
 */
static const char part_name[] = "Kestrel ";
static const char part_version[] = KESTREL_VERSION_STRING;
static const char part_build[] = " (build";
static const char part_format[] = "%s (build %s)";

struct needle {
	const char *what;
	u8 bytes[64]; /* XOR KEY */
	size_t len;
	u64 hits, first_hit;
};

static struct needle needles[2] = {
	{ .what = "the banner \"Kestrel <version> (build\"" },
	{ .what = "the banner's format string" },
};

static void append(struct needle *n, const char *s)
{
	while (*s && n->len < sizeof(n->bytes))
		n->bytes[n->len++] = (u8)(*s++ ^ KEY);
}

static bool match_at(const u8 *p, const struct needle *n)
{
	for (size_t i = 0; i < n->len; i++)
		if ((u8)(p[i] ^ KEY) != n->bytes[i])
			return false;
	return true;
}

/* Byte offsets in [start, end) where a needle starts; 8 bytes at a time looking for 'K'. */
static void scan(u64 start, u64 end)
{
	const u64 ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	const u64 k8 = ones * (u8)(needles[0].bytes[0] ^ KEY); /* every needle starts with 'K' */

	start = ALIGN_DOWN(start, 8);
	for (u64 a = start; a + 8 <= end; a += 8) {
		u64 x = *(const volatile u64 *)(uintptr_t)a ^ k8;

		if (!((x - ones) & ~x & highs))
			continue; /* no 'K' in these 8 bytes */
		for (u64 b = a; b < a + 8; b++) {
			for (size_t i = 0; i < ARRAY_SIZE(needles); i++) {
				struct needle *n = &needles[i];

				if (b + n->len <= end && match_at((const u8 *)(uintptr_t)b, n) &&
				    !n->hits++)
					n->first_hit = b;
			}
		}
	}
}

/* The scanner finds a needle planted at an odd address; then the plant is wiped again. */
static void self_test(void)
{
	static u8 plant[96] __attribute__((aligned(8)));
	u64 at = (u64)(uintptr_t)plant + 13;

	for (size_t i = 0; i < ARRAY_SIZE(needles); i++) {
		struct needle *n = &needles[i];

		for (size_t j = 0; j < n->len; j++)
			plant[13 + j] = n->bytes[j] ^ KEY;
		scan((u64)(uintptr_t)plant, (u64)(uintptr_t)plant + sizeof(plant));
		for (size_t j = 0; j < sizeof(plant); j++)
			((volatile u8 *)plant)[j] = 0;
		guest_check(n->hits == 1 && n->first_hit == at, i ? "scanner-finds-format" :
			    "scanner-finds-banner", "a planted copy at 0x%llx: %llu hit(s), first at 0x%llx",
			    at, n->hits, n->first_hit);
	}
	for (size_t i = 0; i < ARRAY_SIZE(needles); i++)
		needles[i].hits = needles[i].first_hit = 0;
}

static void check_scan(u64 ram_end)
{
	const struct multiboot_info *mbi = guest_mbi;
	u64 low_end = KiB(mbi->mem_lower), start = rdtsc();

	append(&needles[0], part_name);
	append(&needles[0], part_version);
	append(&needles[0], part_build);
	append(&needles[1], part_name);
	append(&needles[1], part_format);

	self_test();
	guest_printf("ept: scanning guest RAM 0x0-0x%llx and 0x100000-0x%llx for Kestrel's banner\n",
		     low_end, ram_end);
	scan(0, low_end);
	scan(MiB(1), ram_end);
	guest_printf("ept: scanned %llu MiB in %llu ms\n", (low_end + ram_end - MiB(1)) >> 20,
		     (rdtsc() - start) / guest_tsc_khz());
	for (size_t i = 0; i < ARRAY_SIZE(needles); i++) {
		const struct needle *n = &needles[i];

		guest_check(n->hits == 0, i ? "no-format-string" : "no-banner",
			    "found %s %llu time(s), first at GPA 0x%llx", n->what, n->hits, n->first_hit);
	}
}

static void probe_beyond_ram(u64 ram_end)
{
	u64 gpa = ALIGN_UP(ram_end, MiB(2)) + PROBE_GAP, value = 0;
	int v;

	if (!on_kestrel()) {
		guest_skip("beyond-ram-probe", "natively GPA 0x%llx may well be RAM: probed on Kestrel "
					       "only", gpa);
		return;
	}
	if (gpa + 8 > GiB(4)) {
		guest_skip("beyond-ram-probe", "GPA 0x%llx is outside the guest's 4 GiB map", gpa);
		return;
	}
	guest_printf("ept: probing GPA 0x%llx (RAM ends at 0x%llx); Kestrel must end this guest "
		     "with an EPT violation there\n", gpa, ram_end);
	guest_flush();
	v = try_read64(gpa, &value);
	if (v != NO_FAULT)
		guest_fail("beyond-ram-probe", "the read raised %s in the guest instead of exiting",
			   guest_vector_name((u64)v));
	else
		guest_fail("beyond-ram-probe", "the read of GPA 0x%llx returned 0x%llx", gpa, value);
}

void guest_main(void)
{
	u64 ram_end;

	if (!guest_mbi || !(guest_mbi->flags & MULTIBOOT_INFO_MEMORY)) {
		guest_fail("ram-size", "no multiboot memory information");
		return;
	}
	ram_end = MiB(1) + KiB(guest_mbi->mem_upper);
	check_scan(ram_end);
	probe_beyond_ram(ram_end);
}
