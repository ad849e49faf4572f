/*
 * MMIO instruction decoder and emulator (vmx/x86_decode.c). Input: up to 16 instruction bytes
 * (byte 0 says how many: 1 + byte % 16; the rest of the input after them seeds the registers,
 * RFLAGS and the value the fake device reads). Every input is decoded in all three CPU modes,
 * from an exact-size buffer; what decodes is emulated against a fake device that records its
 * accesses. Checked: the decoder's output is self-consistent and does not depend on bytes past
 * its length, and the emulator does at most one read then one write of mem_size bytes, changes
 * only the status flags and no register but the operand.
 */
#include <string.h>

#include <kestrel/x86_decode.h>

#include "fuzz.h"

#define RFLAGS_STATUS 0x8d5ull /* CF PF AF ZF SF OF */

struct device {
	u64 value; /* what a read returns, garbage above the access size included */
	unsigned reads, writes;
	u32 read_size, write_size;
	u64 written;
};

static u64 dev_read(void *ctx, u32 size)
{
	struct device *d = ctx;

	FUZZ_CHECK(d->writes == 0); /* a read never follows the write */
	d->reads++;
	d->read_size = size;
	return d->value;
}

static void dev_write(void *ctx, u32 size, u64 value)
{
	struct device *d = ctx;

	d->writes++;
	d->write_size = size;
	d->written = value;
}

