/* GDT with a 64-bit TSS: VM entry requires a usable host TR (SDM Vol. 3C 27.2.3), and UEFI
 * leaves TR = 0. */
#include <kestrel/arch.h>
#include <kestrel/string.h>
#include <kestrel/x86_desc.h>

/* SDM Vol. 3A 3.4.5 (segment descriptors) and 7.2.3 (TSS descriptor in 64-bit mode). */
#define DESC_CODE64 0x00af9b000000ffffull /* present, DPL 0, execute/read, accessed, L=1 */
#define DESC_DATA 0x00cf93000000ffffull   /* present, DPL 0, read/write, accessed */

static struct tss64 tss;
static u64 gdt[5] __attribute__((aligned(16)));

void gdt_load(u64 ist_top)
{
	u64 base = (u64)&tss, limit = sizeof(tss) - 1;
	struct descriptor_pointer gdtr = { sizeof(gdt) - 1, (u64)gdt };

	memset(&tss, 0, sizeof(tss));
	tss.ist[IST_FAULT - 1] = ist_top;
	tss.iomap_base = sizeof(tss); /* no I/O bitmap: ring 3 never runs in root mode */

	gdt[0] = 0;
	gdt[1] = DESC_CODE64;
	gdt[2] = DESC_DATA;
	gdt[3] = tss_descriptor_low(base, limit);
	gdt[4] = tss_descriptor_high(base);

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "movw %%ax, %%fs\n\t"
			 "movw %%ax, %%gs\n\t"
			 "ltr %w3"
			 :
			 : "m"(gdtr), "i"(GDT_SEL_CODE), "i"(GDT_SEL_DATA), "r"((u16)GDT_SEL_TSS)
			 : "rax", "memory");
}

u64 gdt_base(void)
{
	return (u64)gdt;
}

u64 tss_base(void)
{
	return (u64)&tss;
}
