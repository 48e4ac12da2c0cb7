// SPDX-License-Identifier: MIT
/*
 * seen.c - the set of (table frame, level) pairs a walk of a foreign mm has
 * entered, so that tables pointing at each other are walked once (see
 * "Aliases" in include/pagewalk/iter.h). An open-addressing hash set of
 * keys pfn * 8 + level + 1 (0 marks a free slot), kept at most half full.
 */
#include "core/core.h"

struct pw_walk_seen {
	size_t cap, used;
	uint64_t keys[];
};

static size_t slot(const struct pw_walk_seen *s, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 20) & (s->cap - 1);

	while (s->keys[i] && s->keys[i] != key)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static uint64_t key_of(uint64_t pfn, enum pw_level level)
{
	return pfn * 8 + (uint64_t)level + 1;
}

struct pw_walk_seen *pw_seen_new(void)
{
	return calloc(1, sizeof(struct pw_walk_seen));
}

bool pw_seen_has(const struct pw_walk_seen *s, uint64_t pfn, enum pw_level level)
{
	uint64_t key = key_of(pfn, level);

	return s && s->cap && s->keys[slot(s, key)] == key;
}

int pw_seen_add(struct pw_walk_seen **sp, uint64_t pfn, enum pw_level level)
{
	struct pw_walk_seen *s = *sp;
	uint64_t key = key_of(pfn, level);
	size_t i;

	if (!s->cap || (s->used + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct pw_walk_seen *n = calloc(1, sizeof(*n) + ncap * sizeof(uint64_t));

		if (!n)
			return -ENOMEM;
		n->cap = ncap;
		for (size_t j = 0; j < s->cap; j++)
			if (s->keys[j])
				n->keys[slot(n, s->keys[j])] = s->keys[j];
		n->used = s->used;
		free(s);
		*sp = s = n;
	}
	i = slot(s, key);
	if (!s->keys[i]) {
		s->keys[i] = key;
		s->used++;
	}
	return 0;
}

void pw_seen_free(struct pw_walk_seen *s)
{
	free(s);
}
