# Kestrel: a bare-metal VT-x hypervisor booted as a UEFI application.
#   make          build/kestrel.efi
#   make image    build/kestrel.img (GPT disk, EFI system partition, kestrel.cfg)
#   make run      boot it on the best host here (QEMU/KVM with nested VT-x, else Bochs)
#   make test     unit tests + boot tests under Bochs and QEMU; ends with "N passed, N failed"
#   make deps     install the Debian packages the above need

VERSION    := 0.1.0
BUILD      := build
CONFIG     ?= kestrel.cfg
HOST       ?=

CC         := gcc
LD         := ld
NASM       := nasm
OBJCOPY    := objcopy
EFI_INC    := /usr/include/efi
EFI_LIB    := /usr/lib
EFI_CRT0   := $(EFI_LIB)/crt0-efi-x86_64.o

# -Werror in CI (CI=true) and wherever WERROR=1 is given.
WERROR     ?= $(if $(filter true,$(CI)),1,0)
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
              $(if $(filter 1,$(WERROR)),-Werror)

# Root mode: freestanding, no red zone (interrupts push onto the stack we run on), no SSE
# (the hypervisor never saves guest vector state on exits), position-independent for gnu-efi.
CFLAGS     := -std=c11 -O2 -g -ffreestanding -fno-stack-protector -fno-stack-check \
              -mno-red-zone -mgeneral-regs-only -fpic -fshort-wchar -fno-strict-aliasing \
              -fno-builtin -maccumulate-outgoing-args -DGNU_EFI_USE_MS_ABI \
              -Iinclude -isystem $(EFI_INC) -isystem $(EFI_INC)/x86_64 $(WARN)
NASMFLAGS  := -f elf64 -g
LDFLAGS    := -nostdlib -znocombreloc -T linker.ld -shared -Bsymbolic -L$(EFI_LIB)

