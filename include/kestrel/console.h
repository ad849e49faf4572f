/* A guest's console: its UART output (and HC_CONSOLE_WRITE) as "[NAME] line" on the host. */
#ifndef KESTREL_CONSOLE_H
#define KESTREL_CONSOLE_H

#include <kestrel/guest.h>

void guest_console_putc(struct guest *g, u8 c);
void guest_console_flush(struct guest *g);

#endif
