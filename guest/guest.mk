# Kestrel's test guests: one multiboot kernel per guest/tests/NAME.c, linked with the runtime in
# guest/lib/ (plus drivers/fmt.c and arch/string.c, compiled again with guest flags), as
# build/guest/NAME.elf (ELF32, what QEMU's multiboot loader and Kestrel load) next to
# build/guest/NAME.elf64 (the same with symbols and debug info, for gdb/objdump).
#
#   make guests        all of them; GUEST_ELFS lists them
#   qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 -nodefaults -display none \
#     -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
#     -kernel build/guest/cpuid.elf             (docs/test-guests.md)
#
# Included by the top-level Makefile; also usable as `make -f Makefile -f guest/guest.mk guests`.

# Do not become the default goal, wherever this file is included.
guest_saved_default_goal := $(.DEFAULT_GOAL)

BUILD   ?= build
NASM    ?= nasm
OBJCOPY ?= objcopy

GUEST_BUILD    := $(BUILD)/guest
GUEST_NAMES    := $(patsubst guest/tests/%.c,%,$(wildcard guest/tests/*.c))
GUEST_ELFS     := $(GUEST_NAMES:%=$(GUEST_BUILD)/%.elf)
GUEST_LIB_SRCS := $(wildcard guest/lib/*.c) drivers/fmt.c arch/string.c
GUEST_LIB_ASMS := $(wildcard guest/lib/*.asm)
GUEST_LIB_OBJS := $(GUEST_LIB_SRCS:%.c=$(GUEST_BUILD)/obj/%.o) \
                  $(GUEST_LIB_ASMS:%.asm=$(GUEST_BUILD)/obj/%.asm.o)
GUEST_TEST_OBJS := $(GUEST_NAMES:%=$(GUEST_BUILD)/obj/guest/tests/%.o)

# Freestanding long-mode code linked at 1 MiB (so -mcmodel=small, no PIC); no red zone
# (interrupts push onto the stack we run on), no SSE; no loop-to-memset rewriting, because the
# runtime's memset is itself such a loop.
GUEST_CFLAGS = -std=c11 -O2 -g -ffreestanding -fno-builtin -fno-pic -fno-pie -mno-red-zone \
                -mgeneral-regs-only -mcmodel=small -fno-stack-protector -fno-stack-check \
                -fno-strict-aliasing -fno-asynchronous-unwind-tables \
                -fno-tree-loop-distribute-patterns -nostdlib -static \
                -Iinclude -Iguest/lib $(or $(WARN),-Wall -Wextra -Wno-unused-parameter)
GUEST_LDFLAGS = -nostdlib -static -no-pie --build-id=none -z max-page-size=0x1000 \
                 -z noexecstack -T guest/lib/guest.ld

# The ept guest looks for Kestrel's banner, which carries the version.
$(GUEST_BUILD)/obj/guest/tests/ept.o: GUEST_EXTRA_CFLAGS = -DKESTREL_VERSION_STRING='"$(or $(VERSION),0.1.0)"'

.PHONY: guests
guests: $(GUEST_ELFS)

$(GUEST_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) $(GUEST_EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(GUEST_BUILD)/obj/%.asm.o: %.asm
	@mkdir -p $(@D)
	$(NASM) -f elf64 -g $< -o $@

$(GUEST_BUILD)/%.elf64: $(GUEST_BUILD)/obj/guest/tests/%.o $(GUEST_LIB_OBJS) guest/lib/guest.ld
	$(LD) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_LIB_OBJS)

# QEMU's multiboot loader refuses ELF64: the same segments as ELF32 (EM_386).
$(GUEST_BUILD)/%.elf: $(GUEST_BUILD)/%.elf64
	$(OBJCOPY) -O elf32-i386 --strip-debug $< $@

# Keep the in-between files of the pattern chain.
.SECONDARY: $(GUEST_ELFS:.elf=.elf64) $(GUEST_TEST_OBJS) $(GUEST_LIB_OBJS)

-include $(GUEST_LIB_OBJS:.o=.d) $(GUEST_TEST_OBJS:.o=.d)

.DEFAULT_GOAL := $(guest_saved_default_goal)
