/*
 * TSC calibration against the 8254 PIT, channel 2, gated through port 0x61 (the method Linux's
 * pit_calibrate_tsc() uses): count down a known interval in mode 0 and read the TSC around it.
 */
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/tsc.h>

#define PIT_HZ 1193182ull
#define CALIBRATE_MS 20
#define PIT_LATCH (PIT_HZ * CALIBRATE_MS / 1000)
#define PORT61_GATE2 0x01
#define PORT61_SPEAKER 0x02
#define PORT61_OUT2 0x20
#define SPIN_LIMIT 100000000ull
#define FALLBACK_HZ 1000000000ull /* only if there is no working PIT at all */

u64 tsc_calibrate(void)
{
	u64 start, end, spins = 0;
	u8 port61 = inb(0x61);

	outb(0x61, (u8)((port61 & ~PORT61_SPEAKER) | PORT61_GATE2));
	outb(0x43, 0xb0); /* channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count) */
	outb(0x42, PIT_LATCH & 0xff);
	outb(0x42, (PIT_LATCH >> 8) & 0xff);
	start = rdtsc();
	while (!(inb(0x61) & PORT61_OUT2) && spins++ < SPIN_LIMIT)
		;
	end = rdtsc();
	outb(0x61, port61);
	if (spins >= SPIN_LIMIT || spins == 0 || end <= start) {
		log_warn("TSC: the PIT did not count; assuming %llu MHz", FALLBACK_HZ / 1000000);
		return FALLBACK_HZ;
	}
	return (end - start) * 1000 / CALIBRATE_MS;
}
