; Exception entry stubs: one 16-byte stub per vector pushes a uniform frame
; (error code or 0, vector) and joins a common path that saves the GPRs and calls
; exception_dispatch(frame) in C. Root-mode exceptions are bugs: it never returns.

bits 64
default rel
section .note.GNU-stack noalloc noexec nowrite progbits
section .text

extern exception_dispatch
global isr_stubs

; Vectors whose delivery pushes an error code (SDM Vol. 3A 6.15).
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

align 16
isr_stubs:
%assign v 0
%rep 256
	align 16
%if HAS_ERROR(v) == 0
	push qword 0
%endif
	push qword v
	jmp isr_common
%assign v v + 1
%endrep

isr_common:
	push r15
	push r14
	push r13
	push r12
	push r11
	push r10
	push r9
	push r8
	push rbp
	push rdi
	push rsi
	push rdx
	push rcx
	push rbx
	push rax
	cld
	mov rdi, rsp            ; 22 qwords pushed since the CPU aligned RSP: still 16-aligned
	call exception_dispatch
	ud2
