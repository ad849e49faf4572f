/*
 * Unit tests for the VMX control computation in vmx/vmx_caps.c: vmx_adjust_controls() against
 * the allowed-0/allowed-1 rules of SDM Vol. 3D A.3, and vmx_controls_compute() against the
 * capability MSRs of Bochs' Skylake model, each required control taken away in turn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <kestrel/msr.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmcs_setup.h>

#include "skylake_msrs.h"

static u64 cap(u32 allowed0, u32 allowed1)
{
	return (u64)allowed1 << 32 | allowed0;
}

/* --- vmx_adjust_controls ------------------------------------------------------------------ */

static void adjust_forces_allowed0_bits_on(void **state)
{
	u32 out = 0xdeadbeef;
	int bad = -7;

	assert_int_equal(vmx_adjust_controls(cap(0x3, 0xff), 0x10, 0, 0, &out, &bad), 0);
	assert_int_equal(out, 0x13);
	assert_int_equal(bad, -7); /* untouched on success */
	/* Nothing requested: exactly the allowed-0 bits. */
	assert_int_equal(vmx_adjust_controls(cap(0x81000016, 0xffffffff), 0, 0, 0, &out, &bad), 0);
	assert_int_equal(out, 0x81000016);
	/* A required bit that is also forced on is simply on. */
	assert_int_equal(vmx_adjust_controls(cap(0x2, 0xf), 0x2, 0, 0, &out, &bad), 0);
	assert_int_equal(out, 0x2);
}

static void adjust_keeps_allowed_optional_bits_and_drops_the_others(void **state)
{
	u32 out = 0;
	int bad = -1;

	assert_int_equal(vmx_adjust_controls(cap(0, 0x0f), 0x1, 0x30 | 0x6, 0, &out, &bad), 0);
	assert_int_equal(out, 0x7);
	assert_int_equal(vmx_adjust_controls(cap(0, 0x0f), 0, 0xf0, 0, &out, &bad), 0);
	assert_int_equal(out, 0);
	assert_int_equal(vmx_adjust_controls(cap(0, 0x80000000), 0, 0x80000000, 0, &out, &bad), 0);
	assert_int_equal(out, 0x80000000);
	assert_int_equal(vmx_adjust_controls(cap(0x100, 0x1ff), 0x1, 0xfffffffe, 0, &out, &bad),
			 0);
	assert_int_equal(out, 0x1ff);
	/* Forbidden bits the CPU lets us clear stay clear, even when allowed-1. */
	assert_int_equal(vmx_adjust_controls(cap(0x1, 0xff), 0x2, 0, 0x4 | 0x8, &out, &bad), 0);
	assert_int_equal(out, 0x3);
}

static void adjust_refuses_missing_required_bit(void **state)
{
	u32 out = 0x12345678;
	int bad = -1;

	assert_int_equal(vmx_adjust_controls(cap(0, 0x0f), 0x1 | 0x20 | 0x80, 0, 0, &out, &bad),
			 -1);
	assert_int_equal(bad, 5); /* the lowest missing bit */
	assert_int_equal(out, 0x12345678);
	assert_int_equal(vmx_adjust_controls(cap(0, 0x7fffffff), 0x80000001, 0, 0, &out, &bad),
			 -1);
	assert_int_equal(bad, 31);
	assert_int_equal(vmx_adjust_controls(cap(0, 0xfffffffe), 0x1, 0, 0, &out, &bad), -1);
	assert_int_equal(bad, 0);
	assert_int_equal(out, 0x12345678);
}

static void adjust_refuses_forbidden_but_forced_bit(void **state)
{
	u32 out = 0x12345678;
	int bad = -1;

	assert_int_equal(vmx_adjust_controls(cap(0x104, 0xfff), 0x1, 0, 0x100 | 0x4 | 0x10, &out,
					     &bad),
			 -1);
	assert_int_equal(bad, 2);
	assert_int_equal(out, 0x12345678);
	assert_int_equal(vmx_adjust_controls(cap(0x80000000, 0xffffffff), 0, 0, 0x80000000, &out,
					     &bad),
			 -1);
	assert_int_equal(bad, 31);
	/* Missing required and forced forbidden: the missing bit is reported. */
	assert_int_equal(vmx_adjust_controls(cap(0x1, 0x0f), 0x40, 0, 0x1, &out, &bad), -1);
	assert_int_equal(bad, 6);
}

