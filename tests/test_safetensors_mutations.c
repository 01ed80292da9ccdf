/* test_safetensors_mutations.c - runs the libFuzzer harness of the
 * safetensors reader (tests/fuzz/fuzz_safetensors.c) on a few thousand
 * deterministic mutations of valid files, so every make check (and the
 * sanitizer build) replays hostile headers without a fuzzer installed.
 *
 * The harness aborts when the reader breaks one of its promises (a tensor
 * outside the data section, a lookup that misses, a message that does not
 * name the file); Check reports the abort as a failed test. */
#define _POSIX_C_SOURCE 200809L

#include "model/safetensors.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size);

/* Mutations per seed file. Each is one open of a small mapped file, so the
 * whole program takes well under a second without sanitizers. */
enum { MUTATIONS_PER_SEED = 1500 };

typedef struct {
  unsigned char *bytes;
  size_t size, cap;
} byte_buf;

static void buf_append(byte_buf *b, const void *data, size_t n)
{
  if (b->size + n > b->cap) {
    b->cap = (b->size + n) * 2;
    b->bytes = realloc(b->bytes, b->cap);
    ck_assert_ptr_nonnull(b->bytes);
  }
  memcpy(b->bytes + b->size, data, n);
  b->size += n;
}

/* A safetensors file from a header JSON and a data section: the 8-byte
 * little-endian header length, the header, then the data. */
static byte_buf make_file(const char *header, const void *data, size_t data_size)
{
  byte_buf b = {0};
  uint64_t n = strlen(header);
  unsigned char len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (unsigned char)(n >> (8 * i));
  buf_append(&b, len, 8);
  buf_append(&b, header, n);
  buf_append(&b, data, data_size);
  return b;
}

/* Seeds that open cleanly: F32, F16, BF16 and F64 tensors, a
 * scalar, an empty tensor and metadata. */
static byte_buf seed_file(int which)
{
  static unsigned char data[96];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (unsigned char)(i * 37 + 11);
  switch (which) {
  case 0:
    return make_file("{\"__metadata__\":{\"format\":\"pt\"},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                     "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                     "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]}}",
                     data, 40);
  case 1:
    return make_file("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                     "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                     "\"h.0.attn.c_attn.weight\":{\"dtype\":\"F64\",\"shape\":[3],"
                     "\"data_offsets\":[4,28]}}",
                     data, 28);
  default:
    return make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4,6],\"data_offsets\":[0,96]},"
                     "\"__metadata__\":{\"k\":\"v\",\"format\":\"pt\"}}",
                     data, 96);
  }
}

/* xorshift64*: a fixed sequence, so a failure reproduces. */
static uint64_t next_random(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* Bytes that change the meaning of a JSON header when they land in it. */
static const unsigned char special[] = {'0', '9', '-', '"', '\\', '{', '}', '[', ']',
                                        ',', ':', 'e', '.', ' ', 0x00, 0x7f, 0xc3, 0xff};

/* Applies one to three random edits to a copy of seed: a bit flip, a
 * special byte, a digit run (a large number), a truncation, a duplicated
 * slice, or a new header length. Edits prefer the header, where the parser
 * works. */
static byte_buf mutate(const byte_buf *seed, uint64_t *rng)
{
  byte_buf b = {0};
  buf_append(&b, seed->bytes, seed->size);
  int edits = 1 + (int)(next_random(rng) % 3);
  for (int e = 0; e < edits && b.size > 0; e++) {
    uint64_t r = next_random(rng);
    size_t header_end = b.size < 8 ? b.size : 8 + (size_t)(b.bytes[0] | b.bytes[1] << 8);
    if (header_end > b.size)
      header_end = b.size;
    size_t pos = (r >> 8) % (r & 1 ? header_end : b.size);
    switch ((r >> 1) % 7) {
    case 0:
      b.bytes[pos] ^= (unsigned char)(1u << ((r >> 40) % 8));
      break;
    case 1:
      b.bytes[pos] = special[(r >> 40) % sizeof special];
      break;
    case 2:
      for (size_t i = pos; i < b.size && i < pos + 12; i++)
        b.bytes[i] = '9';
      break;
    case 3:
      b.size = pos;
      break;
    case 4: {
      size_t len = 1 + (r >> 40) % 16;
      if (pos + len <= b.size) {
        unsigned char slice[16];
        memcpy(slice, b.bytes + pos, len);
        buf_append(&b, slice, len);
        memmove(b.bytes + pos + len, b.bytes + pos, b.size - pos - len);
        memcpy(b.bytes + pos, slice, len);
      }
      break;
    }
    case 5: {
      uint64_t lens[] = {0, 1, 7, b.size - 8, b.size - 7, UINT64_MAX, UINT64_MAX / 2,
                         (uint64_t)1 << 40};
      uint64_t n = lens[(r >> 40) % (sizeof lens / sizeof lens[0])];
      if (b.size >= 8)
        for (int i = 0; i < 8; i++)
          b.bytes[i] = (unsigned char)(n >> (8 * i));
      break;
    }
    default:
      if (b.size >= 8)
        b.bytes[(r >> 40) % 8] = (unsigned char)(r >> 48);
      break;
    }
  }
  return b;
}

/* 1 when the reader accepts the file the harness wrote last. Counted to
 * show the mutations reach past the header parser and are not all rejected
 * at the first byte. */
static int last_input_opens(void)
{
  char path[64], err[512];
  snprintf(path, sizeof path, "/tmp/fuzz-safetensors-%ld.bin", (long)getpid());
  sdq_safetensors st;
  if (sdq_safetensors_open(&st, path, err, sizeof err) != 0)
    return 0;
  sdq_safetensors_close(&st);
  return 1;
}

START_TEST(seeds_open_cleanly)
{
  byte_buf seed = seed_file(_i);
  LLVMFuzzerTestOneInput(seed.bytes, seed.size);
  ck_assert_msg(last_input_opens(), "seed %d does not open; fix the seed before trusting "
                "the mutation test", _i);
  free(seed.bytes);
}
END_TEST

START_TEST(mutated_files_fail_cleanly)
{
  byte_buf seed = seed_file(_i);
  uint64_t rng = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
  int accepted = 0;
  for (int n = 0; n < MUTATIONS_PER_SEED; n++) {
    byte_buf m = mutate(&seed, &rng);
    LLVMFuzzerTestOneInput(m.bytes, m.size);
    accepted += last_input_opens();
    free(m.bytes);
  }
  ck_assert_msg(accepted > 0, "no mutation of seed %d opened", _i);
  ck_assert_msg(accepted < MUTATIONS_PER_SEED, "every mutation of seed %d opened", _i);
  free(seed.bytes);
}
END_TEST

static void remove_input_file(void)
{
  char path[64];
  snprintf(path, sizeof path, "/tmp/fuzz-safetensors-%ld.bin", (long)getpid());
  unlink(path);
}

int main(void)
{
  Suite *s = suite_create("safetensors_mutations");
  TCase *tc = tcase_create("mutations");
  tcase_add_checked_fixture(tc, NULL, remove_input_file);
  tcase_add_loop_test(tc, seeds_open_cleanly, 0, 3);
  tcase_add_loop_test(tc, mutated_files_fail_cleanly, 0, 3);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
