# Kestrel's Linux test guest: Debian's own kernel and a busybox initramfs, fetched with apt-get
# and never committed.
#
#   make linux-guest   build/linux/vmlinuz      Debian's linux-image-amd64 bzImage
#                      build/linux/initrd.img   gzip'd cpio (newc): /init (guest/linux/init),
#                                               /bin/busybox from busybox-static + applet links,
#                                               /etc/kestrel-expected-release, /dev /proc /sys /tmp
#                      build/linux/release      the kernel release (`uname -r`)
#
# The packages are downloaded once into build/linux/cache/ (guest/linux/fetch-deb.sh); later
# makes reuse them (rm -rf build/linux/cache to fetch the newest again). Native check, no
# hypervisor (tools/run-linux-native.sh does the same through OVMF):
#   qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 -nodefaults -display none \
#     -serial stdio -no-reboot -kernel build/linux/vmlinuz -initrd build/linux/initrd.img \
#     -append "console=ttyS0 quiet"
#
# `make test` builds them for two boot cases: tests/boot/cases/bochs-linux.case (under Kestrel)
# and bochs-linux-native.case (the same in Bochs without Kestrel, the baseline it is compared with).
#
# Included by the top-level Makefile; also usable as `make -f Makefile -f guest/linux/linux.mk`.

# Do not become the default goal, wherever this file is included.
linux_saved_default_goal := $(.DEFAULT_GOAL)

BUILD ?= build

LINUX_BUILD   := $(BUILD)/linux
LINUX_CACHE   := $(LINUX_BUILD)/cache
LINUX_ROOT    := $(LINUX_BUILD)/initramfs
LINUX_FETCH   := guest/linux/fetch-deb.sh
LINUX_BUSYBOX := $(LINUX_CACHE)/busybox/root/bin/busybox
# The busybox applets guest/linux/init runs (sh for its #! line); in the kestrel.shell mode it
# installs links for all of them.
LINUX_APPLETS := sh awk cat cttyhack date dmesg grep mount poweroff setsid sleep uname

.PHONY: linux-guest
linux-guest: $(LINUX_BUILD)/vmlinuz $(LINUX_BUILD)/initrd.img

# The versioned package linux-image-amd64 depends on; its boot/vmlinuz-RELEASE names the release.
$(LINUX_BUILD)/vmlinuz $(LINUX_BUILD)/release &: $(LINUX_FETCH)
	@mkdir -p $(LINUX_BUILD)
	@$(LINUX_FETCH) linux-image-amd64 $(LINUX_CACHE)/kernel './boot/vmlinuz-*' >/dev/null
	@set -e; \
	k=$$(ls $(LINUX_CACHE)/kernel/root/boot/vmlinuz-* 2>/dev/null | head -n 1); \
	[ -n "$$k" ] || { echo "linux.mk: the kernel package has no boot/vmlinuz-*" >&2; exit 1; }; \
	cp "$$k" $(LINUX_BUILD)/vmlinuz.tmp; \
	echo "$${k##*/vmlinuz-}" >$(LINUX_BUILD)/release; \
	mv -f $(LINUX_BUILD)/vmlinuz.tmp $(LINUX_BUILD)/vmlinuz; \
	echo "linux.mk: $(LINUX_BUILD)/vmlinuz is Linux $$(cat $(LINUX_BUILD)/release)"

$(LINUX_BUSYBOX): $(LINUX_FETCH)
	@$(LINUX_FETCH) busybox-static $(LINUX_CACHE)/busybox './bin/busybox' >/dev/null
	@touch $@

# cpio -R 0:0 --reproducible and fixed times: the same inputs give the same archive, with no
# root needed to own the files.
$(LINUX_BUILD)/initrd.img: guest/linux/init $(LINUX_BUILD)/release $(LINUX_BUSYBOX) \
			   guest/linux/linux.mk
	@command -v cpio >/dev/null || { echo "linux.mk: cpio not found (apt-get install cpio)" >&2; exit 1; }
	@set -e; \
	have=" $$($(LINUX_BUSYBOX) --list | tr '\n' ' ') "; \
	for a in $(LINUX_APPLETS); do \
		case "$$have" in *" $$a "*) ;; \
		*) echo "linux.mk: $(LINUX_BUSYBOX) has no '$$a' applet" >&2; exit 1 ;; esac; \
	done
	@rm -rf $(LINUX_ROOT)
	@mkdir -p $(LINUX_ROOT)/bin $(LINUX_ROOT)/dev $(LINUX_ROOT)/etc $(LINUX_ROOT)/proc \
		  $(LINUX_ROOT)/sys $(LINUX_ROOT)/tmp
	@cp $(LINUX_BUSYBOX) $(LINUX_ROOT)/bin/busybox
	@for a in $(LINUX_APPLETS); do ln -s busybox $(LINUX_ROOT)/bin/$$a; done
	@cp guest/linux/init $(LINUX_ROOT)/init
	@cp $(LINUX_BUILD)/release $(LINUX_ROOT)/etc/kestrel-expected-release
	@chmod 755 $(LINUX_ROOT)/init $(LINUX_ROOT)/bin/busybox
	@chmod 1777 $(LINUX_ROOT)/tmp
	@find $(LINUX_ROOT) -exec touch -h -d @0 {} +
	@cd $(LINUX_ROOT) && find . -mindepth 1 | LC_ALL=C sort | \
		cpio --quiet -o -H newc -R 0:0 --reproducible -O ../initrd.cpio
	@gzip -9n <$(LINUX_BUILD)/initrd.cpio >$@.tmp
	@rm -f $(LINUX_BUILD)/initrd.cpio
	@mv -f $@.tmp $@
	@echo "linux.mk: $@ ($$(stat -c %s $@) bytes) for Linux $$(cat $(LINUX_BUILD)/release)"

.DEFAULT_GOAL := $(linux_saved_default_goal)
