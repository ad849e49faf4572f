/*
 * The UEFI loader: the only code in Kestrel that calls the firmware. It reads kestrel.cfg and
 * the files it names from the boot volume, captures what the core needs (memory map, ACPI RSDP,
 * framebuffer), reserves the hypervisor's memory, leaves boot services and hands one
 * struct boot_info to kestrel_main().
 */
#include <efi.h>

#include <kestrel/boot_info.h>
#include <kestrel/cpu.h>
#include <kestrel/log.h>
#include <kestrel/power.h>
#include <kestrel/serial.h>
#include <kestrel/string.h>
#include <kestrel/vmx_caps.h>

#include "version.h"

#define CONFIG_FILE "kestrel.cfg"
#define CONFIG_FILE_MAX MiB(1)
#define HARDWARE_ERROR_PAUSE_US 10000000 /* let a user read why before the firmware moves on */
#define EBS_MAX_ATTEMPTS 8
#define MAP_SLACK_DESCRIPTORS 64 /* room for the map to grow between sizing it and EBS */
#define UEFI_MEMORY_UART_SUBTYPE 14 /* MSG_UART_DP (UEFI 2.10 section 10.3.4.8) */

static EFI_SYSTEM_TABLE *st;
static EFI_BOOT_SERVICES *bs;
static struct boot_info boot_info; /* in the image's data: never handed out, survives EBS */

static void efi_console_sink(const char *text, size_t len)
{
	CHAR16 buf[130];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			buf[n++] = L'\r';
		buf[n++] = (CHAR16)(u8)text[i];
		if (n >= 128 || i + 1 == len) {
			buf[n] = 0;
			st->ConOut->OutputString(st->ConOut, buf);
			n = 0;
		}
	}
}

/*
 * Does the firmware's console already go to a serial port? Then ConOut alone reaches both the
 * screen and COM1, and writing COM1 directly as well would print every line twice. The ConOut
 * variable holds the console device paths; a UART node in one of them answers it.
 */
static bool conout_has_uart(void)
{
	static u8 paths[4096];
	EFI_GUID global = EFI_GLOBAL_VARIABLE;
	UINTN size = sizeof(paths);

	if (EFI_ERROR(st->RuntimeServices->GetVariable(L"ConOut", &global, NULL, &size, paths)))
		return false;
	for (UINTN off = 0; off + 4 <= size;) {
		u8 type = paths[off], subtype = paths[off + 1];
		u16 len = (u16)(paths[off + 2] | paths[off + 3] << 8);

		if (type == MESSAGING_DEVICE_PATH && subtype == UEFI_MEMORY_UART_SUBTYPE)
			return true;
		if (len < 4)
			break;
		off += len;
	}
	return false;
}

static const char *efi_status_name(EFI_STATUS s)
{
	static const char *const names[] = {
		[1] = "load error", [2] = "invalid parameter", [3] = "unsupported",
		[4] = "bad buffer size", [5] = "buffer too small", [6] = "not ready",
		[7] = "device error", [8] = "write protected", [9] = "out of resources",
		[10] = "volume corrupted", [11] = "volume full", [12] = "no media",
		[13] = "media changed", [14] = "not found", [15] = "access denied",
	};
	UINTN code = s & ~EFI_ERROR_MASK;

	if (code < ARRAY_SIZE(names) && names[code])
		return names[code];
	return "firmware error";
}

static EFI_FILE_HANDLE open_boot_volume(EFI_HANDLE image)
{
	EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
	EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
	EFI_LOADED_IMAGE *li;
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_FILE_HANDLE root;

	if (EFI_ERROR(bs->HandleProtocol(image, &loaded_image_guid, (void **)&li)))
		return NULL;
	boot_info.image_base = (u64)li->ImageBase;
	boot_info.image_size = li->ImageSize;
	if (EFI_ERROR(bs->HandleProtocol(li->DeviceHandle, &fs_guid, (void **)&fs)))
		return NULL;
	if (EFI_ERROR(fs->OpenVolume(fs, &root)))
		return NULL;
	return root;
}

