/* ACPI S5 discovery against synthetic firmware tables, including corrupt ones. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/acpi.h>

#define MEM_SIZE 0x4000
#define RSDP_AT 0x100
#define XSDT_AT 0x200
#define RSDT_AT 0x300
#define FADT_AT 0x400
#define DSDT_AT 0x800

static uint8_t mem[MEM_SIZE];

static const void *map_mem(void *ctx, u64 phys, u64 len)
{
	if (phys > MEM_SIZE || len > MEM_SIZE - phys)
		return NULL;
	return mem + phys;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void fix_checksum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[at] = (uint8_t)-sum;
}

static void sdt_header(uint8_t *p, const char *sig, uint32_t len)
{
	memcpy(p, sig, 4);
	put32(p + 4, len);
	p[8] = 2;
}

/* DSDT body: Name(\_S5, Package(4) { 0x05, 0x05, Zero, Zero }) and a decoy before it. */
static const uint8_t s5_aml[] = { 0x10, 0x05, '_', 'S', '5', '_', 0x00, /* a Scope named _S5_ */
				  0x08, '\\', '_', 'S', '5', '_', 0x12, 0x0a, 0x04,
				  0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };

static void build_tables(int revision, const uint8_t *aml, size_t aml_len)
{
	uint32_t dsdt_len = 36 + (uint32_t)aml_len;

	memset(mem, 0, sizeof(mem));
	memcpy(mem + RSDP_AT, "RSD PTR ", 8);
	mem[RSDP_AT + 15] = (uint8_t)revision;
	put32(mem + RSDP_AT + 16, RSDT_AT);
	put32(mem + RSDP_AT + 20, 36);
	put64(mem + RSDP_AT + 24, revision >= 2 ? XSDT_AT : 0);
	fix_checksum(mem + RSDP_AT, 20, 8);
	fix_checksum(mem + RSDP_AT, 36, 32);

	sdt_header(mem + XSDT_AT, "XSDT", 36 + 16);
	put64(mem + XSDT_AT + 36, 0x3000); /* an entry pointing at garbage comes first */
	put64(mem + XSDT_AT + 44, FADT_AT);
	fix_checksum(mem + XSDT_AT, 36 + 16, 9);
	sdt_header(mem + RSDT_AT, "RSDT", 36 + 4);
	put32(mem + RSDT_AT + 36, FADT_AT);
	fix_checksum(mem + RSDT_AT, 36 + 4, 9);

	sdt_header(mem + FADT_AT, "FACP", 244);
	put32(mem + FADT_AT + 40, DSDT_AT);
	put32(mem + FADT_AT + 64, 0x604);
	put32(mem + FADT_AT + 68, 0);
	fix_checksum(mem + FADT_AT, 244, 9);

	sdt_header(mem + DSDT_AT, "DSDT", dsdt_len);
	memcpy(mem + DSDT_AT + 36, aml, aml_len);
	fix_checksum(mem + DSDT_AT, dsdt_len, 9);
}

static int find(struct acpi_s5 *s5, char *err)
{
	return acpi_find_s5(RSDP_AT, map_mem, NULL, s5, err, 96);
}

static void finds_s5_through_xsdt(void **state)
{
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, s5_aml, sizeof(s5_aml));
	assert_int_equal(find(&s5, err), 0);
	assert_int_equal(s5.pm1a_cnt, 0x604);
	assert_int_equal(s5.pm1b_cnt, 0);
	assert_int_equal(s5.slp_typa, 5);
	assert_int_equal(s5.slp_typb, 5);
}

static void finds_s5_through_rsdt(void **state)
{
	struct acpi_s5 s5;
	char err[96];

	build_tables(0, s5_aml, sizeof(s5_aml));
	assert_int_equal(find(&s5, err), 0);
	assert_int_equal(s5.slp_typa, 5);
}

static void zero_one_ops_are_values(void **state)
{
	static const uint8_t aml[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x01, 0x00 };
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, aml, sizeof(aml));
	assert_int_equal(find(&s5, err), 0);
	assert_int_equal(s5.slp_typa, 1);
	assert_int_equal(s5.slp_typb, 0);
}

static void bad_checksums_are_refused(void **state)
{
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, s5_aml, sizeof(s5_aml));
	mem[RSDP_AT + 9] ^= 1;
	assert_int_equal(find(&s5, err), -1);
	assert_string_equal(err, "no valid RSDP/XSDT/FADT");

	build_tables(2, s5_aml, sizeof(s5_aml));
	mem[DSDT_AT + 40] ^= 1;
	assert_int_equal(find(&s5, err), -1);
	assert_string_equal(err, "no valid DSDT");
}

static void missing_s5_is_reported(void **state)
{
	static const uint8_t aml[] = { 0x08, '_', 'S', '4', '_', 0x12, 0x06, 0x04, 0x01, 0x00 };
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, aml, sizeof(aml));
	assert_int_equal(find(&s5, err), -1);
	assert_string_equal(err, "DSDT has no usable \\_S5 package");
}

static void truncated_package_is_refused(void **state)
{
	static const uint8_t aml[] = { 0x08, '_', 'S', '5', '_', 0x12 };
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, aml, sizeof(aml));
	assert_int_equal(find(&s5, err), -1);
}

static void huge_lengths_are_refused(void **state)
{
	struct acpi_s5 s5;
	char err[96];

	build_tables(2, s5_aml, sizeof(s5_aml));
	put32(mem + FADT_AT + 4, 0xfffffff0);
	assert_int_equal(find(&s5, err), -1);
}

/* Flip random bytes anywhere: the parser must fail cleanly or succeed, never crash (ASan). */
static void random_corruption_never_crashes(void **state)
{
	uint32_t seed = 12345;
	int ok = 0;

	for (int round = 0; round < 20000; round++) {
		struct acpi_s5 s5;
		char err[96];

		build_tables(round & 1 ? 2 : 0, s5_aml, sizeof(s5_aml));
		for (int flips = 1 + round % 4; flips; flips--) {
			seed = seed * 1103515245 + 12345;
			mem[(seed >> 8) % 0x900] = (uint8_t)(seed >> 24);
		}
		if (find(&s5, err) == 0)
			ok++;
		else
			assert_true(strlen(err) > 0);
	}
	assert_true(ok > 0); /* flips in unused bytes leave valid tables */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_s5_through_xsdt),
		cmocka_unit_test(finds_s5_through_rsdt),
		cmocka_unit_test(zero_one_ops_are_values),
		cmocka_unit_test(bad_checksums_are_refused),
		cmocka_unit_test(missing_s5_is_reported),
		cmocka_unit_test(truncated_package_is_refused),
		cmocka_unit_test(huge_lengths_are_refused),
		cmocka_unit_test(random_corruption_never_crashes),
	};

	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
