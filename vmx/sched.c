/*
 * Several guests on the boot CPU. The VMX-preemption timer fires at the earlier of the end of
 * the time slice (only when another guest is runnable) and the guest's next device event, so a
 * lone guest without timers runs with no ticks at all. A HLTed vCPU sleeps until its interrupt
 * controller has a request; when every vCPU sleeps, the CPU waits for the earliest event.
 */
#include <kestrel/console.h>
#include <kestrel/cpu.h>
#include <kestrel/inject.h>
#include <kestrel/log.h>
#include <kestrel/platform_irq.h>
#include <kestrel/power.h>
#include <kestrel/root_map.h>
#include <kestrel/sched.h>
#include <kestrel/serial.h>
#include <kestrel/vcpu.h>
#include <kestrel/vmcs.h>
#include <kestrel/vmx.h>

#define NO_EVENT (~0ull)
#define SERIAL_DRAIN_US 1000 /* 16 bytes a millisecond outpaces 115200 baud */
#define INPUT_POLL_MS 10     /* host keyboard to guest console: unnoticeable to a person */
#define INPUT_BURST 16
#define MIN_GUEST_RUN_US 20

static struct guest *guests;
static u32 n_guests;
struct vcpu *sched_current_vcpu;
u64 vmx_exit_stack_top; /* vmx/entry.asm: every exit's C code runs on this stack */
static u64 slice_ticks, slice_end;
static u64 wake_deadline = NO_EVENT; /* earliest device event of a HLTed vCPU */
static u64 sched_deadline;           /* the current vCPU's turn ends: slice or a wake-up */
static bool save_timer; /* the CPU keeps the preemption timer's count across exits */
static u32 preemption_rate;
static u64 drain_ticks;
static u64 min_run_ticks; /* MIN_GUEST_RUN_US: the shortest stretch a guest runs per entry */
static u64 idle_ticks; /* waited for events during the current exit: not handling cost */
static struct guest *console_guest; /* gets the host's serial input; NULL: nobody listens */
static u64 input_poll_ticks, next_input_poll = NO_EVENT;


static u32 n_running; /* guests not yet stopped, counted by sched_guest_stopped() */

/* Device deadlines are in guest TSC time; the scheduler compares host TSC values. */
void sched_devices_changed(struct guest *g)
{
	u64 next = MIN(MIN(pit_next_event(&g->pit), lapic_next_event(&g->lapic)),
		       rtc_next_event(&g->rtc));

	g->next_event = next == NO_EVENT ? NO_EVENT : next - g->vcpu.tsc_offset;
	vcpu_events_changed(&g->vcpu); /* an interrupt may have been raised or unmasked */
}

void sched_guest_stopped(struct guest *g)
{
	n_running--;
}

static u64 guest_next_event(const struct guest *g)
{
	return g->next_event;
}

static COLD void fire_device_timers(struct guest *g, u64 now)
{
	pit_update(&g->pit, now + g->vcpu.tsc_offset);
	lapic_update(&g->lapic, now + g->vcpu.tsc_offset);
	rtc_update(&g->rtc, now + g->vcpu.tsc_offset);
	sched_devices_changed(g);
}

/* Bring a guest's timers up to `now`; one compare per exit when nothing is due. */
static inline void update_devices(struct guest *g, u64 now)
{
	if (now >= g->next_event)
		fire_device_timers(g, now);
}

static bool vcpu_runnable(struct vcpu *v, u64 now)
{
	if (v->guest->state != GUEST_RUNNING)
		return false;
	update_devices(v->guest, now);
	if (v->halted && platform_interrupt_pending(v->guest)) {
		v->halted = false;
		vcpu_events_changed(v);
	}
	return !v->halted;
}

static u32 guests_running(void)
{
	return n_running;
}

static void log_exit_stats(const struct guest *g)
{
	const struct exit_stats *st = &g->vcpu.stats;

	log_info("  %-20s %9s %10s %8s %8s %8s %10s", "exit reason", "count", "cycles avg", "min",
		 "median", "p99", "max");
	for (u32 r = 0; r < EXIT_REASON_MAX; r++) {
		const struct exit_reason_stats *e = &st->reason[r];

		if (e->count)
			log_info("  %-20s %9llu %10llu %8llu %8llu %8llu %10llu", exit_reason_name(r),
				 e->count, e->cycles / e->count, e->min, exit_stats_percentile(e, 500),
				 exit_stats_percentile(e, 990), e->max);
	}
}