/* Read a whole file from the boot volume into fresh pages. `max` bounds its size. */
static EFI_STATUS read_file(EFI_FILE_HANDLE root, const char *name, u64 max, u64 *phys, u64 *size)
{
	static u64 info_buf[(sizeof(EFI_FILE_INFO) + 1024) / 8];
	EFI_GUID info_guid = EFI_FILE_INFO_ID;
	CHAR16 path[CONFIG_PATH_MAX + 1];
	EFI_FILE_HANDLE fh;
	UINTN info_size = sizeof(info_buf);
	EFI_PHYSICAL_ADDRESS addr;
	EFI_STATUS status;
	size_t i;

	path[0] = L'\\';
	for (i = 0; name[i] && i < CONFIG_PATH_MAX - 1; i++)
		path[i + 1] = name[i] == '/' ? L'\\' : (CHAR16)(u8)name[i];
	path[i + 1] = 0;

	status = root->Open(root, &fh, path, EFI_FILE_MODE_READ, 0);
	if (EFI_ERROR(status))
		return status;
	status = fh->GetInfo(fh, &info_guid, &info_size, info_buf);
	if (EFI_ERROR(status))
		goto out;
	*size = ((EFI_FILE_INFO *)info_buf)->FileSize;
	if (*size > max) {
		status = EFI_BAD_BUFFER_SIZE;
		goto out;
	}
	status = bs->AllocatePages(AllocateAnyPages, EfiLoaderData,
				   ALIGN_UP(*size + 1, PAGE_SIZE) / PAGE_SIZE, &addr);
	if (EFI_ERROR(status))
		goto out;
	for (u64 done = 0; done < *size;) {
		UINTN chunk = *size - done;

		status = fh->Read(fh, &chunk, (u8 *)addr + done);
		if (EFI_ERROR(status))
			goto out;
		if (chunk == 0) {
			status = EFI_VOLUME_CORRUPTED; /* shorter than its directory entry says */
			goto out;
		}
		done += chunk;
	}
	((u8 *)addr)[*size] = 0;
	*phys = addr;
out:
	fh->Close(fh);
	return status;
}

/*
 * A boot that cannot go on. Under a test harness the run ends with `code` so the harness reads
 * it; on hardware the firmware gets control back (after a pause to read the message) so its boot
 * manager can try the next entry.
 */
static EFI_STATUS fail_boot(enum kestrel_exit code, EFI_STATUS status)
{
	if (boot_info.config.harness != HARNESS_NONE)
		power_off(code);
	log_err("returning to the firmware in %u seconds", HARDWARE_ERROR_PAUSE_US / 1000000);
	bs->Stall(HARDWARE_ERROR_PAUSE_US);
	return status;
}

static EFI_STATUS load_config(EFI_FILE_HANDLE root)
{
	struct config *cfg = &boot_info.config;
	char err[CONFIG_ERR_MAX];
	u64 phys, size;
	EFI_STATUS status;

	config_init(cfg);
	status = read_file(root, CONFIG_FILE, CONFIG_FILE_MAX, &phys, &size);
	if (status == EFI_NOT_FOUND) {
		log_warn("no %s on the boot volume: using defaults", CONFIG_FILE);
		return EFI_SUCCESS;
	}
	if (EFI_ERROR(status)) {
		log_err("cannot read %s: %s", CONFIG_FILE, efi_status_name(status));
		return fail_boot(KEXIT_BAD_CONFIG, status);
	}
	if (config_parse((const char *)phys, size, CONFIG_FILE, cfg, err, sizeof(err)) != 0) {
		log_err("%s", err);
		power_init(cfg->harness, 0);
		return fail_boot(KEXIT_BAD_CONFIG, EFI_LOAD_ERROR);
	}
	bs->FreePages(phys, ALIGN_UP(size + 1, PAGE_SIZE) / PAGE_SIZE);
	log_set_level(cfg->loglevel);
	log_info("config: %s, %llu bytes, loglevel %s, hv_memory %llu MiB, %u guest(s)%s%s",
		 CONFIG_FILE, size, config_loglevel_name(cfg->loglevel), cfg->hv_memory >> 20,
		 cfg->n_guests, cfg->harness ? ", harness " : "",
		 cfg->harness ? config_harness_name(cfg->harness) : "");
	return EFI_SUCCESS;
}