static u64 mask_of(u32 size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static bool is_size(u32 s)
{
	return s == 1 || s == 2 || s == 4 || s == 8;
}

static bool same(const struct x86_insn *a, const struct x86_insn *b)
{
	return a->op == b->op && a->length == b->length && a->op_size == b->op_size &&
	       a->mem_size == b->mem_size && a->addr_size == b->addr_size && a->reg == b->reg &&
	       a->reg_is_high_byte == b->reg_is_high_byte && a->has_imm == b->has_imm &&
	       a->mem_is_dst == b->mem_is_dst && a->lock == b->lock && a->imm == b->imm &&
	       a->mem.base == b->mem.base && a->mem.index == b->mem.index &&
	       a->mem.scale == b->mem.scale && a->mem.seg == b->mem.seg &&
	       a->mem.rip_relative == b->mem.rip_relative && a->mem.disp == b->mem.disp;
}

static void check_insn(const struct x86_insn *in, enum cpu_mode mode, u32 avail)
{
	u8 max_reg = mode == CPU_MODE_64 ? 15 : 7;

	FUZZ_CHECK(in->length >= 1 && in->length <= avail && in->length <= X86_MAX_INSN_LEN);
	FUZZ_CHECK(in->op <= X86_OP_XCHG);
	FUZZ_CHECK(is_size(in->op_size) && is_size(in->mem_size));
	FUZZ_CHECK(in->op_size == 8 ? mode == CPU_MODE_64 : 1);
	FUZZ_CHECK(mode == CPU_MODE_64 ? in->addr_size == 4 || in->addr_size == 8
				       : in->addr_size == 2 || in->addr_size == 4);
	if (in->op == X86_OP_MOVZX || in->op == X86_OP_MOVSX)
		FUZZ_CHECK(in->mem_size <= 2 && in->mem_size <= in->op_size && !in->mem_is_dst);
	else
		FUZZ_CHECK(in->mem_size == in->op_size);
	FUZZ_CHECK(in->reg <= max_reg);
	FUZZ_CHECK(!in->reg_is_high_byte || (in->reg <= 3 && in->op_size == 1));
	FUZZ_CHECK(!in->has_imm || (in->imm & ~mask_of(in->op_size)) == 0);
	FUZZ_CHECK(!in->has_imm || in->mem_is_dst);
	FUZZ_CHECK(in->mem.base == X86_REG_NONE || in->mem.base <= max_reg);
	FUZZ_CHECK(in->mem.index == X86_REG_NONE ||
		   (in->mem.index <= max_reg && in->mem.index != 4));
	FUZZ_CHECK(is_size(in->mem.scale));
	FUZZ_CHECK(in->mem.seg <= X86_SEG_GS);
	FUZZ_CHECK(!in->mem.rip_relative || (mode == CPU_MODE_64 && in->mem.base == X86_REG_NONE &&
					     in->mem.index == X86_REG_NONE));
	FUZZ_CHECK(!in->lock || in->op == X86_OP_XCHG || (in->op <= X86_OP_XOR && in->mem_is_dst));
}

/* A load of `value` into the register: 8/16-bit keep the rest, 32-bit zero-extends. */
static void check_load(const struct x86_insn *in, u64 now, u64 before, u64 value)
{
	u64 m = mask_of(in->op_size);

	if (in->op_size >= 4)
		FUZZ_CHECK(now == value);
	else
		FUZZ_CHECK((now & m) == value && (now & ~m) == (before & ~m));
}

/* The register operand's value before the instruction, as the instruction sees it. */
static u64 reg_value(const struct x86_insn *in, const u64 *gpr)
{
	return (gpr[in->reg] >> (in->reg_is_high_byte ? 8 : 0)) & mask_of(in->op_size);
}

static void emulate(const struct x86_insn *in, const uint8_t *seed, size_t seed_len)
{
	struct device dev = { .value = fuzz_le(seed, seed_len, 0, 8) };
	const struct x86_mmio_ops ops = { dev_read, dev_write, &dev };
	u64 gpr[16], before[16], rflags = fuzz_le(seed, seed_len, 8, 8), rflags_before;

	for (unsigned i = 0; i < 16; i++)
		gpr[i] = before[i] = fuzz_le(seed, seed_len, 16 + 8 * i, 8);
	rflags_before = rflags;

	FUZZ_CHECK(x86_emulate_mmio(in, gpr, &rflags, &ops) == 0);
	FUZZ_CHECK((rflags & ~RFLAGS_STATUS) == (rflags_before & ~RFLAGS_STATUS));
	for (unsigned i = 0; i < 16; i++)
		FUZZ_CHECK(i == in->reg || gpr[i] == before[i]);
	FUZZ_CHECK(dev.reads <= 1 && dev.writes <= 1);
	FUZZ_CHECK(!dev.reads || dev.read_size == in->mem_size);
	FUZZ_CHECK(!dev.writes ||
		   (dev.write_size == in->mem_size && (dev.written & ~mask_of(in->mem_size)) == 0));

	switch (in->op) {
	case X86_OP_MOV:
		FUZZ_CHECK(in->mem_is_dst ? !dev.reads && dev.writes : dev.reads && !dev.writes);
		if (in->mem_is_dst)
			FUZZ_CHECK(dev.written == (in->has_imm ? in->imm : reg_value(in, before)));
		else if (!in->reg_is_high_byte)
			check_load(in, gpr[in->reg], before[in->reg],
				   dev.value & mask_of(in->mem_size));
		break;
	case X86_OP_MOVZX:
		FUZZ_CHECK(dev.reads && !dev.writes);
		check_load(in, gpr[in->reg], before[in->reg], dev.value & mask_of(in->mem_size));
		break;
	case X86_OP_CMP:
	case X86_OP_TEST:
		FUZZ_CHECK(dev.reads && !dev.writes && gpr[in->reg] == before[in->reg]);
		break;
	case X86_OP_XCHG:
		FUZZ_CHECK(dev.reads && dev.writes);
		break;
	default:
		FUZZ_CHECK(dev.reads && dev.writes == in->mem_is_dst);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum cpu_mode modes[] = { CPU_MODE_16, CPU_MODE_32, CPU_MODE_64 };
	u32 avail;
	uint8_t *bytes;

	if (size < 1)
		return 0;
	avail = 1 + data[0] % 16;
	if (avail > size - 1)
		avail = (u32)(size - 1);
	bytes = fuzz_dup(data + 1, avail); /* exact size: ASan sees a read past `available` */

	for (unsigned m = 0; m < 3; m++) {
		struct x86_insn in, again;

		if (x86_decode(bytes, avail, modes[m], &in))
			continue;
		check_insn(&in, modes[m], avail);
		/* The bytes past the instruction make no difference. */
		FUZZ_CHECK(x86_decode(bytes, in.length, modes[m], &again) == 0 &&
			   same(&in, &again));
		emulate(&in, data + 1 + avail, size - 1 - avail);
	}
	free(bytes);
	return 0;
}
