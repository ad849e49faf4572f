/* Line-buffered guest console: one host log line per guest line, prefixed with its name. */
#include <kestrel/console.h>
#include <kestrel/log.h>

void guest_console_flush(struct guest *g)
{
	if (g->console_len)
		log_guest_line(g->name, g->console, g->console_len);
	g->console_len = 0;
}

void guest_console_putc(struct guest *g, u8 c)
{
	if (c == '\n') {
		guest_console_flush(g);
		return;
	}
	if (c == '\r')
		return;
	/* Control characters and escape sequences must not reach the host terminal. */
	g->console[g->console_len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	if (g->console_len == GUEST_CONSOLE_LINE)
		guest_console_flush(g);
}
