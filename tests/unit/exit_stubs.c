/*
 * Stubs for linking vmx/exit.c into a host unit test (test_exit_table.c): every handler is a
 * distinct function that records its own name, so the test can tell which one a table slot
 * holds by calling it; the scheduler, injection, logging and guest-stop entry points record
 * that they were reached (the table accessor under test never reaches them).
 */
#include <stdarg.h>

#include <kestrel/inject.h>
#include <kestrel/log.h>
#include <stdlib.h>

#include <kestrel/sched.h>
#include <kestrel/vcpu.h>

extern const char *stub_last_called;
extern unsigned stub_other_calls;
const char *stub_last_called;
unsigned stub_other_calls;

#define HANDLER_STUB(name)                                                                        \
	void name(struct vcpu *v)                                                                 \
	{                                                                                         \
		stub_last_called = #name;                                                         \
	}

HANDLER_STUB(exit_exception_nmi)
HANDLER_STUB(exit_external_interrupt)
HANDLER_STUB(exit_triple_fault)
HANDLER_STUB(exit_interrupt_window)
HANDLER_STUB(exit_nmi_window)
HANDLER_STUB(exit_cpuid)
HANDLER_STUB(exit_hlt)
HANDLER_STUB(exit_vmcall)
HANDLER_STUB(exit_cr_access)
HANDLER_STUB(exit_io)
HANDLER_STUB(exit_rdmsr)
HANDLER_STUB(exit_wrmsr)
HANDLER_STUB(exit_xsetbv)
HANDLER_STUB(exit_ept_violation)
HANDLER_STUB(exit_ept_misconfig)
HANDLER_STUB(exit_preemption_timer)
HANDLER_STUB(exit_inject_ud)
HANDLER_STUB(exit_inject_gp)
HANDLER_STUB(exit_skip)

struct vcpu *sched_current_vcpu;
bool serial_backlog;

void sched_next_entry(struct vcpu *exited)
{
	stub_other_calls++;
}

void vmx_resume(struct guest_regs *regs)
{
	stub_other_calls++;
	abort(); /* exit_dispatch_full() enters the guest: the table test never gets there */
}

void sched_after_failed_entry(struct vcpu *failed)
{
	stub_other_calls++;
	abort(); /* vmx_entry_failed() never returns */
}

void inject_record_vectoring(struct vcpu *v)
{
	stub_other_calls++;
}

void vcpu_dump(const struct vcpu *v)
{
	stub_other_calls++;
}

void guest_stop(struct guest *g, int status, const char *why, ...)
{
	stub_other_calls++;
}

void log_write(enum log_level level, const char *src, const char *fmt, ...)
{
	stub_other_calls++;
}