static EFI_STATUS load_guest_file(EFI_FILE_HANDLE root, const struct guest_config *g,
				  const char *name)
{
	struct boot_file *f = &boot_info.files[boot_info.n_files];
	EFI_STATUS status;

	status = read_file(root, name, g->memory, &f->phys, &f->size);
	if (status == EFI_BAD_BUFFER_SIZE) {
		log_err("guest '%s': %s is larger than the guest's memory (%llu MiB)", g->name, name,
			g->memory >> 20);
		return fail_boot(KEXIT_BOOT_ERROR, status);
	}
	if (EFI_ERROR(status)) {
		log_err("guest '%s': cannot read %s: %s", g->name, name, efi_status_name(status));
		return fail_boot(KEXIT_BOOT_ERROR, status);
	}
	memcpy(f->name, name, CONFIG_PATH_MAX);
	boot_info.n_files++;
	log_info("guest '%s': loaded %s, %llu bytes at 0x%llx", g->name, name, f->size, f->phys);
	return EFI_SUCCESS;
}

static EFI_STATUS load_guest_files(EFI_FILE_HANDLE root)
{
	const struct config *cfg = &boot_info.config;
	EFI_STATUS status = EFI_SUCCESS;

	for (u32 i = 0; i < cfg->n_guests && !EFI_ERROR(status); i++) {
		status = load_guest_file(root, &cfg->guests[i], cfg->guests[i].kernel);
		if (!EFI_ERROR(status) && cfg->guests[i].initrd[0])
			status = load_guest_file(root, &cfg->guests[i], cfg->guests[i].initrd);
	}
	return status;
}

static void find_rsdp(void)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;

	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];

		if (!memcmp(&t->VendorGuid, &acpi20, sizeof(EFI_GUID)))
			boot_info.rsdp = (u64)t->VendorTable;
		else if (!boot_info.rsdp && !memcmp(&t->VendorGuid, &acpi10, sizeof(EFI_GUID)))
			boot_info.rsdp = (u64)t->VendorTable;
	}
	if (boot_info.rsdp)
		log_info("ACPI: RSDP at 0x%llx", boot_info.rsdp);
	else
		log_info("ACPI: no RSDP from the firmware");
}

static void find_framebuffer(void)
{
	EFI_GUID gop_guid = EFI_GRAPHICS_OUTPUT_PROTOCOL_GUID;
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop;
	struct framebuffer_info *fb = &boot_info.fb;
	static const char *const names[] = { "none", "RGBX", "BGRX", "bitmask" };

	if (EFI_ERROR(bs->LocateProtocol(&gop_guid, NULL, (void **)&gop)) || !gop->Mode ||
	    !gop->Mode->Info || gop->Mode->Info->PixelFormat == PixelBltOnly) {
		log_info("framebuffer: none");
		return;
	}
	fb->base = gop->Mode->FrameBufferBase;
	fb->size = gop->Mode->FrameBufferSize;
	fb->width = gop->Mode->Info->HorizontalResolution;
	fb->height = gop->Mode->Info->VerticalResolution;
	fb->stride = gop->Mode->Info->PixelsPerScanLine;
	fb->format = gop->Mode->Info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor ? FB_RGBX
		     : gop->Mode->Info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor ? FB_BGRX
											 : FB_BITMASK;
	log_info("framebuffer: %ux%u %s, stride %u, at 0x%llx (%llu KiB)", fb->width, fb->height,
		 names[fb->format], fb->stride, fb->base, fb->size >> 10);
}