/* Machine-readable: one JSON object per guest and exit reason, on lines tagged [stats]. */
static void dump_exit_stats_json(const struct guest *g)
{
	char line[320];

	for (u32 r = 0; r < EXIT_REASON_MAX; r++) {
		const struct exit_reason_stats *e = &g->vcpu.stats.reason[r];
		size_t n;

		if (!e->count)
			continue;
		n = exit_stats_json(line, sizeof(line), g->name, r, e);
		log_guest_line("stats", line, MIN(n, sizeof(line) - 1));
	}
}

static NORETURN void finish_run(void)
{
	bool all_ok = true;

	vmx_off();
	log_info("all guests have ended");
	for (u32 i = 0; i < n_guests; i++) {
		struct guest *g = &guests[i];
		u64 ran = g->vcpu.launched ? g->stop_tsc + g->vcpu.tsc_offset : 0;
		u64 idle = g->vcpu.stats.idle;

		guest_console_flush(g);
		log_info("guest '%s': %s%s; %llu exits, %llu.%03llu s of guest time, %llu.%03llu s "
			 "of it waiting with every vCPU halted", g->name,
			 g->status == 0 ? "" : "FAILED: ", g->stop_reason,
			 exit_stats_total(&g->vcpu.stats), ran / g->tsc_hz,
			 ran % g->tsc_hz * 1000 / g->tsc_hz, idle / g->tsc_hz,
			 idle % g->tsc_hz * 1000 / g->tsc_hz);
		log_exit_stats(g);
		all_ok &= g->status == 0;
	}
	for (u32 i = 0; i < n_guests; i++)
		dump_exit_stats_json(&guests[i]);
	log_info("integrity: Kestrel code and read-only data checksum 0x%016llx",
		 root_map_image_checksum());
	power_off(all_ok ? KEXIT_OK : KEXIT_GUEST_FAILED);
}

/* Host console input goes to the first guest's UART, as if typed on its serial line. */
static void poll_console_input(u64 now)
{
	int c;

	if (!console_guest || now < next_input_poll)
		return;
	next_input_poll = now + input_poll_ticks;
	if (console_guest->state != GUEST_RUNNING)
		return;
	for (int n = 0; n < INPUT_BURST && (c = serial_read_byte()) >= 0; n++)
		uart_receive(&console_guest->uart, (u8)c);
	sched_devices_changed(console_guest); /* the UART may now raise its interrupt */
}

/* Nobody can run: wait for the earliest device event, or stop guests that can never wake. */
static void wait_for_event(void)
{
	u64 earliest = NO_EVENT;

	for (u32 i = 0; i < n_guests; i++)
		if (guests[i].state == GUEST_RUNNING)
			earliest = MIN(earliest, guest_next_event(&guests[i]));
	if (earliest == NO_EVENT && !console_guest) {
		for (u32 i = 0; i < n_guests; i++)
			if (guests[i].state == GUEST_RUNNING)
				guest_stop(&guests[i], -1, "halted with no interrupt source armed");
		return;
	}
	u64 start = rdtsc();

	earliest = MIN(earliest, next_input_poll);
	while (rdtsc() < earliest) {
		serial_poll();
		cpu_relax();
	}
	poll_console_input(rdtsc());
	idle_ticks += rdtsc() - start;
}

/* A HLTed vCPU whose interrupt just came due runs first, so its wake-up latency does not
 * depend on how many guests share the CPU; otherwise round robin. */
static struct vcpu *pick_next(struct vcpu *from)
{
	u32 start = from->guest->index;

	while (guests_running()) {
		u64 now = rdtsc();

		for (u32 i = 1; i <= n_guests; i++) {
			struct vcpu *v = &guests[(start + i) % n_guests].vcpu;

			if (v->halted && vcpu_runnable(v, now))
				return v;
		}
		for (u32 i = 1; i <= n_guests; i++) {
			struct vcpu *v = &guests[(start + i) % n_guests].vcpu;

			if (vcpu_runnable(v, now))
				return v;
		}
		wait_for_event();
	}
	return NULL;
}

static void fpu_save(u8 *area)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*(u8(*)[512])area));
}

static void fpu_restore(const u8 *area)
{
	__asm__ volatile("fxrstor64 %0" : : "m"(*(const u8(*)[512])area));
}

