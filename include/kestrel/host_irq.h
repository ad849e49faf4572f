/* The host's interrupt sources: root mode takes no interrupts, so they are silenced. */
#ifndef KESTREL_HOST_IRQ_H
#define KESTREL_HOST_IRQ_H

#include <kestrel/types.h>

/* Mask the legacy PICs and the local APIC timer the firmware may have left running. */
void host_irq_quiesce(void);

/* An interrupt that arrived anyway (acknowledged by the VM exit): send its EOI, log once. */
void host_irq_spurious(u8 vector);

#endif
