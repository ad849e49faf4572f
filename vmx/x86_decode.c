/*
 * The MMIO instruction decoder and emulator. Formats: SDM Vol. 2A chapter 2 (prefixes 2.1.1,
 * ModRM/SIB tables 2-1 to 2-3, REX 2.2.1); opcodes: Vol. 2D Appendix A (tables ).
 */
#include <kestrel/x86_decode.h>

#define CS_AR_L (1u << 13)	/* SDM Vol. 3C 24.4.1, table 24-2 */
#define CS_AR_DB (1u << 14)

#define REX_W 0x08
#define REX_R 0x04
#define REX_X 0x02
#define REX_B 0x01

#define REG_RSP 4
#define REG_RBP 5
#define REG_RSI 6
#define REG_RDI 7
#define REG_RBX 3

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_PF (1ull << 2)
#define RFLAGS_AF (1ull << 4)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_SF (1ull << 7)
#define RFLAGS_OF (1ull << 11)
#define RFLAGS_STATUS (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

enum cpu_mode x86_cpu_mode(bool efer_lma, u32 cs_access_rights)
{
	/*
	 * CR0.PE does not matter: real mode also takes its default size from the cached CS.D,
	 * and VM entry requires CS.D = 0 in virtual-8086 mode (SDM Vol. 3C 26.3.1.2).
	 */
	if (efer_lma && (cs_access_rights & CS_AR_L))
		return CPU_MODE_64;
	return (cs_access_rights & CS_AR_DB) ? CPU_MODE_32 : CPU_MODE_16;
}

