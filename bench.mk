# Exit-cost measurement (docs/measuring.md): the bench guest and `make bench`.
#
#   make bench             deps, kestrel.efi and the bench guest; boots the guest under Kestrel
#                          in Bochs and natively (Bochs through GRUB, or QEMU TCG), then writes
#                          build/bench/exit-costs.{json,csv,png} and prints the table
#   make bench-guest       only build/guest/bench.elf (ELF32, multiboot; .elf64 with symbols)
#   make bench BENCH_NATIVE=qemu    the native column from QEMU TCG instead of Bochs
#   make bench BENCH_HOST=kvm       Kestrel nested under QEMU/KVM (a VT-x host) instead of Bochs
#
# Included by the top-level Makefile after guest/guest.mk, whose variables and objects (the
# runtime in guest/lib/, GUEST_CFLAGS, GUEST_LDFLAGS) it reuses.

bench_saved_default_goal := $(.DEFAULT_GOAL)

BENCH_NATIVE ?= bochs
BENCH_HOST   ?= bochs
BENCH_ELF    := $(GUEST_BUILD)/bench.elf
BENCH_OBJ    := $(GUEST_BUILD)/obj/guest/bench/bench.o

.PHONY: bench bench-guest bench-deps
bench-guest: $(BENCH_ELF)

# An explicit rule: guest.mk's pattern rule links guest/tests/NAME.c objects only.
$(GUEST_BUILD)/bench.elf64: $(BENCH_OBJ) $(GUEST_LIB_OBJS) guest/lib/guest.ld
	$(LD) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_LIB_OBJS)

.SECONDARY: $(GUEST_BUILD)/bench.elf64 $(BENCH_OBJ)
-include $(BENCH_OBJ:.o=.d)

# make bench needs matplotlib (the chart) and Debian's GRUB (the native Bochs baseline boots the
# multiboot bench guest through it).
bench-deps:
	@tools/deps.sh python3 python3-matplotlib grub-efi-amd64-bin grub-common

bench: deps bench-deps
	@$(MAKE) --no-print-directory all bench-guest
	@BENCH_NATIVE=$(BENCH_NATIVE) BENCH_HOST=$(BENCH_HOST) tools/bench/bench.sh

.DEFAULT_GOAL := $(bench_saved_default_goal)
