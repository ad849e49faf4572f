/*
 * syscall: SYSCALL/SYSRET between ring 3 and ring 0 run entirely inside the guest. 10 000 round
 * trips from ring 3; under Kestrel they (and the IRETQ/INT 0x80 in and out of ring 3) cause no
 * VM exit at all. Only the asynchronous exits are allowed, and printed: the end of a time slice
 * when other guests are runnable (VMX-preemption timer) or an external interrupt.
 */
#include "guest.h"

const char guest_name[] = "syscall";

#define ROUND_TRIPS 10000
#define SFMASK_VALUE 0x47700ull /* clear TF, IF, DF, AC, NT on entry */

static u64 user_loop(u64 n)
{
	u64 done = 0;

	for (u64 i = 0; i < n; i++) {
		/* The entry only counts and returns; RCX/R11 carry RIP/RFLAGS through. */
		__asm__ volatile("syscall" : : : "rcx", "r11", "memory");
		done++;
	}
	return done;
}

static u64 user_cpl(u64 arg)
{
	u16 cs;

	(void)arg;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

static u64 loop_result;

static void run_loop(void *arg)
{
	(void)arg;
	loop_result = guest_run_user(user_loop, ROUND_TRIPS);
}

void guest_main(void)
{
	u64 efer = rdmsr(MSR_EFER), exits = 0, async = 0;
	bool kestrel = on_kestrel();

	guest_check_eq("ring3-cpl", guest_run_user(user_cpl, 0), 3);

	wrmsr(MSR_STAR, GUEST_STAR);
	wrmsr(MSR_LSTAR, (u64)(uintptr_t)guest_syscall_entry);
	wrmsr(MSR_SFMASK, SFMASK_VALUE);
	wrmsr(MSR_EFER, efer | EFER_SCE);
	guest_check(rdmsr(MSR_LSTAR) == (u64)(uintptr_t)guest_syscall_entry &&
			    (rdmsr(MSR_EFER) & EFER_SCE),
		    "syscall-setup", "LSTAR 0x%llx, EFER 0x%llx", rdmsr(MSR_LSTAR), rdmsr(MSR_EFER));

	guest_syscall_count = 0;
	if (kestrel)
		exits = guest_sync_exits_during(run_loop, NULL, &async);
	else
		run_loop(NULL);

	guest_printf("syscall: %llu SYSCALL/SYSRET round trips from ring 3, %llu counted in ring 0\n",
		     loop_result, (u64)guest_syscall_count);
	guest_check(loop_result == ROUND_TRIPS && guest_syscall_count == ROUND_TRIPS, "round-trips",
		    "ring 3 finished %llu, ring 0 saw %llu, want %u", loop_result,
		    (u64)guest_syscall_count, ROUND_TRIPS);

	if (guest_kestrel_only("no-exits")) {
		guest_printf("syscall: VM exits across the loop: %llu caused by it, %llu asynchronous "
			     "(time slice, timer deadline)\n", exits, async);
		guest_check(exits == 0, "no-exits", "%llu VM exits caused by %u round trips, want 0",
			    exits, ROUND_TRIPS);
	}
}
