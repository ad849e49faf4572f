/* The host TSC's rate, measured once at boot. */
#ifndef KESTREL_TSC_H
#define KESTREL_TSC_H

#include <kestrel/types.h>

/* Measure the TSC against the 8254's channel 2 (its input clock is exactly 1.193182 MHz).
 * Returns ticks per second. */
u64 tsc_calibrate(void);

#endif
