/* SPDX-License-Identifier: MIT */
/* commands.h - the CLI's subcommands, one file each (tools/cmd_*.c). */
#ifndef PAGEWALK_TOOLS_COMMANDS_H
#define PAGEWALK_TOOLS_COMMANDS_H

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

int cmd_demo(int argc, char **argv);

#endif
