; The only door between root and guest mode. HOST_RSP points at a slot holding the current
; vCPU's struct guest_regs pointer; HOST_RIP is vmx_exit. On an exit: save the guest GPRs into
; that struct, call vmx_exit_handler(exit_tsc) in C, load the GPRs of the vCPU it chose (its
; pointer is in the slot again), VMRESUME or VMLAUNCH, and report a failed entry to C.

bits 64
default rel
section .note.GNU-stack noalloc noexec nowrite progbits
section .text

extern vmx_exit_handler
extern vmx_entry_failed
global vmx_exit
global vmx_enter

%define REG(n) [rax + 8 * (n)]

vmx_exit:
	push rax
	mov rax, [rsp + 8]              ; &current->regs
	mov REG(1), rcx
	mov REG(2), rdx
	mov REG(3), rbx
	mov REG(5), rbp
	mov REG(6), rsi
	mov REG(7), rdi
	mov REG(8), r8
	mov REG(9), r9
	mov REG(10), r10
	mov REG(11), r11
	mov REG(12), r12
	mov REG(13), r13
	mov REG(14), r14
	mov REG(15), r15
	pop qword REG(0)
	rdtsc                           ; exit cost is measured from here
	shl rdx, 32
	or rax, rdx
	mov rdi, rax
	call vmx_exit_handler           ; eax: 1 = VMLAUNCH, 0 = VMRESUME
	; fall through

; vmx_enter(slot, launch): also the first entry, with rsp set to the HOST_RSP slot.
vmx_enter_path:
	test eax, eax                   ; the MOVs below keep the flags for the jnz
	mov rax, [rsp]
	mov rcx, REG(1)
	mov rdx, REG(2)
	mov rbx, REG(3)
	mov rbp, REG(5)
	mov rsi, REG(6)
	mov rdi, REG(7)
	mov r8, REG(8)
	mov r9, REG(9)
	mov r10, REG(10)
	mov r11, REG(11)
	mov r12, REG(12)
	mov r13, REG(13)
	mov r14, REG(14)
	mov r15, REG(15)
	mov rax, REG(0)
	jnz .launch
	vmresume
	jmp .failed
.launch:
	vmlaunch
.failed:
	pushfq                          ; CF: VMfailInvalid, ZF: VMfailValid
	pop rdi
	call vmx_entry_failed           ; stops that guest; eax as from vmx_exit_handler
	jmp vmx_enter_path

vmx_enter:                          ; rdi = HOST_RSP slot, esi = launch
	mov rsp, rdi
	mov eax, esi
	jmp vmx_enter_path
