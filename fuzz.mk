# Host fuzzing of Kestrel's parsers of untrusted input (tests/fuzz/): libFuzzer + ASan + UBSan
# with Debian's clang, and a plain replay of the committed corpus with gcc.
#
#   make fuzz           build every target, run each for FUZZ_SECONDS (default 60), print per
#                       target the executions, the corpus size and whether it crashed; fails if
#                       any target crashed. `make -j2 fuzz` runs two targets at once.
#   make fuzz-short     the same for 10 s per target (FUZZ_SHORT_SECONDS)
#   make fuzz-replay    no clang needed: every target linked with tests/fuzz/replay.c (gcc, ASan +
#                       UBSan) runs the committed corpus tests/fuzz/corpus/NAME/ once
#   make fuzz-NAME      one target (fuzz-config, fuzz-elf, ...) for FUZZ_SECONDS
#
# Each run works on build/fuzz/corpus/NAME/, seeded from tests/fuzz/corpus/NAME/ and kept
# between runs; new inputs never go into the committed corpus. A crash leaves its input in
# build/fuzz/crashes/NAME/ and the log in build/fuzz/logs/NAME.log. Reproduce one with
#   build/fuzz/fuzz_NAME build/fuzz/crashes/NAME/crash-...      (or build/fuzz/replay_NAME FILE)
# and, once the bug is fixed, commit the input as tests/fuzz/corpus/NAME/crash-<what>.
#
# Included by the top-level Makefile; also usable as `make -f fuzz.mk fuzz`.

# Do not become the default goal, wherever this file is included.
fuzz_saved_default_goal := $(.DEFAULT_GOAL)

BUILD              ?= build
FUZZ_BUILD         := $(BUILD)/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SHORT_SECONDS ?= 10
# Seconds one input may take before libFuzzer calls it a hang; memory limit of a run.
FUZZ_TIMEOUT       ?= 10
FUZZ_RSS_MB        ?= 2048
FUZZ_CLANG         ?= clang
FUZZ_GCC           ?= gcc

FUZZ_WARN    := -std=c11 -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer \
                $(if $(filter 1,$(WERROR)),-Werror)
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -Iinclude $(FUZZ_WARN) -DKESTREL_LIBFUZZER
REPLAY_CFLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -Iinclude $(FUZZ_WARN)

FUZZ_TARGETS := config elf linux x86_decode acpi acpi_build guest_walk

fuzz_config_SRCS     := boot/config.c drivers/fmt.c
fuzz_elf_SRCS        := guest/elf.c drivers/fmt.c
fuzz_linux_SRCS      := guest/linux_boot.c drivers/fmt.c
fuzz_x86_decode_SRCS := vmx/x86_decode.c
fuzz_acpi_SRCS       := drivers/acpi.c drivers/fmt.c
fuzz_acpi_build_SRCS := guest/acpi_tables.c drivers/acpi.c drivers/fmt.c
fuzz_guest_walk_SRCS := mm/guest_walk.c

# The largest input libFuzzer makes for each (the seeds of elf and linux are up to 64 KiB).
fuzz_config_MAXLEN     := 8192
fuzz_elf_MAXLEN        := 65536
fuzz_linux_MAXLEN      := 65536
fuzz_x86_decode_MAXLEN := 256
fuzz_acpi_MAXLEN       := 16384
fuzz_acpi_build_MAXLEN := 64
fuzz_guest_walk_MAXLEN := 8192

FUZZ_HEADERS := tests/fuzz/fuzz.h $(wildcard include/kestrel/*.h) fuzz.mk

.PHONY: fuzz fuzz-short fuzz-replay fuzz-build fuzz-check-clang $(FUZZ_TARGETS:%=fuzz-%)

fuzz-check-clang:
	@command -v $(FUZZ_CLANG) >/dev/null && \
	  test -e "$$($(FUZZ_CLANG) -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" || \
	  { echo "fuzz: needs clang with libFuzzer (Debian: clang libclang-rt-14-dev)," \
	    "which make deps installs" >&2; exit 1; }

define fuzz_rule
$(FUZZ_BUILD)/fuzz_$(1): tests/fuzz/fuzz_$(1).c $$(fuzz_$(1)_SRCS) $$(FUZZ_HEADERS) \
                         | fuzz-check-clang
	@mkdir -p $$(@D)
	$$(FUZZ_CLANG) $$(FUZZ_CFLAGS) $$< $$(fuzz_$(1)_SRCS) -o $$@

$(FUZZ_BUILD)/replay_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/replay.c $$(fuzz_$(1)_SRCS) \
                           $$(FUZZ_HEADERS)
	@mkdir -p $$(@D)
	$$(FUZZ_GCC) $$(REPLAY_CFLAGS) $$< tests/fuzz/replay.c $$(fuzz_$(1)_SRCS) -o $$@

# One bounded run; its one-line verdict goes to build/fuzz/logs/NAME.result.
fuzz-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run-target $(1) $(FUZZ_SECONDS) $$(fuzz_$(1)_MAXLEN) \
	  $(FUZZ_TIMEOUT) $(FUZZ_RSS_MB)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# Every target runs even when an earlier one crashed (-k); the summary names each verdict.
fuzz: fuzz-build
	@rm -f $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/logs/%.result)
	@$(MAKE) --no-print-directory -k $(FUZZ_TARGETS:%=fuzz-%) \
	  FUZZ_SECONDS=$(FUZZ_SECONDS) || true
	@echo "--- fuzz summary ($(FUZZ_SECONDS) s per target) ---"
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  r=$(FUZZ_BUILD)/logs/$$t.result; \
	  if [ -f $$r ]; then cat $$r; else echo "fuzz $$t: DID NOT RUN"; fi; \
	  grep -q ' OK$$' $$r 2>/dev/null || fail=1; \
	done; exit $$fail

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS)

fuzz-replay: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/replay_%)
	@start=$$(date +%s.%N); fail=0; \
	for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_BUILD)/replay_$$t tests/fuzz/corpus/$$t || \
	    { echo "FAIL fuzz-replay $$t"; fail=1; }; \
	done; \
	end=$$(date +%s.%N); \
	echo "fuzz-replay: $$(awk -v s=$$start -v e=$$end 'BEGIN {printf "%.2f", e - s}') s"; \
	exit $$fail

.DEFAULT_GOAL := $(fuzz_saved_default_goal)
