/* setup.h - what the train, eval and configs commands share: default file
 * locations, opening a model, and turning command-line arguments into bit
 * configurations. */
#ifndef SDQ_TRAIN_SETUP_H
#define SDQ_TRAIN_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"
#include "model/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the path of rel (e.g. "default/train.json") inside sdq's data
 * folder into buf: $SDQ_DATA_DIR when set, else the data/ folder of the
 * configured source tree. Returns buf. */
const char *sdq_default_data_path(const char *rel, char *buf, size_t len);

/* The same for the shipped bit configurations: $SDQ_CONFIGS_DIR when set,
 * else configs/ of the configured source tree. */
const char *sdq_default_configs_path(const char *rel, char *buf, size_t len);

/* Opens a model: the HF checkpoint at model_path when it is not NULL, else a
 * freshly initialised model (seeded GPT-2 init) with the shape of the
 * config.json at init_config (see sdq_read_model_config). Returns NULL with
 * a message. */
sdq_gpt2 *sdq_open_model(const char *model_path, const char *init_config,
                         uint64_t seed, char *err, size_t errlen);

/* Reads a model shape from a config.json: sdq_gpt2_read_config_json's
 * checks, all five shape fields present, and sdq_gpt2_config_validate; the
 * messages name path. */
int sdq_read_model_config(const char *path, sdq_gpt2_config *cfg, char *err,
                          size_t errlen);

/* Checks that m can embed every id tok produces: vocab_size at least the
 * tokenizer's vocabulary (larger is fine, e.g. a padded table). Returns 0,
 * or -1 with a message giving both sizes. */
int sdq_check_model_vocab(const sdq_gpt2 *m, const sdq_tokenizer *tok, char *err,
                          size_t errlen);

/* Parses "4,6,8" into bits[] (each 2..8, 16 or 32; "fp32" means 32).
 * Returns the count, or -1 with a message: an empty item, a value out of
 * range, more than max values, the same bits twice, or both 16 and 32
 * (both are full precision). */
int sdq_parse_bits_list(const char *text, int *bits, int max, char *err,
                        size_t errlen);

/* Resolves a configuration argument for an n_layer model: a number of bits
 * or "fp32" (every layer uniform), a path to a configuration file, or the
 * name of a shipped one ("all-4" for configs/all-4.cfg). An argument that
 * exists in the file system is a path and must be a regular file, so a
 * directory, FIFO or device is an error. Only a name without '/' that does
 * not exist there is looked up among the shipped configurations. name
 * receives a display name: "4bit" for 4, "16bit" for 16 (full precision,
 * counted as 16 bits), "fp32" for 32 or fp32, or the file name without
 * .cfg. Files are read by sdq_bitconfig_load (block placeholders such as
 * {last} included). Returns 0 or -1 with a message. */
int sdq_resolve_config(const char *arg, int n_layer, sdq_bitconfig *cfg,
                       char *name, size_t namelen, char *err, size_t errlen);

/* Checks that the n resolved configurations cfgs[i] (display names
 * names[i], given as the arguments args[i]) are pairwise different. Errors:
 * the same argument twice; two arguments with the same display name, whose
 * result rows, prediction files and adapter labels would collide; two with
 * the same bits in every layer, where 16 and 32 count as the same because
 * both run at full precision on one LoRA adapter. args may be NULL;
 * the names then stand for the arguments in messages. Returns 0, or -1 with
 * a message naming both. */
int sdq_check_distinct_configs(const sdq_bitconfig *cfgs, char *const *names,
                               const char *const *args, int n, char *err,
                               size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SDQ_TRAIN_SETUP_H */
