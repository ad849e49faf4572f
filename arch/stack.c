/* Stack switching: C cannot move its own stack pointer. */
#include <kestrel/arch.h>

NORETURN void arch_run_on_stack(u64 stack_top, void (*fn)(void *), void *arg)
{
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%1\n\t"
			 "ud2"
			 :
			 : "r"(stack_top), "r"(fn), "D"(arg)
			 : "memory");
	__builtin_unreachable();
}
