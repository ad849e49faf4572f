/* VMX operation on the current CPU. */
#ifndef KESTREL_VMX_H
#define KESTREL_VMX_H

#include <kestrel/vmx_caps.h>

void vmx_log_caps(const struct vmx_msrs *m, const struct vmx_caps *c);

/* Make VMXON legal: set lock + VMX-outside-SMX when the firmware left the MSR unlocked. */
void vmx_enable_feature_control(const struct vmx_caps *c);

/* Enter VMX root operation with a 4 KiB region at physical (= identity) `vmxon_region`.
 * Returns 0, or -1 when VMXON failed (CR4.VMXE is cleared again). */
int vmx_on(const struct vmx_msrs *m, const struct vmx_caps *c, u64 vmxon_region);
void vmx_off(void);

#endif
