/*
 * crash: a deliberate triple fault. With an empty IDT (limit 0), INT3 cannot be delivered
 * (#GP), neither can the #GP, nor the resulting #DF: the CPU shuts down. Under Kestrel that is a
 * triple-fault VM exit that must end this guest (and only it) with a report; natively QEMU
 * resets, and with -no-reboot exits with status 0. Never prints DONE.
 */
#include "guest.h"

const char guest_name[] = "crash";

void guest_main(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) empty_idt = { 0, 0 };

	guest_printf("crash: triple-faulting now\n");
	guest_flush();
	__asm__ volatile("cli\n\t"
			 "lidt %0\n\t"
			 "int3" : : "m"(empty_idt) : "memory");
	/* Still here: the triple fault did not end the guest. */
	guest_fail("triple-fault", "execution continued after INT3 with an empty IDT");
}