/* The hypervisor's pool, 2 MiB aligned so it can be mapped and carved in large pages. */
static EFI_STATUS reserve_hv_pool(void)
{
	u64 size = boot_info.config.hv_memory, align = MiB(2);
	u64 pages = (size + align) / PAGE_SIZE;
	EFI_PHYSICAL_ADDRESS addr;
	EFI_STATUS status;
	u64 base;

	status = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, pages, &addr);
	if (EFI_ERROR(status)) {
		log_err("cannot reserve %llu MiB for the hypervisor (hv_memory): %s", size >> 20,
			efi_status_name(status));
		return fail_boot(KEXIT_BOOT_ERROR, status);
	}
	base = ALIGN_UP(addr, align);
	if (base > addr)
		bs->FreePages(addr, (base - addr) / PAGE_SIZE);
	if (addr + pages * PAGE_SIZE > base + size)
		bs->FreePages(base + size, (addr + pages * PAGE_SIZE - base - size) / PAGE_SIZE);
	boot_info.hv_pool_base = base;
	boot_info.hv_pool_size = size;
	return EFI_SUCCESS;
}

static enum mem_type mem_type_from_efi(UINT32 t)
{
	switch (t) {
	case EfiConventionalMemory:
	case EfiBootServicesCode:
	case EfiBootServicesData:
		return MEM_USABLE;
	case EfiLoaderCode:
	case EfiLoaderData:
		return MEM_KESTREL;
	case EfiUnusableMemory:
		return MEM_UNUSABLE;
	case EfiACPIReclaimMemory:
		return MEM_ACPI_RECLAIM;
	case EfiACPIMemoryNVS:
		return MEM_ACPI_NVS;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace:
		return MEM_MMIO;
	case 14: /* EfiPersistentMemory, newer than these headers */
		return MEM_PERSISTENT;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
	case EfiPalCode:
		return MEM_FIRMWARE;
	default: /* reserved, unaccepted, OEM types: may not even be RAM */
		return MEM_RESERVED;
	}
}

static void convert_memory_map(const u8 *map, UINTN map_size, UINTN desc_size)
{
	boot_info.n_map = 0;
	for (UINTN off = 0; off + desc_size <= map_size; off += desc_size) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)(map + off);

		if (boot_info.n_map == BOOT_MAX_REGIONS) {
			boot_info.map_truncated++;
			continue;
		}
		boot_info.map[boot_info.n_map++] = (struct mem_region){
			.base = d->PhysicalStart,
			.size = d->NumberOfPages * PAGE_SIZE,
			.type = mem_type_from_efi(d->Type),
		};
	}
}

static void log_memory_summary(void)
{
	u64 ram = 0, usable = 0;

	for (u32 i = 0; i < boot_info.n_map; i++) {
		if (mem_type_is_ram(boot_info.map[i].type))
			ram += boot_info.map[i].size;
		if (boot_info.map[i].type == MEM_USABLE)
			usable += boot_info.map[i].size;
	}
	for (u32 i = 0; i < boot_info.n_map; i++)
		log_debug("memory: 0x%016llx-0x%016llx %s", boot_info.map[i].base,
			  boot_info.map[i].base + boot_info.map[i].size,
			  mem_type_name(boot_info.map[i].type));
	log_info("memory: %llu MiB RAM, %llu MiB usable, %u regions; hypervisor pool %llu MiB at "
		 "0x%llx",
		 ram >> 20, usable >> 20, boot_info.n_map, boot_info.hv_pool_size >> 20,
		 boot_info.hv_pool_base);
}

/*
 * GetMemoryMap + ExitBootServices. The map key changes whenever the firmware allocates (an
 * event may fire in between), and EBS then fails: fetch the map again and retry, allocating
 * nothing and printing nothing in between (UEFI 2.10 section 7.4.6).
 */
