/*
 * The local APIC of one vCPU (SDM Vol. 3A chapter 11) as its guest sees it: the xAPIC page at
 * 0xfee00000, the x2APIC MSRs 0x800-0x8ff, IA32_APIC_BASE and IA32_TSC_DEADLINE.
 *
 * Interrupts arrive through lapic_accept_irq() (the I/O APIC's messages; the timer, the error
 * LVT and self-IPIs use it internally). Before each VM entry the hypervisor calls lapic_update()
 * and asks lapic_pending_vector(); when the guest can take an interrupt it injects that vector
 * and calls lapic_acknowledge(). 8259 interrupts reach the vCPU only while
 * lapic_accepts_extint(). A halted vCPU sleeps (or arms its preemption timer) until
 * lapic_next_event(), re-read after every exit.
 *
 * Time is the caller's clock (guest TSC ticks). TSC-deadline mode compares it directly; the
 * one-shot and periodic modes count at LAPIC_BUS_HZ through the divide configuration register,
 * which is what CPUID 0x40000010 EBX reports (1000000 kHz).
 */
#ifndef KESTREL_LAPIC_H
#define KESTREL_LAPIC_H

#include <kestrel/pit8254.h>
#include <kestrel/types.h>
#include <kestrel/vdev.h>

#define LAPIC_BASE 0xfee00000ull /* fixed: IA32_APIC_BASE refuses to move it */
#define LAPIC_MMIO_SIZE 0x1000ull
#define LAPIC_BUS_HZ 1000000000ull /* the timer's input clock before the divider */
#define LAPIC_NUM_LVT 7		   /* CMCI, timer, thermal, perf, LINT0, LINT1, error */

#define MSR_IA32_TSC_DEADLINE 0x6e0
#define LAPIC_MSR_FIRST 0x800 /* x2APIC registers: 0x800 + (xAPIC offset >> 4) */
#define LAPIC_MSR_LAST 0x8ff

struct lapic_hooks {
	/* A level-triggered vector (TMR set) was EOIed: the I/O APIC clears its Remote IRR. */
	void (*eoi)(void *ctx, u8 vector);
	/* The guest sent itself an NMI through the ICR. */
	void (*nmi)(void *ctx);
	void *ctx;
};

struct lapic {
	u32 id;			/* x2APIC ID; the xAPIC ID is its low 8 bits */
	u64 mode;		/* IA32_APIC_BASE bits 11 (EN) and 10 (EXTD) */
	struct vclock clock;
	struct lapic_hooks hooks;
	u32 tpr, ldr, dfr, svr;
	u32 esr;		/* what ESR reads: the errors up to the last ESR write */
	u32 esr_pending;	/* errors since that write */
	u32 icr_lo, icr_hi;
	u32 lvt[LAPIC_NUM_LVT];
	u32 irr[8], isr[8], tmr[8];
	u32 tmict, tdcr;
	u32 timer_count;	/* one-shot/periodic: the count at timer_load, 0 when stopped */
	u64 timer_load;		/* bus tick at which the counter held timer_count */
	u64 deadline;		/* IA32_TSC_DEADLINE, 0 when disarmed */
	u64 base;		/* clock time of bus tick 0 */
	u64 now;		/* latest clock time seen: time never runs backwards */
	u64 timer_lost;		/* periodic interrupts merged because time was seen too late */
	u64 dropped;		/* fixed interrupts refused: APIC disabled, or vector 0-15 */
	u64 ipis_ignored;	/* INIT, SIPI, SMI, ExtINT and IPIs for other CPUs (one vCPU) */
};

/*
 * Power-up state (SDM 11.4.7.1): xAPIC mode, software-disabled (SVR 0xff), every LVT masked;
 * `id` 0 is the BSP. Returns -1 when the clock is unusable: no now(), or hz is 0 or so large that
 * hz * LAPIC_BUS_HZ overflows 64 bits.
 */
int lapic_init(struct lapic *lapic, u32 id, struct vclock clock, struct lapic_hooks hooks);

