/*
 * Kestrel's guest interface: the CPUID leaves it answers and the VMCALL hypercall ABI.
 * Shared by the hypervisor and the guests we ship; documented in docs/hypercalls.md.
 *
 * VMCALL: RAX = hypercall number, arguments in RBX, RCX, RDX, RSI; the result is returned in
 * RAX (HC_OK or a negative HC_E* error), extra results in RBX/RCX. Only CPL 0 may call; from
 * ring 3 VMCALL raises #UD in the guest. Outside Kestrel, VMCALL raises #UD as well.
 */
#ifndef KESTREL_HYPERCALL_H
#define KESTREL_HYPERCALL_H

/* CPUID leaves (the 0x40000000 range is reserved for hypervisors, SDM Vol. 2A CPUID). */
#define KESTREL_CPUID_BASE 0x40000000u   /* EAX: max leaf, EBX/ECX/EDX: signature */
#define KESTREL_CPUID_VERSION 0x40000001u/* EAX: hypercall ABI version */
#define KESTREL_CPUID_TIMING 0x40000010u /* EAX: TSC kHz, EBX: LAPIC timer kHz */
#define KESTREL_CPUID_MAX KESTREL_CPUID_TIMING
#define KESTREL_SIGNATURE "Kestrel VMM " /* 12 bytes: EBX, ECX, EDX */
#define KESTREL_ABI_VERSION 1

enum hypercall {
	HC_VERSION = 0,       /* -> RAX = KESTREL_ABI_VERSION */
	HC_CONSOLE_WRITE = 1, /* RBX = guest-physical address, RCX = length (<= 4096) */
	HC_POWER_OFF = 2,     /* RBX = status (0 = success): the guest ends; does not return */
	HC_EXIT_COUNT = 3,    /* RBX = exit reason, or HC_EXIT_ALL -> RAX = completed exits of
			       * that reason on this vCPU (the VMCALL asking is not counted yet) */
	HC_EXIT_RESET = 4,    /* zero this vCPU's exit statistics */
	HC_NULL = 5,          /* does nothing: the cheapest round trip, for measurement */
	HC_EXIT_STATS = 6,    /* RBX = exit reason, RCX = guest-physical address of a
			       * struct hc_exit_stats to fill (this vCPU's figures so far) */
	HC_COUNT
};

#define HC_EXIT_ALL 0xffffffffu

/* HC_EXIT_STATS result: root-mode TSC ticks per exit of one reason (the layout is ABI). */
#define HC_HIST_BUCKETS 32

struct hc_exit_stats {
	unsigned long long count, cycles_total, cycles_min, cycles_max;
	unsigned int hist[HC_HIST_BUCKETS]; /* hist[b]: exits costing [2^b, 2^(b+1)) ticks (b = 0:
					     * 0 or 1); the last bucket also all above */
};

#define HC_OK 0
#define HC_EINVAL (-22) /* bad argument (address outside guest RAM, length too long) */
#define HC_ENOSYS (-38) /* unknown hypercall number */

#endif
