/*
 * The hostile guest shared by the device tests: a deterministic PRNG drives random-size,
 * random-port, random-value IN/OUT through the bus, mostly at and around the device's ports.
 * The device sits between canaries, so a write outside its state is caught even where ASan's
 * redzones would not see it (inside the enclosing struct).
 */
#ifndef VDEV_FUZZ_H
#define VDEV_FUZZ_H

#include <kestrel/vdev.h>

#define FUZZ_ACCESSES 200000
#define FUZZ_CANARY 0x5a5a5a5a5a5a5a5aull

struct fuzz_rng {
	u64 s;
};

static inline u32 fuzz_next(struct fuzz_rng *r)
{
	/* xorshift64* (Vigna): good enough, and the same sequence on every host. */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (u32)((r->s * 0x2545f4914f6cdd1dull) >> 32);
}

struct fuzz_target {
	const u16 (*ports)[2];	/* the device's port ranges, inclusive */
	unsigned n_ports;
	/* Called before every access with a random word: drive the device's other inputs. */
	void (*poke)(void *ctx, u32 r);
	void *ctx;
};

/* Returns how many reads had bits set above their size (must be none). */
static inline unsigned vdev_fuzz(struct vdev_bus *bus, const struct fuzz_target *t, u64 seed)
{
	static const u32 sizes[3] = { 1, 2, 4 };
	struct fuzz_rng rng = { seed | 1 };
	unsigned bad = 0;

	for (unsigned i = 0; i < FUZZ_ACCESSES; i++) {
		u32 r = fuzz_next(&rng), v = fuzz_next(&rng), size = sizes[r % 3];
		const u16 *range = t->ports[(r >> 2) % t->n_ports];
		u16 port;

		if (t->poke)
			t->poke(t->ctx, fuzz_next(&rng));
		if ((r >> 8) % 8 == 0) {
			port = (u16)fuzz_next(&rng); /* anywhere */
		} else {
			/* The range and two ports either side. */
			u32 span = range[1] - range[0] + 5u;

			port = (u16)(range[0] - 2 + fuzz_next(&rng) % span);
		}
		/* Bias values towards the interesting ones: 0, all ones, single bits. */
		switch ((r >> 12) % 4) {
		case 0:
			v = (r >> 16) & 1 ? 0 : 0xffffffffu;
			break;
		case 1:
			v = 1u << (v % 32);
			break;
		default:
			break;
		}
		if ((r >> 20) & 1) {
			vdev_io_write(bus, port, size, v);
		} else {
			u32 got = vdev_io_read(bus, port, size);

			if (size < 4 && got >> (8 * size))
				bad++;
		}
	}
	return bad;
}

#endif
