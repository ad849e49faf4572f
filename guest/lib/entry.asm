; Kestrel test guests: the multiboot (v1) header, the 32-bit entry that switches to long mode,
; the GDT, the 256 interrupt stubs, the ring-3 call/return path and a SYSCALL target.
;
; Entry state (multiboot v1): 32-bit protected mode, paging off, flat CS/DS/ES/SS, EAX =
; 0x2BADB002, EBX = physical address of the multiboot info. We identity-map the first 4 GiB with
; 2 MiB pages (PAE, U/S=1 everywhere so ring 3 can run the same image), set EFER.LME/SCE (+NXE
; when the CPU has it), turn paging on, load our GDT, far-jump to 64-bit code and call
; guest_start(magic, mbi) on our own stack.

bits 32
default abs

MB_MAGIC    equ 0x1BADB002
MB_FLAGS    equ 0x00000003          ; bit 0: page-align modules, bit 1: memory information
EFER_MSR    equ 0xC0000080
PTE_PWU     equ 0x7                 ; present, writable, user
PDE_2M      equ 0x87                ; present, writable, user, 2 MiB page
KERNEL_CS   equ 0x08
KERNEL_DS   equ 0x10
USER_DS     equ 0x23
USER_CS     equ 0x2b
STACK_SIZE  equ 65536

extern guest_start
extern guest_trap
extern __bss_start
extern __bss_end

section .note.GNU-stack noalloc noexec nowrite progbits

; --- the multiboot header: first thing in .text, so within the first 8 KiB of the file -------
section .multiboot progbits alloc noexec nowrite align=4
	dd MB_MAGIC
	dd MB_FLAGS
	dd -(MB_MAGIC + MB_FLAGS)

; --- 32-bit entry ----------------------------------------------------------------------------
section .text.entry progbits alloc exec nowrite align=16
global _start
_start:
	cli
	cld
	mov [guest_boot_magic], eax
	mov [guest_boot_mbi], ebx

	; Zero .bss ourselves rather than trust every loader to (the page tables and stacks live there).
	mov edi, __bss_start
	mov ecx, __bss_end
	sub ecx, edi
	shr ecx, 2
	xor eax, eax
	rep stosd

	; Long mode is required; NX is used when present.
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_long_mode
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 29
	jz .no_long_mode
	mov [ext_edx], edx

	; PD: 2048 entries (4 tables back to back), 2 MiB each, identity from 0.
	mov edi, guest_pd
	mov eax, PDE_2M
	xor ecx, ecx
.pd:
	mov [edi + ecx * 8], eax        ; the high half stays 0 (below 4 GiB, no NX)
	add eax, 0x200000
	inc ecx
	cmp ecx, 2048
	jne .pd

	; PDPT: 4 entries, one per GiB.
	mov eax, guest_pd + PTE_PWU
	mov [guest_pdpt + 0], eax
	add eax, 0x1000
	mov [guest_pdpt + 8], eax
	add eax, 0x1000
	mov [guest_pdpt + 16], eax
	add eax, 0x1000
	mov [guest_pdpt + 24], eax

	; PML4: one entry.
	mov dword [guest_pml4], guest_pdpt + PTE_PWU

	mov eax, cr4
	or eax, 1 << 5                  ; PAE
	mov cr4, eax
	mov eax, guest_pml4
	mov cr3, eax

	mov ecx, EFER_MSR
	rdmsr
	or eax, (1 << 8) | (1 << 0)     ; LME, SCE
	test dword [ext_edx], 1 << 20
	jz .no_nx
	or eax, 1 << 11                 ; NXE
.no_nx:
	wrmsr

	mov eax, cr0
	or eax, (1 << 31) | (1 << 16) | (1 << 0)   ; PG, WP, PE
	mov cr0, eax                    ; now in compatibility mode (IA-32e, our CS still 32-bit)

	lgdt [gdt_ptr]
	jmp KERNEL_CS:long_mode

