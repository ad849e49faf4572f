/* The VMX capability MSRs Bochs' corei7_skylake_x model reports (read from a real boot log),
 * shared by the tests of capability decoding and of control computation. */
#ifndef TESTS_SKYLAKE_MSRS_H
#define TESTS_SKYLAKE_MSRS_H

#include <kestrel/vmx_caps.h>

static inline struct vmx_msrs skylake(void)
{
	return (struct vmx_msrs){
		.vmx = true,
		.page_1g_host = true,
		.feature_control = 0,
		.basic = 0x00da10000000002bull | (1ull << 55),
		.misc = 0x0,
		.pinbased = 0x0000007f00000016ull,
		.procbased = 0xf7f9fffe04006172ull,
		.exit = 0x007fffff00036dfbull,
		.entry = 0x0000ffff000011fbull,
		.procbased2 = 0x02177fff00000000ull,
		.ept_vpid_cap = 0x00000f0106334141ull,
		.cr0_fixed0 = 0x80000021,
		.cr0_fixed1 = 0xffffffff,
		.cr4_fixed0 = 0x2000,
		.cr4_fixed1 = 0x3727ff,
	};
}

#endif
