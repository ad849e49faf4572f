/*
 * hostile-spin: disables interrupts and spins forever in a two-byte loop that causes no VM
 * exit at all. Only the VMX-preemption timer brings Kestrel back; with `watchdog = N` in the
 * guest's section Kestrel must stop it after N seconds ("watchdog: interrupts disabled for N s")
 * while the other guests keep their share of the CPU. Never prints DONE.
 */
#include "guest.h"

const char guest_name[] = "hostile-spin";

void guest_main(void)
{
	u64 rip;

	if (!guest_kestrel_only("hostile-spin")) /* natively nothing would ever stop it */
		return;
	__asm__ volatile("lea 1f(%%rip), %0" : "=r"(rip));
	guest_printf("hostile-spin: interrupts off, spinning at RIP 0x%llx forever\n", rip);
	guest_flush();
	__asm__ volatile("cli\n"
			 "1: jmp 1b" ::: "memory");
	guest_fail("spin", "left the loop");
}
