/* The host's real-time clock, read once at boot to give guests the time of day. */
#ifndef KESTREL_HOST_RTC_H
#define KESTREL_HOST_RTC_H

#include <kestrel/types.h>

/* Seconds since 1970-01-01 00:00 UTC as the CMOS clock shows it (PC firmware keeps UTC or
 * local time there; Kestrel passes on whatever it holds). 0 when it cannot be read. */
u64 host_rtc_read_unix(void);

#endif