SRCS       := $(wildcard boot/*.c arch/*.c vmx/*.c mm/*.c drivers/*.c guest/*.c)
ASMS       := $(wildcard boot/*.asm arch/*.asm vmx/*.asm)
OBJS       := $(SRCS:%.c=$(BUILD)/obj/%.o) $(ASMS:%.asm=$(BUILD)/obj/%.asm.o)
DEPS       := $(OBJS:.o=.d)

BUILD_ID   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

.PHONY: all image run test unit deps clean bench FORCE
all: $(BUILD)/kestrel.efi

$(BUILD)/version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define KESTREL_VERSION "%s"\n#define KESTREL_BUILD_ID "%s"\n' '$(VERSION)' '$(BUILD_ID)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/obj/boot/efi_main.o: $(BUILD)/version.h
$(BUILD)/obj/boot/efi_main.o: CFLAGS += -I$(BUILD)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.asm.o: %.asm
	@mkdir -p $(@D)
	$(NASM) $(NASMFLAGS) $< -o $@

$(BUILD)/kestrel.so: $(OBJS) linker.ld
	$(LD) $(LDFLAGS) $(EFI_CRT0) $(OBJS) -o $@ -lgnuefi

$(BUILD)/kestrel.efi: $(BUILD)/kestrel.so
	$(OBJCOPY) -j .text -j .rodata -j .sdata -j .data -j .dynamic -j .dynsym -j .rel \
	  -j .rela -j .reloc --target efi-app-x86_64 --subsystem=10 $< $@

# The ESP gets every file CONFIG names on its kernel/initrd lines, looked for in CONFIG's
# directory, $(BUILD)/linux/, $(BUILD)/guest/ (tools/mkimage.sh); the ones this Makefile builds
# (linux-guest, guests) are prerequisites, added after the includes below.
IMAGE_FILES := $(shell sed -nE 's/^[[:space:]]*(kernel|initrd)[[:space:]]*=[[:space:]]*([^[:space:]]+)[[:space:]]*$$/\2/p' \
                 $(CONFIG) 2>/dev/null | tr -d '\r' | sort -u)
image: $(BUILD)/kestrel.img
$(BUILD)/kestrel.img: $(BUILD)/kestrel.efi $(CONFIG) tools/mkimage.sh FORCE
	BUILD=$(BUILD) tools/mkimage.sh $@ $(BUILD)/kestrel.efi $(CONFIG)

# --- host unit tests (cmocka): pure-logic sources linked directly ---------------------------
HOST_CFLAGS := -std=c11 -O1 -g -Iinclude -Wall -Wextra -Wno-unused-parameter -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
               $(if $(filter 1,$(WERROR)),-Werror)
UNIT_TESTS  := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
unit_config_SRCS   := boot/config.c drivers/fmt.c
unit_fmt_SRCS      := drivers/fmt.c
unit_pmm_SRCS      := mm/pmm.c mm/memmap.c
unit_paging_SRCS   := mm/paging.c
unit_ept_SRCS      := mm/ept.c mm/paging.c
unit_elf_SRCS      := guest/elf.c drivers/fmt.c
unit_vmx_caps_SRCS := vmx/vmx_caps.c drivers/fmt.c
unit_acpi_SRCS     := drivers/acpi.c drivers/fmt.c
unit_vdev_SRCS     := guest/vdev.c
unit_pic8259_SRCS  := guest/pic8259.c guest/vdev.c
unit_pit8254_SRCS  := guest/pit8254.c guest/vdev.c
unit_uart16550_SRCS := guest/uart16550.c guest/vdev.c
unit_acpi_pm_SRCS  := guest/acpi_pm.c guest/vdev.c
unit_acpi_tables_SRCS := guest/acpi_tables.c guest/acpi_pm.c guest/pci_host.c guest/vdev.c \
                         drivers/acpi.c drivers/fmt.c
unit_rtc_cmos_SRCS := guest/rtc_cmos.c guest/vdev.c
unit_pci_host_SRCS := guest/pci_host.c guest/vdev.c
unit_legacy_ports_SRCS := guest/legacy_ports.c guest/vdev.c
unit_linux_boot_SRCS := guest/linux_boot.c drivers/fmt.c
unit_lapic_SRCS    := guest/lapic.c guest/vdev.c
unit_ioapic_SRCS   := guest/ioapic.c guest/lapic.c guest/vdev.c
unit_x86_decode_SRCS := vmx/x86_decode.c
unit_cpuid_policy_SRCS := vmx/cpuid_policy.c
unit_msr_policy_SRCS := vmx/msr_policy.c
unit_vmx_controls_SRCS := vmx/vmx_caps.c drivers/fmt.c
unit_guest_walk_SRCS := mm/guest_walk.c
unit_exit_table_SRCS := vmx/exit.c tests/unit/exit_stubs.c
unit_exit_stats_SRCS := vmx/exit_stats.c vmx/exit.c tests/unit/exit_stubs.c drivers/fmt.c

define unit_rule
$(BUILD)/unit/test_$(1): tests/unit/test_$(1).c $$(unit_$(1)_SRCS) $$(wildcard include/kestrel/*.h tests/unit/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$(HOST_CFLAGS) $$< $$(unit_$(1)_SRCS) -o $$@ -lcmocka
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

unit: $(UNIT_TESTS:%=$(BUILD)/unit/test_%)
	@for t in $^; do $$t || exit 1; done

# --- the two commands -----------------------------------------------------------------------
deps:
	@tools/deps.sh

test: deps
	@$(MAKE) --no-print-directory all guests linux-guest $(UNIT_TESTS:%=$(BUILD)/unit/test_%)
	@tests/run-tests

run: deps
	@$(MAKE) --no-print-directory image
	@tools/run.sh $(BUILD)/kestrel.img $(HOST)

clean:
	rm -rf $(BUILD)

include guest/guest.mk
include guest/linux/linux.mk
include bench.mk
include fuzz.mk

# make image: build what CONFIG names, unless a file of that name sits next to CONFIG.
$(BUILD)/kestrel.img: $(foreach f,$(IMAGE_FILES),$(if $(wildcard $(dir $(CONFIG))$(f)),,\
	$(filter $(LINUX_BUILD)/$(f) $(GUEST_BUILD)/$(f),$(LINUX_BUILD)/vmlinuz $(LINUX_BUILD)/initrd.img $(GUEST_ELFS))))

-include $(DEPS)