/* --- vmx_controls_compute ----------------------------------------------------------------- */

static void skylake_controls(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_controls c;

	memset(&c, 0xa5, sizeof(c));
	assert_null(vmx_controls_compute(&m, &c));

	/* Exact values: (required | allowed optional) | allowed-0. */
	assert_int_equal(c.pin, 0x7f);
	assert_int_equal(c.proc, 0xb6206dfa);
	assert_int_equal(c.proc2, 0xe2);
	assert_int_equal(c.exit, 0x7fefff);
	assert_int_equal(c.entry, 0xd1ff);

	assert_true(c.pin & PIN_EXTERNAL_INTERRUPT_EXITING);
	assert_true(c.pin & PIN_NMI_EXITING);
	assert_true(c.pin & PIN_VIRTUAL_NMIS);
	assert_true(c.pin & PIN_PREEMPTION_TIMER);
	assert_true(c.proc & PROC_HLT_EXITING);
	assert_true(c.proc & PROC_USE_TPR_SHADOW);
	assert_true(c.proc & PROC_USE_IO_BITMAPS);
	assert_true(c.proc & PROC_USE_MSR_BITMAPS);
	assert_true(c.proc & PROC_ACTIVATE_SECONDARY);
	assert_true(c.proc & PROC_USE_TSC_OFFSETTING);
	assert_true(c.proc & PROC_MWAIT_EXITING);
	assert_true(c.proc & PROC_MONITOR_EXITING);
	assert_true(c.proc & PROC_RDPMC_EXITING);
	assert_false(c.proc & PROC_CR3_LOAD_EXITING);
	assert_false(c.proc & PROC_CR3_STORE_EXITING);
	assert_false(c.proc & PROC_CR8_LOAD_EXITING);
	assert_false(c.proc & PROC_CR8_STORE_EXITING);
	assert_false(c.proc & PROC_RDTSC_EXITING);
	assert_false(c.proc & PROC_INTERRUPT_WINDOW_EXITING); /* toggled at run time */
	assert_false(c.proc & PROC_UNCONDITIONAL_IO_EXITING);
	assert_true(c.proc2 & PROC2_ENABLE_EPT);
	assert_true(c.proc2 & PROC2_UNRESTRICTED_GUEST);
	assert_true(c.proc2 & PROC2_WBINVD_EXITING);
	assert_true(c.proc2 & PROC2_ENABLE_VPID);
	assert_false(c.proc2 & PROC2_ENABLE_RDTSCP);
	assert_true(c.exit & EXIT_HOST_ADDRESS_SPACE_SIZE);
	assert_true(c.exit & EXIT_ACK_INTERRUPT_ON_EXIT);
	assert_true(c.exit & EXIT_SAVE_PAT);
	assert_true(c.exit & EXIT_LOAD_PAT);
	assert_true(c.exit & EXIT_SAVE_EFER);
	assert_true(c.exit & EXIT_LOAD_EFER);
	assert_true(c.exit & EXIT_SAVE_PREEMPTION_TIMER);
	assert_true(c.entry & ENTRY_LOAD_PAT);
	assert_true(c.entry & ENTRY_LOAD_EFER);
	assert_false(c.entry & ENTRY_IA32E_MODE_GUEST); /* guests start in 32-bit mode */
}

