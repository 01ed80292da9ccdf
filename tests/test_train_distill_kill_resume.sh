#!/usr/bin/env bash
# test_train_distill_kill_resume.sh - the SIGKILL-and-resume check of
# test_train_kill_resume.sh on a joint run with distillation from 8 to 4 bits.
exec bash "$(dirname "$0")/test_train_kill_resume.sh" --joint --distill --distill-alpha 0.7 \
  --distill-temp 1.5
