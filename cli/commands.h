/* commands.h - the sdq subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand name) and returns the process exit status:
 * 0 success, 1 failure (a message is already on stderr), 2 usage error. */
#ifndef SDQ_CLI_COMMANDS_H
#define SDQ_CLI_COMMANDS_H

int sdq_cmd_cpu(int argc, char **argv);
int sdq_cmd_tokenize(int argc, char **argv);
int sdq_cmd_generate(int argc, char **argv);
int sdq_cmd_configs(int argc, char **argv);
int sdq_cmd_train(int argc, char **argv);
int sdq_cmd_eval(int argc, char **argv);
int sdq_cmd_score(int argc, char **argv);
int sdq_cmd_attack(int argc, char **argv);
int sdq_cmd_suite(int argc, char **argv);

#endif