static void optional_controls_drop_out(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_controls c;

	m.pinbased &= ~((u64)PIN_VIRTUAL_NMIS << 32);
	m.procbased2 &= ~((u64)PROC2_ENABLE_VPID << 32);
	m.exit &= ~((u64)(EXIT_SAVE_DEBUG_CONTROLS | EXIT_SAVE_PREEMPTION_TIMER) << 32);
	m.entry &= ~((u64)ENTRY_LOAD_DEBUG_CONTROLS << 32);
	assert_null(vmx_controls_compute(&m, &c));
	assert_int_equal(c.pin, 0x5f);
	assert_int_equal(c.proc, 0xb6206dfa);
	assert_int_equal(c.proc2, 0xc2);
	assert_int_equal(c.exit, 0x3fefff & ~EXIT_SAVE_DEBUG_CONTROLS);
	assert_int_equal(c.entry, 0xd1fb);
}

struct required {
	int which; /* 0 pin, 1 proc, 2 proc2, 3 exit, 4 entry */
	u32 bit;
	const char *message;
};

static const struct required required_controls[] = {
	{ 0, 0, "the CPU lacks the 'external-interrupt exiting' pin-based control (bit 0)" },
	{ 0, 3, "the CPU lacks the 'NMI exiting' pin-based control (bit 3)" },
	{ 0, 6, "the CPU lacks the 'activate VMX-preemption timer' pin-based control (bit 6)" },
	{ 1, 3, "the CPU lacks the 'use TSC offsetting' processor-based control (bit 3)" },
	{ 1, 7, "the CPU lacks the 'HLT exiting' processor-based control (bit 7)" },
	{ 1, 10, "the CPU lacks the 'MWAIT exiting' processor-based control (bit 10)" },
	{ 1, 11, "the CPU lacks the 'RDPMC exiting' processor-based control (bit 11)" },
	{ 1, 21, "the CPU lacks the 'use TPR shadow' processor-based control (bit 21)" },
	{ 1, 25, "the CPU lacks the 'use I/O bitmaps' processor-based control (bit 25)" },
	{ 1, 28, "the CPU lacks the 'use MSR bitmaps' processor-based control (bit 28)" },
	{ 1, 29, "the CPU lacks the 'MONITOR exiting' processor-based control (bit 29)" },
	{ 1, 31, "the CPU lacks the 'activate secondary controls' processor-based control "
		 "(bit 31)" },
	{ 2, 1, "the CPU lacks the 'enable EPT' secondary processor-based control (bit 1)" },
	{ 2, 6, "the CPU lacks the 'WBINVD exiting' secondary processor-based control (bit 6)" },
	{ 2, 7, "the CPU lacks the 'unrestricted guest' secondary processor-based control "
		"(bit 7)" },
	{ 3, 9, "the CPU lacks the 'host address-space size' VM-exit control (bit 9)" },
	{ 3, 15, "the CPU lacks the 'acknowledge interrupt on exit' VM-exit control (bit 15)" },
	{ 3, 18, "the CPU lacks the 'save IA32_PAT' VM-exit control (bit 18)" },
	{ 3, 19, "the CPU lacks the 'load IA32_PAT' VM-exit control (bit 19)" },
	{ 3, 20, "the CPU lacks the 'save IA32_EFER' VM-exit control (bit 20)" },
	{ 3, 21, "the CPU lacks the 'load IA32_EFER' VM-exit control (bit 21)" },
	{ 4, 14, "the CPU lacks the 'load IA32_PAT' VM-entry control (bit 14)" },
	{ 4, 15, "the CPU lacks the 'load IA32_EFER' VM-entry control (bit 15)" },
};

static u64 *msr_of(struct vmx_msrs *m, int which)
{
	u64 *fields[] = { &m->pinbased, &m->procbased, &m->procbased2, &m->exit, &m->entry };

	return fields[which];
}

