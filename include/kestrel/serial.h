/*
 * The host's 16550 serial port: Kestrel's console once the firmware is gone. While guests run,
 * output is buffered and drained a FIFO-load at a time from the scheduler, so a line printed in
 * root mode costs microseconds, not the ~90 µs per character the wire takes at 115200 baud.
 */
#ifndef KESTREL_SERIAL_H
#define KESTREL_SERIAL_H

#include <kestrel/types.h>

#define COM1_PORT 0x3f8

void serial_init(void);
void serial_write(const char *text, size_t len); /* "\n" goes out as "\r\n" */

/* From now on buffer output (drained by serial_poll); before, every write waits for the wire. */
void serial_set_buffered(bool buffered);

/* Move what the UART can take now from the buffer to it. Returns true while output remains. */
bool serial_poll(void);

/* Buffered output is waiting for the wire (read on every exit: a plain flag). */
extern bool serial_backlog;

/* A byte received on the host port, or -1 when none is waiting. */
int serial_read_byte(void);

/* Wait until everything, the last stop bit included, has left the UART. */
void serial_flush(void);

#endif
