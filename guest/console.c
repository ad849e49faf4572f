/*
 * A guest's console on the host's serial line. Normally line-buffered: one log line per guest
 * line, prefixed with its name, control characters replaced so they cannot reach the host
 * terminal. The guest a person types to is raw instead (echo and line editing must show at
 * once): its bytes pass as they come, with the prefix at the start of each line.
 */
#include <kestrel/console.h>
#include <kestrel/fmt.h>
#include <kestrel/log.h>

void guest_console_flush(struct guest *g)
{
	if (g->console_len)
		log_guest_line(g->name, g->console, g->console_len);
	g->console_len = 0;
	if (g->console_mid_line)
		log_raw("\n", 1); /* Kestrel's own lines start on a fresh line */
	g->console_mid_line = false;
}

static void console_raw_putc(struct guest *g, u8 c)
{
	char prefix[CONFIG_NAME_MAX + 4];
	char byte = (char)c;

	if (!g->console_mid_line) {
		log_raw(prefix, fmt_snprintf(prefix, sizeof(prefix), "[%s] ", g->name));
		g->console_mid_line = true;
	}
	log_raw(&byte, 1);
	if (c == '\n')
		g->console_mid_line = false;
}

void guest_console_putc(struct guest *g, u8 c)
{
	vcpu_request_entry_work(&g->vcpu); /* the scheduler's full path drains the serial line */
	if (g->console_raw) {
		console_raw_putc(g, c);
		return;
	}
	if (c == '\n') {
		guest_console_flush(g);
		return;
	}
	if (c == '\r')
		return;
	g->console[g->console_len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	if (g->console_len == GUEST_CONSOLE_LINE)
		guest_console_flush(g);
}
