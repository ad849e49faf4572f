; The only door between root and guest mode. Each VMCS has HOST_RSP = its vCPU's struct
; guest_regs (the first member of struct vcpu) and HOST_RIP = vmx_exit. On an exit: store the
; guest GPRs through RSP, read the TSC, move to the root exit stack, call vmx_exit_handler(v)
; and sched_next_entry(v) in C, load the GPRs back, VMRESUME. Every path but the fast one
; (docs/measuring.md) leaves C through vmx_resume() or vmx_launch() instead of returning. A
; failed entry goes to vmx_entry_failed() in C, which says why.
;
; Root mode runs with interrupts off after an exit (SDM Vol. 3C 28.5.3: RFLAGS is cleared) and
; NMI, #DF and #MC switch stacks (IST), so nothing pushes onto RSP before it is switched.

bits 64
default rel
section .note.GNU-stack noalloc noexec nowrite progbits
section .text

extern vmx_exit_handler
extern sched_next_entry
extern vmx_entry_failed
extern vmx_exit_stack_top
global vmx_exit
global vmx_resume
global vmx_launch

%define EXIT_TSC 128                   ; offsetof(struct guest_regs, exit_tsc)

; Reloading the guest GPRs from the struct guest_regs at RBX comes in two parts. The registers
; C may clobber (SysV ABI: RAX, RCX, RDX, RSI, RDI, R8-R11) and RBX, the stub's own, go last:
%macro LOAD_CLOBBERED_GPRS 0
	mov rax, [rbx + 8 * 0]
	mov rcx, [rbx + 8 * 1]
	mov rdx, [rbx + 8 * 2]
	mov rsi, [rbx + 8 * 6]
	mov rdi, [rbx + 8 * 7]
	mov r8, [rbx + 8 * 8]
	mov r9, [rbx + 8 * 9]
	mov r10, [rbx + 8 * 10]
	mov r11, [rbx + 8 * 11]
	mov rbx, [rbx + 8 * 3]
%endmacro

; RBP and R12-R15, which C preserves: after an exit that took the fast path (vmx_exit_handler()
; and sched_next_entry() both returned) they still hold the guest's values, because its
; handler can only have written RAX-RDX (exit.c). Every other entry reloads them too.
%macro LOAD_PRESERVED_GPRS 0
	mov rbp, [rbx + 8 * 5]
	mov r12, [rbx + 8 * 12]
	mov r13, [rbx + 8 * 13]
	mov r14, [rbx + 8 * 14]
	mov r15, [rbx + 8 * 15]
%endmacro

vmx_exit:                              ; RSP = &vcpu->regs
	mov [rsp + 8 * 0], rax
	mov [rsp + 8 * 1], rcx
	mov [rsp + 8 * 2], rdx
	mov [rsp + 8 * 3], rbx
	mov [rsp + 8 * 5], rbp
	mov [rsp + 8 * 6], rsi
	mov [rsp + 8 * 7], rdi
	mov [rsp + 8 * 8], r8
	mov [rsp + 8 * 9], r9
	mov [rsp + 8 * 10], r10
	mov [rsp + 8 * 11], r11
	mov [rsp + 8 * 12], r12
	mov [rsp + 8 * 13], r13
	mov [rsp + 8 * 14], r14
	mov [rsp + 8 * 15], r15
	mov rbx, rsp                       ; the vCPU, kept across both calls (callee-saved)
	mov rsp, [vmx_exit_stack_top]
	rdtsc                              ; the exit's cost is measured from here
	mov [rbx + EXIT_TSC], eax
	mov [rbx + EXIT_TSC + 4], edx
	mov rdi, rbx
	call vmx_exit_handler              ; returns only after an instruction exit (fast path)
	mov rdi, rbx
	call sched_next_entry              ; returns only to resume this vCPU at once
.resume:
	LOAD_CLOBBERED_GPRS
	vmresume
	pushfq                             ; CF: VMfailInvalid, ZF: VMfailValid
	pop rdi
	xor esi, esi
	jmp entry_failed

vmx_resume:                            ; rdi = registers of a vCPU entered before
	mov rsp, [vmx_exit_stack_top]
	mov rbx, rdi
	LOAD_PRESERVED_GPRS
	jmp vmx_exit.resume

vmx_launch:                            ; rdi = registers of a vCPU never entered
	mov rsp, [vmx_exit_stack_top]
	mov rbx, rdi
	LOAD_PRESERVED_GPRS
	LOAD_CLOBBERED_GPRS
	vmlaunch
	pushfq
	pop rdi
	mov esi, 1
entry_failed:
	call vmx_entry_failed              ; stops that guest and enters another: no return
	ud2
