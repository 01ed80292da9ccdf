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
          "usage: sdq score DATA.json PREDICTIONS.json\n"
          "       sdq score DATA.json - < PREDICTIONS.json\n\n"
          "Scores PREDICTIONS.json ({\"question id\": \"answer text\", ...}) against the\n"
          "SQuAD v1.1 file DATA.json with the official v1.1 definitions of exact match\n"
          "and F1, and prints {\"exact_match\": EM, \"f1\": F1} (both 0-100) on stdout.\n"
          "Questions without a prediction score 0; their count is reported on stderr.\n"
          "Predictions for ids that are not in DATA.json are ignored. \"-\" reads the\n"
          "predictions from standard input.\n\n"
          "DATA.json is checked more strictly than the official script checks it: every\n"
          "answer's text must appear in its context at answer_start (a count of code\n"
          "points), and a file that fails is refused as a whole rather than scored. The\n"
          "official script reads only the ids and answer texts, so it scores such a\n"
          "file; fix answer_start (the message names the question) to score it here.\n");
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
  const char *preds = strcmp(argv[2], "-") == 0 ? "/dev/stdin" : argv[2];
  const char *preds_name = preds == argv[2] ? argv[2] : "standard input";
  if (strcmp(argv[1], "-") == 0) {
    fprintf(stderr, "sdq score: the data file cannot be standard input; give its path (only "
                    "the predictions may be \"-\")\n");
    return 2;
  }
  if (sdq_squad_load(&sq, argv[1], warning, sizeof warning, err, sizeof err)) {
    fprintf(stderr, "sdq score: %s\n", err);
    if (strstr(err, "answer_start"))
      fprintf(stderr, "sdq score: NOTE: sdq score validates the data file more strictly than "
                      "the official evaluate-v1.1.py, which never reads answer_start and would "
                      "score this file; correct answer_start (or the answer text) of that "
                      "question, or drop the question, to score it with sdq\n");
    return 1;
  }
  if (warning[0])
    fprintf(stderr, "sdq score: warning: %s\n", warning);

  sdq_squad_score score;
  if (sdq_squad_score_file(&sq, preds, &score, err, sizeof err)) {
    fprintf(stderr, "sdq score: %s\n", err);
    sdq_squad_free(&sq);
    return 1;
  }
  if (score.n_questions > 0 && score.n_missing == score.n_questions)
    fprintf(stderr,
            "sdq score: WARNING: no prediction id in %s matches a question of %s; every "
            "question scores 0 (are the two arguments swapped? the data file comes first)\n",
            preds_name, argv[1]);
  else if (score.n_missing > 0)
    fprintf(stderr,
            "sdq score: %zu of %zu questions have no prediction in %s and receive score 0\n",
            score.n_missing, score.n_questions, preds_name);

  char em[64], f1[64];
  sdq_format_python_float(score.exact_match, em, sizeof em);
  sdq_format_python_float(score.f1, f1, sizeof f1);
  printf("{\"exact_match\": %s, \"f1\": %s}\n", em, f1);
  sdq_squad_free(&sq);
  return 0;
}