static EFI_STATUS exit_boot_services(EFI_HANDLE image)
{
	UINTN map_size = 0, key, desc_size, capacity;
	UINT32 desc_version;
	void *map;
	EFI_STATUS status;

	bs->GetMemoryMap(&map_size, NULL, &key, &desc_size, &desc_version);
	capacity = map_size + MAP_SLACK_DESCRIPTORS * desc_size;
	status = bs->AllocatePool(EfiLoaderData, capacity, &map);
	if (EFI_ERROR(status))
		return status;
	/* A map for the summary first: the summary is the last thing printed through firmware. */
	map_size = capacity;
	status = bs->GetMemoryMap(&map_size, map, &key, &desc_size, &desc_version);
	if (EFI_ERROR(status))
		return status;
	convert_memory_map(map, map_size, desc_size);
	log_memory_summary();

	for (boot_info.ebs_attempts = 1; boot_info.ebs_attempts <= EBS_MAX_ATTEMPTS;
	     boot_info.ebs_attempts++) {
		map_size = capacity;
		status = bs->GetMemoryMap(&map_size, map, &key, &desc_size, &desc_version);
		if (EFI_ERROR(status))
			return status;
		status = bs->ExitBootServices(image, key);
		if (!EFI_ERROR(status)) {
			convert_memory_map(map, map_size, desc_size);
			return EFI_SUCCESS;
		}
	}
	return status;
}

/* On hardware a CPU without usable VT-x goes back to the firmware before anything changes. */
static EFI_STATUS check_vtx_on_hardware(void)
{
	struct vmx_msrs msrs;
	struct vmx_caps caps;
	const char *missing;

	if (boot_info.config.harness != HARNESS_NONE)
		return EFI_SUCCESS; /* tests see the refusal from the root environment */
	vmx_read_msrs(&msrs);
	missing = vmx_caps_decode(&msrs, &caps);
	if (!missing)
		return EFI_SUCCESS;
	log_err("VT-x unavailable: %s", missing);
	return fail_boot(KEXIT_NO_VTX, EFI_UNSUPPORTED);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	EFI_FILE_HANDLE root;
	EFI_STATUS status;
	bool serial_direct;

	st = systab;
	bs = systab->BootServices;
	serial_direct = !conout_has_uart();
	if (serial_direct)
		serial_init();
	log_set_sinks(efi_console_sink, serial_direct ? serial_write : NULL);
	log_info("Kestrel %s (build %s), a VT-x hypervisor", KESTREL_VERSION, KESTREL_BUILD_ID);
	/* The firmware's 5-minute boot watchdog would reset the machine under us. */
	bs->SetWatchdogTimer(0, 0, 0, NULL);

	config_init(&boot_info.config);
	root = open_boot_volume(image);
	if (!root) {
		log_err("cannot open the volume Kestrel was loaded from");
		return fail_boot(KEXIT_BOOT_ERROR, EFI_LOAD_ERROR);
	}
	status = load_config(root);
	if (EFI_ERROR(status))
		return status;
	power_init(boot_info.config.harness, 0);
	status = check_vtx_on_hardware();
	if (EFI_ERROR(status))
		return status;
	status = load_guest_files(root);
	if (EFI_ERROR(status))
		return status;
	root->Close(root);
	find_rsdp();
	find_framebuffer();
	status = reserve_hv_pool();
	if (EFI_ERROR(status))
		return status;

	status = exit_boot_services(image);
	if (EFI_ERROR(status)) {
		log_err("ExitBootServices failed: %s", efi_status_name(status));
		return fail_boot(KEXIT_BOOT_ERROR, status);
	}
	/* From here on: no firmware. COM1 is ours. */
	serial_init();
	log_set_sinks(serial_write, NULL);
	log_info("ExitBootServices done (attempt %u, %u regions%s)", boot_info.ebs_attempts,
		 boot_info.n_map, boot_info.map_truncated ? ", map truncated" : "");
	kestrel_main(&boot_info);
}