.no_long_mode:
	; Say why on COM1 (polled, no init: the loader or the UART's reset state is good enough).
	mov esi, msg_no_lm
.putc:
	mov al, [esi]
	test al, al
	jz .halt
	mov dx, 0x3fd
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	mov dx, 0x3f8
	mov al, [esi]
	out dx, al
	inc esi
	jmp .putc
.halt:
	mov al, 1                       ; natively: QEMU isa-debug-exit, rc 3
	out 0xf4, al
	cli
	hlt
	jmp .halt

bits 64
default rel
long_mode:
	mov ax, KERNEL_DS
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor eax, eax
	mov fs, ax
	mov gs, ax
	lgdt [gdt_ptr]                  ; again, now with a 64-bit base (same table)
	mov rsp, guest_stack + STACK_SIZE
	xor ebp, ebp
	mov edi, [guest_boot_magic]
	mov esi, [guest_boot_mbi]
	call guest_start
.halt:
	cli
	hlt
	jmp .halt

; --- interrupt stubs: uniform frame (error code or 0, vector), then isr_common ---------------
section .text

%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

align 16
global guest_isr_stubs
guest_isr_stubs:                    ; 256 stubs of 16 bytes: vector v at guest_isr_stubs + 16 * v
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
	push rax
	push rbx
	push rcx
	push rdx
	push rsi
	push rdi
	push rbp
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	cld
	mov rdi, rsp                    ; struct trap_frame *
	mov rbx, rsp
	and rsp, -16
	call guest_trap                 ; may change frame->rip (extable fixups)
	mov rsp, rbx
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rbp
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16                     ; vector, error code
	iretq

; --- ring 3 ----------------------------------------------------------------------------------
; u64 guest_user_call(u64 (*fn)(u64), u64 arg, void *user_stack_top)
; IRETQ to fn(arg) at CPL 3; the user side returns with INT 0x80 (a DPL-3 gate to
; guest_user_return), which switches back to the kernel stack saved here.
global guest_user_call
guest_user_call:
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	pushfq
	mov [user_saved_rsp], rsp
	mov rax, rdi                    ; fn
	mov rdi, rsi                    ; its argument
	and rdx, -16
	push qword USER_DS              ; SS
	push rdx                        ; RSP
	push qword [rsp + 16]           ; RFLAGS: the caller's (the pushfq above)
	push qword USER_CS              ; CS
	lea rcx, [user_trampoline]
	push rcx                        ; RIP
	iretq

user_trampoline:                    ; CPL 3, RSP 16-aligned
	call rax
	mov rdi, rax
	int 0x80
	ud2                             ; not reached

global guest_user_return
guest_user_return:                  ; vector 0x80 (interrupt gate, DPL 3): CPL 0 on TSS.RSP0
	mov rax, rdi
	mov rsp, [user_saved_rsp]
	mov cx, KERNEL_DS
	mov ss, cx
	mov ds, cx
	mov es, cx
	popfq                           ; the caller's RFLAGS (IF included)
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	ret

; --- SYSCALL target: count and return at once (stays on the user stack; SFMASK should clear IF)
global guest_syscall_entry
guest_syscall_entry:
	inc qword [guest_syscall_count]
	o64 sysret

; --- data ------------------------------------------------------------------------------------
section .rodata
msg_no_lm: db "guest: this CPU has no long mode (CPUID 0x80000001:EDX[29])", 10, 0

section .data
align 16
global guest_gdt
guest_gdt:
	dq 0                            ; 0x00 null
	dq 0x00AF9B000000FFFF           ; 0x08 ring 0 code, 64-bit
	dq 0x00CF93000000FFFF           ; 0x10 ring 0 data
	dq 0x00CFFB000000FFFF           ; 0x18 ring 3 code, 32-bit (SYSRET base, unused)
	dq 0x00CFF3000000FFFF           ; 0x20 ring 3 data
	dq 0x00AFFB000000FFFF           ; 0x28 ring 3 code, 64-bit
	dq 0, 0                         ; 0x30 64-bit TSS (filled in by guest_trap_init)
guest_gdt_end:

align 8
	dw 0, 0, 0                      ; so the base below is 8-aligned
gdt_ptr:
	dw guest_gdt_end - guest_gdt - 1
	dq guest_gdt

global guest_boot_magic, guest_boot_mbi, guest_syscall_count
align 8
guest_boot_magic: dd 0
guest_boot_mbi: dd 0
ext_edx: dd 0
align 8
guest_syscall_count: dq 0
user_saved_rsp: dq 0

section .bss
align 4096
global guest_pml4, guest_pdpt, guest_pd
guest_pml4: resb 4096
guest_pdpt: resb 4096
guest_pd: resb 4 * 4096             ; 2048 PDEs covering 0..4 GiB
align 16
guest_stack: resb STACK_SIZE