/*
 * What PC firmware leaves for the OS (MP spec 3.6.2.2 virtual wire mode): software-enabled,
 * LINT0 ExtINT and LINT1 NMI unmasked, so the 8259 keeps reaching the CPU. The hypervisor
 * calls it after lapic_init() when it boots a guest directly, without firmware.
 */
void lapic_virtual_wire(struct lapic *lapic);

/*
 * The xAPIC page. Registers sit at 16-byte aligned offsets; reads of 1, 2 or 4 bytes within
 * the first 4 bytes of a register return those bytes, writes take effect only as aligned 4-byte
 * stores. Everything else (other sizes and offsets, reserved and write-only registers) reads
 * 0 and ignores writes, as does the whole page while the APIC is disabled or in x2APIC mode.
 */
extern const struct vdev_mmio_ops lapic_mmio_ops;

/* Claims [LAPIC_BASE, +LAPIC_MMIO_SIZE). Returns 0, or -1 if the range is taken. */
int lapic_register(struct lapic *lapic, struct vdev_bus *bus);

/*
 * WRMSR IA32_APIC_BASE (SDM 11.12.5): disabled <-> xAPIC -> x2APIC, x2APIC -> disabled; entering
 * the disabled state resets every register but the ID. Returns -1 (the caller injects #GP) for
 * a reserved bit, another base address, EN=0 with EXTD=1, x2APIC -> xAPIC and disabled ->
 * x2APIC. The BSP bit is read-only.
 */
int lapic_set_base(struct lapic *lapic, u64 value);
u64 lapic_base(const struct lapic *lapic);

/*
 * RDMSR/WRMSR of IA32_TSC_DEADLINE (any mode; reads 0 and ignores writes unless the timer is in
 * TSC-deadline mode) and of the x2APIC registers (x2APIC mode only). Returns 0, or -1 where the
 * CPU raises #GP: another MSR, the x2APIC range outside x2APIC mode, absent registers, writes
 * to read-only and reads of write-only ones, reserved bits set (SDM 11.12.1.3), non-zero EOI or
 * ESR writes.
 */
int lapic_msr_read(struct lapic *lapic, u32 msr, u64 *value);
int lapic_msr_write(struct lapic *lapic, u32 msr, u64 value);

/*
 * Whether a message for `dest` (physical APIC ID, or logical with the LDR and DFR) reaches this
 * APIC (SDM 11.6.2.1, 11.6.2.2, 11.12.10.1). In xAPIC mode `dest` is 8 bits and 0xff is the
 * broadcast; in x2APIC mode 32 bits and 0xffffffff. A disabled APIC matches nothing.
 */
bool lapic_match_dest(const struct lapic *lapic, u32 dest, bool logical);

/*
 * A fixed or lowest-priority interrupt for this APIC: sets IRR, and TMR when `level` (SDM
 * 11.8.4). Returns false when it is refused: the APIC is disabled (globally or by SVR), or the
 * vector is 0-15 (ESR "receive illegal vector").
 */
bool lapic_accept_irq(struct lapic *lapic, u8 vector, bool level);

/* The highest IRR vector whose priority class is above PPR's (SDM 11.8.3.1), or -1. */
int lapic_pending_vector(const struct lapic *lapic);

/* The vector was injected: it moves from IRR to ISR. Ignored if it is not in IRR. */
void lapic_acknowledge(struct lapic *lapic, u8 vector);

/* Bring the timer to clock time `now`: at most one interrupt, later periods become timer_lost. */
void lapic_update(struct lapic *lapic, u64 now);

/* Clock time of the next timer interrupt, or ~0ull when none will come (also when masked). */
u64 lapic_next_event(const struct lapic *lapic);

/*
 * Whether the 8259's INTR reaches the CPU: always when the APIC is globally disabled (SDM
 * 11.4.3: no APIC), otherwise only through LINT0 unmasked with delivery mode ExtINT.
 */
bool lapic_accepts_extint(const struct lapic *lapic);

#endif
