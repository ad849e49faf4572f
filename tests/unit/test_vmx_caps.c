/* VMX capability decoding against synthetic capability MSRs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <kestrel/msr.h>
#include <kestrel/vmx_caps.h>

#include "skylake_msrs.h"

static void skylake_is_usable(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_caps c;

	assert_null(vmx_caps_decode(&m, &c));
	assert_int_equal(c.revision, 0x2b);
	assert_int_equal(c.vmcs_size, 4096);
	assert_true(c.vmcs_wb);
	assert_true(c.true_ctls);
	assert_true(c.ept && c.ept_4level && c.ept_wb && c.ept_2m && c.ept_1g && c.ept_ad);
	assert_true(c.invept_single && c.invept_all);
	assert_true(c.vpid && c.invvpid_single && c.invvpid_all && c.invvpid_addr);
	assert_true(c.unrestricted);
	assert_true(c.preemption_timer);
	assert_int_equal(c.preemption_rate, 0);
	assert_false(c.feature_control_locked);
}

static void no_vmx_is_refused(void **state)
{
	struct vmx_msrs m = { .vmx = false };
	struct vmx_caps c;
	const char *why = vmx_caps_decode(&m, &c);

	assert_non_null(why);
	assert_non_null(strstr(why, "CPUID.1:ECX.VMX = 0"));
}

static void firmware_lock_without_vmx_is_refused(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_caps c;
	const char *why;

	m.feature_control = FEATURE_CONTROL_LOCK;
	why = vmx_caps_decode(&m, &c);
	assert_non_null(why);
	assert_non_null(strstr(why, "firmware setup"));

	m.feature_control = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX;
	assert_null(vmx_caps_decode(&m, &c));
	assert_true(c.feature_control_locked && c.vmx_outside_smx);
}

static void missing_ept_is_refused(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_caps c;

	/* Penryn: secondary controls exist but EPT may not be set. */
	m.procbased2 &= ~(1ull << (32 + 1));
	assert_non_null(strstr(vmx_caps_decode(&m, &c), "no EPT"));
	/* Older still: no secondary controls at all. */
	m = skylake();
	m.procbased &= ~(1ull << (32 + 31));
	assert_non_null(strstr(vmx_caps_decode(&m, &c), "no EPT"));
	assert_false(c.ept);
}

static void each_requirement_names_itself(void **state)
{
	static const struct {
		int which; /* 0: ept_vpid_cap, 1: procbased2, 2: pinbased, 3: basic */
		u64 clear;
		const char *needle;
	} cases[] = {
		{ 0, 1ull << 6, "4-level" },
		{ 0, 1ull << 14, "write-back paging" },
		{ 0, 1ull << 20, "INVEPT" },
		{ 0, 1ull << 26, "INVEPT" },
		{ 1, 1ull << (32 + 7), "unrestricted" },
		{ 2, 1ull << (32 + 6), "preemption" },
		{ 3, 0xfull << 50, "write-back" },
		{ 3, 0x7fffffffull, "inconsistent" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmx_msrs m = skylake();
		struct vmx_caps c;
		u64 *field[] = { &m.ept_vpid_cap, &m.procbased2, &m.pinbased, &m.basic };
		const char *why;

		*field[cases[i].which] &= ~cases[i].clear;
		why = vmx_caps_decode(&m, &c);
		assert_non_null(why);
		assert_non_null(strstr(why, cases[i].needle));
	}
}

static void optional_features_do_not_refuse(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_caps c;

	/* Ivy Bridge style: EPT without 1 GiB pages or A/D bits, no VPID. */
	m.ept_vpid_cap &= ~((1ull << 17) | (1ull << 21));
	m.procbased2 &= ~(1ull << (32 + 5));
	assert_null(vmx_caps_decode(&m, &c));
	assert_false(c.ept_1g);
	assert_false(c.ept_ad);
	assert_false(c.vpid);
	assert_false(c.invvpid);
}

static void preemption_rate_is_decoded(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_caps c;

	m.misc = 5;
	assert_null(vmx_caps_decode(&m, &c));
	assert_int_equal(c.preemption_rate, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(skylake_is_usable),
		cmocka_unit_test(no_vmx_is_refused),
		cmocka_unit_test(firmware_lock_without_vmx_is_refused),
		cmocka_unit_test(missing_ept_is_refused),
		cmocka_unit_test(each_requirement_names_itself),
		cmocka_unit_test(optional_features_do_not_refuse),
		cmocka_unit_test(preemption_rate_is_decoded),
	};

	return cmocka_run_group_tests_name("vmx_caps", tests, NULL, NULL);
}
