/* Event injection (vmx/inject.c). */
#ifndef KESTREL_INJECT_H
#define KESTREL_INJECT_H

#include <kestrel/guest.h>

/* On every exit: remember an event whose delivery the exit interrupted. */
void inject_record_vectoring(struct vcpu *v);

/* Before every entry of the current vCPU: program the event to deliver, or the window exit. */
void inject_events(struct vcpu *v);

#endif
