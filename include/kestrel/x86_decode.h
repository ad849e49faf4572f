/*
 * Decoding and emulating the one guest instruction that touched an MMIO page (an EPT violation
 * on the local APIC, IOAPIC, HPET or a virtio-style device). Pure: the caller fetches up to 15
 * bytes at the guest RIP, takes the guest-physical address from the exit qualification and
 * routes the access; this file only knows instructions and registers.
 *
 * Supported (SDM Vol. 2, Appendix A), always with a memory operand (ModRM.mod != 3):
 *   MOV 88-8B, A0-A3 (moffs), C6/C7 /0; MOVZX 0F B6/B7; MOVSX 0F BE/BF;
 *   ADD OR ADC SBB AND SUB XOR CMP 00-3B (ModRM forms) and 80/81/83; TEST 84/85, F6/F7 /0;
 *   XCHG 86/87.
 * Prefixes 66, 67, REX (64-bit mode), segment overrides, and LOCK on the read-modify-write forms.
 */
#ifndef KESTREL_X86_DECODE_H
#define KESTREL_X86_DECODE_H

#include <kestrel/types.h>

#define X86_MAX_INSN_LEN 15	/* SDM Vol. 2A 2.3.11: longer is #GP */
#define X86_REG_NONE 0xff	/* no base or no index register */

/*
 * What decoding depends on: the default operand and address size. Real mode and 16-bit
 * protected mode decode alike (both take the default from the cached CS.D), so they share one.
 */
enum cpu_mode {
	CPU_MODE_16,	/* real mode, virtual-8086, or CS.D = 0 */
	CPU_MODE_32,	/* CS.D = 1, including compatibility mode */
	CPU_MODE_64,	/* IA32_EFER.LMA = 1 and CS.L = 1 */
};

/* The mode from guest IA32_EFER.LMA and the VMCS guest CS access rights (SDM Vol. 3C 24.4.1). */
enum cpu_mode x86_cpu_mode(bool efer_lma, u32 cs_access_rights);

enum x86_op {
	/* The eight ALU operations, in the order of opcode bits 5:3 (Appendix A, group 1). */
	X86_OP_ADD,
	X86_OP_OR,
	X86_OP_ADC,
	X86_OP_SBB,
	X86_OP_AND,
	X86_OP_SUB,
	X86_OP_XOR,
	X86_OP_CMP,
	X86_OP_MOV,
	X86_OP_MOVZX,
	X86_OP_MOVSX,
	X86_OP_TEST,
	X86_OP_XCHG,
};

enum x86_seg { X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS, X86_SEG_GS };

/* The memory operand: seg:[base + index * scale + disp], wrapped to addr_size. */
struct x86_mem {
	u8 base;		/* GPR number or X86_REG_NONE */
	u8 index;		/* GPR number or X86_REG_NONE */
	u8 scale;		/* 1, 2, 4 or 8 */
	u8 seg;			/* enum x86_seg: the override, else DS (SS: rBP/rSP base) */
	bool rip_relative;	/* disp is from the next instruction's rIP */
	u64 disp;		/* sign-extended; a moffs offset is zero-extended */
};

struct x86_insn {
	enum x86_op op;
	u8 length;		/* bytes, prefixes included: the caller advances RIP by this */
	u8 op_size;		/* operation size in bytes (MOVZX/MOVSX: the destination's) */
	u8 mem_size;		/* bytes accessed at the memory operand */
	u8 addr_size;		/* 2, 4 or 8 */
	u8 reg;			/* the register operand (unless has_imm), GPR number 0-15 */
	bool reg_is_high_byte;	/* bits 15:8 of GPR reg (AH, CH, DH, BH: no REX) */
	bool has_imm;		/* the source is imm rather than reg */
	bool mem_is_dst;	/* memory is the first (destination) operand, else reg is */
	bool lock;
	u64 imm;		/* sign-extended to op_size, zero above it */
	struct x86_mem mem;
};

/*
 * Decode the instruction at bytes[0..available). Returns 0, or -1 when it is not one of the
 * supported forms, has no memory operand, is longer than 15 bytes or than `available`, has
 * LOCK on a form that cannot take it (#UD on hardware), or has REP/REPNE.
 */
int x86_decode(const u8 *bytes, u32 available, enum cpu_mode mode, struct x86_insn *out);

/* The device behind the memory operand; read values above `size` bytes are ignored. */
struct x86_mmio_ops {
	u64 (*read)(void *ctx, u32 size);
	void (*write)(void *ctx, u32 size, u64 value);
	void *ctx;
};

/*
 * Perform a decoded instruction whose memory operand is the device: at most one read then one
 * write of mem_size bytes. gpr[] is in register-number order (rax, rcx, rdx, rbx, rsp, rbp,
 * rsi, rdi, r8-r15); the guest RSP lives in the VMCS, so the caller copies it into gpr[4]
 * before and back after. Only CF, PF, AF, ZF, SF and OF of *rflags change. RIP is the
 * caller's (add insn->length). Returns 0, or -1 for an insn x86_decode did not produce.
 */
int x86_emulate_mmio(const struct x86_insn *insn, u64 gpr[16], u64 *rflags,
		     const struct x86_mmio_ops *ops);

#endif
