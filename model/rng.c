/* rng.c - the deterministic xoshiro256** generator (init, LoRA dropout). */
#include "model/gpt2.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sdq_rng_seed(sdq_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

uint64_t sdq_rng_next(sdq_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

float sdq_rng_uniform(sdq_rng *r) {
  return (float)(sdq_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float sdq_rng_normal(sdq_rng *r) {
  /* u1 in (0, 1] so log(u1) is finite. */
  double u1 = ((double)(sdq_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = (double)(sdq_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t sdq_rng_below(sdq_rng *r, uint32_t n) {
  if (n <= 1)
    return 0;
  /* Reject the top partial block of 2^32 so every residue is equally likely. */
  uint32_t limit = (uint32_t)(-n) % n;
  for (;;) {
    uint32_t x = (uint32_t)(sdq_rng_next(r) >> 32);
    if (x >= limit)
      return x % n;
  }
}