static u64 size_mask(u32 size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static u64 sign_extend(u64 v, u32 size)
{
	u64 sign = 1ull << (8 * size - 1);

	return ((v & size_mask(size)) ^ sign) - sign;
}

/* The bytes still allowed: `end` is min(available, 15), so running past it is -1. */
struct cursor {
	const u8 *bytes;
	u32 pos, end;
};

static bool fetch(struct cursor *c, u32 n, u64 *v)
{
	if (n > c->end - c->pos)
		return false;
	*v = 0;
	for (u32 i = 0; i < n; i++)
		*v |= (u64)c->bytes[c->pos + i] << (8 * i);
	c->pos += n;
	return true;
}

static bool fetch_signed(struct cursor *c, u32 n, u64 *v)
{
	if (!fetch(c, n, v))
		return false;
	*v = sign_extend(*v, n);
	return true;
}

/* Segment override prefixes (SDM Vol. 2A 2.1.1 group 2); -1 when b is not one. */
static int seg_prefix(u8 b)
{
	switch (b) {
	case 0x26: return X86_SEG_ES;
	case 0x2e: return X86_SEG_CS;
	case 0x36: return X86_SEG_SS;
	case 0x3e: return X86_SEG_DS;
	case 0x64: return X86_SEG_FS;
	case 0x65: return X86_SEG_GS;
	default: return -1;
	}
}

/* 16-bit forms, SDM Vol. 2A table 2-1: [bx+si] [bx+di] [bp+si] [bp+di] [si] [di] [bp] [bx]. */
static const u8 base16[8] = { REG_RBX, REG_RBX, REG_RBP, REG_RBP,
			      REG_RSI, REG_RDI, REG_RBP, REG_RBX };
static const u8 index16[8] = { REG_RSI, REG_RDI, REG_RSI, REG_RDI,
			       X86_REG_NONE, X86_REG_NONE, X86_REG_NONE, X86_REG_NONE };

/*
 * Decode ModRM, SIB and displacement into in->mem and in->reg (ModRM.reg with REX.R). Returns
 * the ModRM.reg field (for the groups, an opcode extension), or -1 for a register operand
 * (no memory to emulate) or truncation.
 */
static int decode_modrm(struct cursor *c, enum cpu_mode mode, u8 rex, struct x86_insn *in)
{
	struct x86_mem *m = &in->mem;
	u64 modrm, sib;
	u32 mod, rm, disp_size;

	if (!fetch(c, 1, &modrm))
		return -1;
	mod = modrm >> 6;
	rm = modrm & 7;
	if (mod == 3)
		return -1;
	m->base = X86_REG_NONE;
	m->index = X86_REG_NONE;
	m->scale = 1;
	disp_size = mod == 1 ? 1 : mod == 2 ? (in->addr_size == 2 ? 2 : 4) : 0;

	if (in->addr_size == 2) {
		if (mod == 0 && rm == 6) {
			disp_size = 2; /* [disp16] in place of [bp] */
		} else {
			m->base = base16[rm];
			m->index = index16[rm];
		}
	} else if (rm == 4) {
		/* SIB (table 2-3): index 100 without REX.X is none; base 101, mod 00 is disp32. */
		u32 index, base;

		if (!fetch(c, 1, &sib))
			return -1;
		index = ((sib >> 3) & 7) | (rex & REX_X ? 8 : 0);
		base = sib & 7;
		if (index != REG_RSP) {
			m->index = index;
			m->scale = 1 << (sib >> 6);
		}
		if (base == 5 && mod == 0)
			disp_size = 4;
		else
			m->base = base | (rex & REX_B ? 8 : 0);
	} else if (rm == 5 && mod == 0) {
		/* disp32; in 64-bit mode RIP-relative whatever REX.B says (tables 2-5, 2-7). */
		disp_size = 4;
		m->rip_relative = mode == CPU_MODE_64;
	} else {
		m->base = rm | (rex & REX_B ? 8 : 0);
	}

	if (disp_size && !fetch_signed(c, disp_size, &m->disp))
		return -1;
	m->seg = m->base == REG_RSP || m->base == REG_RBP ? X86_SEG_SS : X86_SEG_DS;
	in->reg = ((modrm >> 3) & 7) | (rex & REX_R ? 8 : 0);
	return (modrm >> 3) & 7;
}

/* The immediate of a form: Ib, or Iz (16 bits with a 16-bit operand, else 32 sign-extended). */
static bool decode_imm(struct cursor *c, bool byte_imm, struct x86_insn *in)
{
	u32 n = byte_imm ? 1 : in->op_size == 2 ? 2 : 4;

	in->reg = 0; /* ModRM.reg was an opcode extension */
	if (!fetch_signed(c, n, &in->imm))
		return false;
	in->imm &= size_mask(in->op_size);
	in->has_imm = true;
	return true;
}

/* The one-byte opcodes (table A-2); w is opcode bit 0: byte operands when clear. */
static int decode_one_byte(struct cursor *c, enum cpu_mode mode, u8 rex, u8 op,
			   struct x86_insn *in)
{
	bool w = op & 1;
	int ext;

	if (!w)
		in->op_size = 1;
	in->mem_size = in->op_size;

	if (op < 0x40 && (op & 7) < 4) {
		/* ALU Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev; bit 1 is the direction (to the register). */
		in->op = op >> 3;
		in->mem_is_dst = !(op & 2);
		return decode_modrm(c, mode, rex, in);
	}
	switch (op) {
	case 0x80: case 0x81: case 0x83:
		/* Group 1: Eb,Ib / Ev,Iz / Ev,Ib sign-extended; ModRM.reg picks the operation. */
		ext = decode_modrm(c, mode, rex, in);
		if (ext < 0 || !decode_imm(c, op != 0x81, in))
			return -1;
		in->op = ext;
		in->mem_is_dst = true;
		return 0;
	case 0x84: case 0x85:
		in->op = X86_OP_TEST;
		in->mem_is_dst = true;
		return decode_modrm(c, mode, rex, in);
	case 0x86: case 0x87:
		in->op = X86_OP_XCHG;
		in->mem_is_dst = true;
		return decode_modrm(c, mode, rex, in);
	case 0x88: case 0x89: case 0x8a: case 0x8b:
		in->op = X86_OP_MOV;
		in->mem_is_dst = !(op & 2);
		return decode_modrm(c, mode, rex, in);
	case 0xa0: case 0xa1: case 0xa2: case 0xa3:
		/* MOV AL/rAX <-> moffs: an address-size offset, no ModRM; bit 1 stores. */
		in->op = X86_OP_MOV;
		in->mem_is_dst = op & 2;
		in->mem.base = X86_REG_NONE;
		in->mem.index = X86_REG_NONE;
		in->mem.scale = 1;
		in->mem.seg = X86_SEG_DS;
		return fetch(c, in->addr_size, &in->mem.disp) ? 0 : -1;
	case 0xc6: case 0xc7:
	case 0xf6: case 0xf7:
		/* MOV Eb,Ib / Ev,Iz (group 11) and TEST Eb,Ib / Ev,Iz (group 3): only /0. */
		if (decode_modrm(c, mode, rex, in) != 0 || !decode_imm(c, !w, in))
			return -1;
		in->op = op < 0xf0 ? X86_OP_MOV : X86_OP_TEST;
		in->mem_is_dst = true;
		return 0;
	default:
		return -1;
	}
}

/* MOVZX/MOVSX Gv, Eb/Ew (table A-3: 0F B6, B7, BE, BF). */
static int decode_two_byte(struct cursor *c, enum cpu_mode mode, u8 rex, struct x86_insn *in)
{
	u64 op;

	if (!fetch(c, 1, &op))
		return -1;
	if (op != 0xb6 && op != 0xb7 && op != 0xbe && op != 0xbf)
		return -1;
	in->op = op & 8 ? X86_OP_MOVSX : X86_OP_MOVZX;
	in->mem_size = op & 1 ? 2 : 1;
	return decode_modrm(c, mode, rex, in);
}

int x86_decode(const u8 *bytes, u32 available, enum cpu_mode mode, struct x86_insn *out)
{
	struct cursor c = { bytes, 0, MIN(available, X86_MAX_INSN_LEN) };
	bool opsize = false, addrsize = false, rep = false;
	int seg = -1, s, ret;
	u8 rex = 0;
	u64 b;

	*out = (struct x86_insn){ 0 };
	for (;;) {
		if (!fetch(&c, 1, &b))
			return -1;
		if (mode == CPU_MODE_64 && (b & 0xf0) == 0x40) {
			rex = b;
			continue;
		}
		if (b == 0x66)
			opsize = true;
		else if (b == 0x67)
			addrsize = true;
		else if (b == 0xf0)
			out->lock = true;
		else if (b == 0xf2 || b == 0xf3)
			rep = true;
		else if ((s = seg_prefix(b)) >= 0)
			seg = s;
		else
			break;
		rex = 0; /* a REX not right before the opcode is ignored (SDM Vol. 2A 2.2.1) */
	}

	/* Sizes: SDM Vol. 1 3.6.1 and table 3-4 (64-bit mode: REX.W wins over 66). */
	if (mode == CPU_MODE_64) {
		out->op_size = rex & REX_W ? 8 : opsize ? 2 : 4;
		out->addr_size = addrsize ? 4 : 8;
	} else {
		out->op_size = (mode == CPU_MODE_32) != opsize ? 4 : 2;
		out->addr_size = (mode == CPU_MODE_32) != addrsize ? 4 : 2;
	}

	ret = b == 0x0f ? decode_two_byte(&c, mode, rex, out)
			: decode_one_byte(&c, mode, rex, b, out);
	if (ret < 0 || rep)
		return -1;
	/* Byte registers 4-7 are AH, CH, DH, BH unless there is a REX (SDM Vol. 1 3.4.1.1). */
	if (out->op_size == 1 && !out->has_imm && !rex && out->reg >= 4) {
		out->reg -= 4;
		out->reg_is_high_byte = true;
	}
	/* LOCK is #UD except on a read-modify-write of memory (SDM Vol. 2A, LOCK). */
	if (out->lock && !(out->op == X86_OP_XCHG || (out->op < X86_OP_CMP && out->mem_is_dst)))
		return -1;
	/* In 64-bit mode only FS and GS overrides count (SDM Vol. 3A 3.2.4). */
	if (seg >= 0 && (mode != CPU_MODE_64 || seg >= X86_SEG_FS))
		out->mem.seg = seg;
	out->length = c.pos;
	return 0;
}

static bool parity_even(u64 v)
{
	u8 b = v;

	b ^= b >> 4;
	b ^= b >> 2;
	b ^= b >> 1;
	return !(b & 1);
}

/*
 * The ALU operations and their status flags (SDM Vol. 2 for each instruction). CF and OF come
 * from the per-bit carry/borrow vector and the sign rules; AF is the carry out of bit 3. The
 * logic operations clear CF and OF and leave AF undefined: Kestrel clears it, as CPUs do.
 */
static u64 alu(enum x86_op op, u64 a, u64 b, u32 size, u64 *rflags)
{
	u64 mask = size_mask(size), sign = 1ull << (8 * size - 1);
	u64 cf_in = *rflags & RFLAGS_CF, carry = 0, over = 0, aux = 0, r, f = 0;

	a &= mask;
	b &= mask;
	switch (op) {
	case X86_OP_ADD:
	case X86_OP_ADC:
		r = a + b + (op == X86_OP_ADC ? cf_in : 0);
		carry = (a & b) | ((a | b) & ~r);
		over = (a ^ r) & (b ^ r);
		aux = a ^ b ^ r;
		break;
	case X86_OP_SUB:
	case X86_OP_SBB:
	case X86_OP_CMP:
		r = a - b - (op == X86_OP_SBB ? cf_in : 0);
		carry = (~a & b) | ((~a | b) & r);
		over = (a ^ b) & (a ^ r);
		aux = a ^ b ^ r;
		break;
	case X86_OP_OR:
		r = a | b;
		break;
	case X86_OP_XOR:
		r = a ^ b;
		break;
	default: /* AND, TEST */
		r = a & b;
		break;
	}
	r &= mask;
	if (carry & sign)
		f |= RFLAGS_CF;
	if (over & sign)
		f |= RFLAGS_OF;
	if (aux & 0x10)
		f |= RFLAGS_AF;
	if (!r)
		f |= RFLAGS_ZF;
	if (r & sign)
		f |= RFLAGS_SF;
	if (parity_even(r))
		f |= RFLAGS_PF;
	*rflags = (*rflags & ~RFLAGS_STATUS) | f;
	return r;
}

static u64 reg_get(const u64 *gpr, const struct x86_insn *in)
{
	u64 v = gpr[in->reg];

	return (in->reg_is_high_byte ? v >> 8 : v) & size_mask(in->op_size);
}

/*
 * 32-bit writes zero-extend (SDM Vol. 1 3.4.1.1; outside 64-bit mode the upper half is
 * undefined, so zero will do); 8- and 16-bit writes keep the rest.
 */
static void reg_set(u64 *gpr, const struct x86_insn *in, u64 v)
{
	u64 *r = &gpr[in->reg];

	if (in->reg_is_high_byte)
		*r = (*r & ~0xff00ull) | (v & 0xff) << 8;
	else if (in->op_size >= 4)
		*r = v & size_mask(in->op_size);
	else
		*r = (*r & ~size_mask(in->op_size)) | (v & size_mask(in->op_size));
}

static bool valid_size(u32 size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

int x86_emulate_mmio(const struct x86_insn *in, u64 gpr[16], u64 *rflags,
		     const struct x86_mmio_ops *ops)
{
	u64 mem, src, r;

	if (in->reg > 15 || !valid_size(in->op_size) || !valid_size(in->mem_size))
		return -1;
	if (in->op == X86_OP_MOV && in->mem_is_dst) {
		ops->write(ops->ctx, in->mem_size, in->has_imm ? in->imm : reg_get(gpr, in));
		return 0;
	}
	mem = ops->read(ops->ctx, in->mem_size) & size_mask(in->mem_size);
	src = in->has_imm ? in->imm : reg_get(gpr, in);

	switch (in->op) {
	case X86_OP_MOV:
	case X86_OP_MOVZX:
		reg_set(gpr, in, mem);
		return 0;
	case X86_OP_MOVSX:
		reg_set(gpr, in, sign_extend(mem, in->mem_size));
		return 0;
	case X86_OP_XCHG:
		ops->write(ops->ctx, in->mem_size, src);
		reg_set(gpr, in, mem);
		return 0;
	case X86_OP_TEST:
		alu(X86_OP_AND, mem, src, in->op_size, rflags);
		return 0;
	case X86_OP_ADD: case X86_OP_OR: case X86_OP_ADC: case X86_OP_SBB:
	case X86_OP_AND: case X86_OP_SUB: case X86_OP_XOR: case X86_OP_CMP:
		if (in->mem_is_dst) {
			r = alu(in->op, mem, src, in->op_size, rflags);
			if (in->op != X86_OP_CMP)
				ops->write(ops->ctx, in->mem_size, r);
		} else {
			r = alu(in->op, src, mem, in->op_size, rflags);
			if (in->op != X86_OP_CMP)
				reg_set(gpr, in, r);
		}
		return 0;
	}
	return -1;
}
