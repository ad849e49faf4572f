/* The host's 16550 serial port: Kestrel's console once the firmware is gone. */
#ifndef KESTREL_SERIAL_H
#define KESTREL_SERIAL_H

#include <kestrel/types.h>

#define COM1_PORT 0x3f8

void serial_init(void);
void serial_write(const char *text, size_t len); /* "\n" goes out as "\r\n" */

#endif