#define DEFINE_DR_ACCESSORS(n)                                                                    \
	static u64 read_dr##n(void)                                                               \
	{                                                                                         \
		u64 v;                                                                            \
		__asm__ volatile("mov %%db" #n ", %0" : "=r"(v));                                 \
		return v;                                                                         \
	}                                                                                         \
	static void write_dr##n(u64 v)                                                            \
	{                                                                                         \
		__asm__ volatile("mov %0, %%db" #n : : "r"(v));                                   \
	}
DEFINE_DR_ACCESSORS(0)
DEFINE_DR_ACCESSORS(1)
DEFINE_DR_ACCESSORS(2)
DEFINE_DR_ACCESSORS(3)
DEFINE_DR_ACCESSORS(6)
#undef DEFINE_DR_ACCESSORS

/* VM entry and exit switch neither the SYSCALL MSRs, CR2, DR0-DR3/DR6 nor the FPU/SSE state:
 * the scheduler does (root mode itself uses none of them), so no guest sees another's. */
static void load_guest_owned_state(struct vcpu *to)
{
	const struct syscall_msrs *m = &to->syscall_msrs;

	wrmsr(MSR_IA32_STAR, m->star);
	wrmsr(MSR_IA32_LSTAR, m->lstar);
	wrmsr(MSR_IA32_CSTAR, m->cstar);
	wrmsr(MSR_IA32_SFMASK, m->sfmask);
	wrmsr(MSR_IA32_KERNEL_GS_BASE, m->kernel_gs_base);
	write_cr2(m->cr2);
	write_dr0(m->dr[0]);
	write_dr1(m->dr[1]);
	write_dr2(m->dr[2]);
	write_dr3(m->dr[3]);
	write_dr6(m->dr6);
	fpu_restore(to->fpu_state);
}

static void switch_to(struct vcpu *from, struct vcpu *to)
{
	struct syscall_msrs *m = &from->syscall_msrs;
	u64 vmcs = to->vmcs;

	if (from->guest->state == GUEST_RUNNING) {
		m->star = rdmsr(MSR_IA32_STAR);
		m->lstar = rdmsr(MSR_IA32_LSTAR);
		m->cstar = rdmsr(MSR_IA32_CSTAR);
		m->sfmask = rdmsr(MSR_IA32_SFMASK);
		m->kernel_gs_base = rdmsr(MSR_IA32_KERNEL_GS_BASE);
		m->cr2 = read_cr2();
		m->dr[0] = read_dr0();
		m->dr[1] = read_dr1();
		m->dr[2] = read_dr2();
		m->dr[3] = read_dr3();
		m->dr6 = read_dr6();
		fpu_save(from->fpu_state);
	}
	__asm__ volatile("vmptrld %0" : : "m"(vmcs) : "cc", "memory");
	load_guest_owned_state(to);
	sched_current_vcpu = to;
}

static void update_wake_deadline(void)
{
	wake_deadline = NO_EVENT;
	for (u32 i = 0; i < n_guests; i++)
		if (guests[i].state == GUEST_RUNNING && guests[i].vcpu.halted)
			wake_deadline = MIN(wake_deadline, guest_next_event(&guests[i]));
}

/*
 * Arm the VMX-preemption timer (SDM Vol. 3C 26.5.1) for the earliest event this vCPU must
 * leave guest mode for. With "save VMX-preemption timer value" the count survives exits, so
 * the VMWRITE happens only when that moment changes.
 */
static inline void arm_preemption_timer(struct vcpu *v, u64 now)
{
	u64 deadline = MIN(MIN(v->guest->next_event, sched_deadline), v->watchdog_at), ticks;

	if (serial_backlog)
		deadline = MIN(deadline, now + drain_ticks); /* come back to drain the console */
	if (save_timer && deadline == v->timer_deadline)
		return;
	v->timer_deadline = deadline;
	/* A guest always runs a little: a device event that is due again at once (a timer
	 * programmed with a tiny period while its interrupt cannot be taken) would otherwise bring
	 * it straight back out on every entry, and it would never get to the next instruction. */
	ticks = (deadline > now + min_run_ticks ? deadline - now : min_run_ticks) >> preemption_rate;
	vmcs_write32(VMCS_PREEMPTION_TIMER, (u32)MIN(ticks, 0xffffffffull));
}

/*
 * Prepare the entry of v. Its later exits may skip all of this until the earliest moment
 * something here could change: the preemption timer's deadline (the slice, a device event,
 * the watchdog). Handlers that change anything else say so (vcpu_request_entry_work()).
 * Without "save VMX-preemption timer value", or while console output waits, every entry
 * writes the timer again.
 */
static void enter(struct vcpu *v, u64 now)
{
	if (v->events_dirty)
		inject_events(v);
	arm_preemption_timer(v, now);
	v->resume_until = save_timer && !serial_backlog && !v->events_dirty ? v->timer_deadline : 0;
}

/* Root-mode cost of this exit: from the stub's TSC read to just before the resume (the few
 * stub instructions outside that window are counted in docs/measuring.md). Waiting for an
 * event with every vCPU halted is idle time, not handling cost. */
static void account_exit(struct vcpu *v)
{
	exit_stats_record(&v->stats, v->exit_reason, rdtsc() - v->regs.exit_tsc - idle_ticks);
	if (idle_ticks) {
		v->stats.idle += idle_ticks;
		idle_ticks = 0;
	}
}

/* The vCPU stopped, halted, or its turn ended. */
static COLD struct vcpu *reschedule(struct vcpu *v, bool exited)
{
	struct vcpu *next = pick_next(v);
	u64 now;

	if (!next) {
		if (exited)
			account_exit(v);
		finish_run();
	}
	if (next != v) {
		switch_to(v, next);
		vcpu_events_changed(next);
	}
	if (serial_backlog)
		serial_poll();
	now = rdtsc();
	poll_console_input(now);
	slice_end = now + slice_ticks;
	update_wake_deadline();
	sched_deadline = MIN(MIN(wake_deadline, next_input_poll),
			     guests_running() > 1 ? slice_end : NO_EVENT);
	return next;
}

/*
 * The watchdog a guest's `watchdog` key asks for: a guest seen with RFLAGS.IF = 0 at every
 * look for that many seconds is stopped, so a spinning guest cannot hold its share of the CPU
 * forever (the preemption timer brings Kestrel back even when the guest never exits).
 */
static COLD void watchdog_check(struct vcpu *v, u64 now)
{
	struct guest *g = v->guest;
	u64 limit = g->config->watchdog * g->tsc_hz;

	v->watchdog_at = now + limit / 8;
	if (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_IF) {
		v->if_off_since = 0;
		return;
	}
	if (!v->if_off_since)
		v->if_off_since = now;
	else if (now - v->if_off_since >= limit)
		guest_stop(g, -1, "watchdog: interrupts disabled for %u s (RIP 0x%llx)",
			   g->config->watchdog, vmcs_readnat(VMCS_GUEST_RIP));
}

/* Everything between two entries that the fast path skips; `exited`: v's exit is counted.
 * Enters the chosen vCPU itself, reloading all its GPRs. */
static NORETURN void full_entry(struct vcpu *v, u64 now, bool exited)
{
	struct vcpu *next = v;

	if (now >= v->watchdog_at)
		watchdog_check(v, now);
	update_devices(v->guest, now);
	if (v->guest->state != GUEST_RUNNING || v->halted || now >= sched_deadline) {
		next = reschedule(v, exited);
		now = rdtsc();
	} else if (serial_backlog && v->exit_reason == EXIT_REASON_PREEMPTION_TIMER) {
		serial_poll(); /* the drain tick arm_preemption_timer() asked for */
	}
	enter(next, now);
	if (exited)
		account_exit(v);
	if (!next->launched) {
		next->launched = true;
		vmx_launch(&next->regs);
	}
	vmx_resume(&next->regs);
}

void sched_next_entry(struct vcpu *v)
{
	u64 now = rdtsc();

	if (likely(now < v->resume_until))
		exit_stats_record(&v->stats, v->exit_reason, now - v->regs.exit_tsc);
	else
		full_entry(v, now, true);
}

NORETURN void sched_after_failed_entry(struct vcpu *v)
{
	full_entry(v, rdtsc(), false);
}

NORETURN void sched_run(struct guest *all, u32 n, u64 exit_stack_top, u64 tsc_hz, u32 rate,
			bool timer_saved, bool console_input)
{
	struct vcpu *first = NULL;
	u64 vmcs, now;

	guests = all;
	n_guests = n;
	preemption_rate = rate;
	save_timer = timer_saved;
	slice_ticks = tsc_hz / 1000 * SCHED_SLICE_MS;
	drain_ticks = tsc_hz / 1000000 * SERIAL_DRAIN_US;
	input_poll_ticks = tsc_hz / 1000 * INPUT_POLL_MS;
	min_run_ticks = tsc_hz / 1000000 * MIN_GUEST_RUN_US;
	serial_set_buffered(true);
	vmx_exit_stack_top = exit_stack_top;
	n_running = 0; /* guests stopped while being built were never counted */
	for (u32 i = 0; i < n; i++) {
		if (guests[i].state != GUEST_RUNNING)
			continue;
		n_running++;
		sched_devices_changed(&guests[i]);
		if (!first)
			first = &guests[i].vcpu;
	}
	if (!first)
		finish_run();
	if (console_input) {
		console_guest = &guests[0];
		console_guest->console_raw = true;
		next_input_poll = rdtsc() + input_poll_ticks;
	}
	sched_current_vcpu = first;
	vmcs = first->vmcs;
	__asm__ volatile("vmptrld %0" : : "m"(vmcs) : "cc", "memory");
	load_guest_owned_state(first);
	now = rdtsc();
	slice_end = now + slice_ticks;
	sched_deadline = MIN(next_input_poll, n_running > 1 ? slice_end : NO_EVENT);
	vcpu_events_changed(first);
	enter(first, now);
	first->launched = true;
	vmx_launch(&first->regs);
}