static void each_missing_required_control_is_named(void **state)
{
	size_t n = sizeof(required_controls) / sizeof(required_controls[0]);

	for (size_t i = 0; i < n; i++) {
		const struct required *r = &required_controls[i];
		struct vmx_msrs m = skylake();
		struct vmx_controls c;
		const char *why;

		*msr_of(&m, r->which) &= ~(1ull << (32 + r->bit));
		why = vmx_controls_compute(&m, &c);
		if (!why)
			fail_msg("no error without %s", r->message);
		assert_string_equal(why, r->message);
	}
	/* 23 required controls; removing any other single allowed-1 bit still succeeds. */
	assert_int_equal(n, 23);
	for (int which = 0; which < 5; which++) {
		for (u32 bit = 0; bit < 32; bit++) {
			struct vmx_msrs m = skylake();
			struct vmx_controls c;
			bool required = false;

			for (size_t i = 0; i < n; i++)
				if (required_controls[i].which == which &&
				    required_controls[i].bit == bit)
					required = true;
			*msr_of(&m, which) &= ~(1ull << (32 + bit));
			if (required)
				assert_non_null(vmx_controls_compute(&m, &c));
			else if (vmx_controls_compute(&m, &c))
				fail_msg("control %d bit %u is not required: %s", which, bit,
					 vmx_controls_compute(&m, &c));
		}
	}
}

static void forced_forbidden_controls_are_named(void **state)
{
	static const struct {
		int which;
		u32 bit;
		const char *message;
	} forced[] = {
		{ 1, 15, "the CPU forces on the 'CR3-load exiting' processor-based control (bit 15)" },
		{ 1, 16, "the CPU forces on the 'CR3-store exiting' processor-based control (bit 16)" },
		{ 1, 19, "the CPU forces on the 'CR8-load exiting' processor-based control (bit 19)" },
		{ 1, 20, "the CPU forces on the 'CR8-store exiting' processor-based control (bit 20)" },
		{ 4, 9, "the CPU forces on the 'IA-32e mode guest' VM-entry control (bit 9)" },
	};

	for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++) {
		struct vmx_msrs m = skylake();
		struct vmx_controls c;
		const char *why;

		*msr_of(&m, forced[i].which) |= 1ull << forced[i].bit;
		why = vmx_controls_compute(&m, &c);
		if (!why)
			fail_msg("no error for %s", forced[i].message);
		assert_string_equal(why, forced[i].message);
	}
}

static void first_failure_wins(void **state)
{
	struct vmx_msrs m = skylake();
	struct vmx_controls c;

	/* Pin-based is checked before processor-based, lowest bit first within one MSR. */
	m.procbased &= ~((u64)PROC_USE_TPR_SHADOW << 32);
	m.pinbased &= ~((u64)(PIN_NMI_EXITING | PIN_PREEMPTION_TIMER) << 32);
	assert_string_equal(vmx_controls_compute(&m, &c),
			    "the CPU lacks the 'NMI exiting' pin-based control (bit 3)");
	m = skylake();
	m.entry &= ~((u64)ENTRY_LOAD_EFER << 32);
	m.exit &= ~((u64)EXIT_SAVE_EFER << 32);
	assert_string_equal(vmx_controls_compute(&m, &c),
			    "the CPU lacks the 'save IA32_EFER' VM-exit control (bit 20)");
	/* A missing required bit is reported before a forced forbidden one in the same MSR. */
	m = skylake();
	m.procbased |= PROC_CR3_LOAD_EXITING;
	m.procbased &= ~((u64)PROC_MONITOR_EXITING << 32);
	assert_string_equal(vmx_controls_compute(&m, &c),
			    "the CPU lacks the 'MONITOR exiting' processor-based control (bit 29)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(adjust_forces_allowed0_bits_on),
		cmocka_unit_test(adjust_keeps_allowed_optional_bits_and_drops_the_others),
		cmocka_unit_test(adjust_refuses_missing_required_bit),
		cmocka_unit_test(adjust_refuses_forbidden_but_forced_bit),
		cmocka_unit_test(skylake_controls),
		cmocka_unit_test(optional_controls_drop_out),
		cmocka_unit_test(each_missing_required_control_is_named),
		cmocka_unit_test(forced_forbidden_controls_are_named),
		cmocka_unit_test(first_failure_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
