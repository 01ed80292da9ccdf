/* cmd_score.c - 'sdq score': EM/F1 of a prediction file against a SQuAD
 * v1.1 data file, printed as the official evaluation script prints them. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "train/metrics.h"
#include "train/squad.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: sdq score DATA.json PREDICTIONS.json\n\n"
          "Scores PREDICTIONS.json ({\"question id\": \"answer text\", ...}) against the\n"
          "SQuAD v1.1 file DATA.json with the official v1.1 definitions of exact match\n"
          "and F1, and prints {\"exact_match\": EM, \"f1\": F1} (both 0-100) on stdout.\n"
          "Questions without a prediction score 0; their count is reported on stderr.\n"
          "Predictions for ids that are not in DATA.json are ignored.\n");
}

int sdq_cmd_score(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc != 3) {
    usage(stderr);
    return 2;
  }

  sdq_squad sq;
  char err[1024], warning[512];
  if (sdq_squad_load(&sq, argv[1], warning, sizeof warning, err, sizeof err)) {
    fprintf(stderr, "sdq score: %s\n", err);
    return 1;
  }
  if (warning[0])
    fprintf(stderr, "sdq score: warning: %s\n", warning);

  sdq_squad_score score;
  if (sdq_squad_score_file(&sq, argv[2], &score, err, sizeof err)) {
    fprintf(stderr, "sdq score: %s\n", err);
    sdq_squad_free(&sq);
    return 1;
  }
  if (score.n_questions > 0 && score.n_missing == score.n_questions)
    fprintf(stderr,
            "sdq score: WARNING: no prediction id in %s matches a question of %s; every "
            "question scores 0 (are the two arguments swapped? the data file comes first)\n",
            argv[2], argv[1]);
  else if (score.n_missing > 0)
    fprintf(stderr,
            "sdq score: %zu of %zu questions have no prediction in %s and receive score 0\n",
            score.n_missing, score.n_questions, argv[2]);

  char em[64], f1[64];
  sdq_format_python_float(score.exact_match, em, sizeof em);
  sdq_format_python_float(score.f1, f1, sizeof f1);
  printf("{\"exact_match\": %s, \"f1\": %s}\n", em, f1);
  sdq_squad_free(&sq);
  return 0;
}
