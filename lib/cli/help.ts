/** `kreboot --help`: how to call it, the subcommands with one line each, then every flag (lib/config). */
import { helpText } from "../config/mod.ts";
import { SUBCOMMANDS } from "./commands.ts";
import { NODE_COMMAND_SUMMARIES } from "./hold.ts";

export function usage(): string {
  const commands = [...Object.entries(SUBCOMMANDS), ...Object.entries(NODE_COMMAND_SUMMARIES)];
  const names = commands.map(([name]) => name);
  const width = Math.max(...names.map((n) => n.length));
  return [
    "Usage: kreboot [flags]            run the reboot daemon on this node",
    "       kreboot COMMAND [flags]    run one command and exit",
    "       kreboot --version",
    "",
    "Commands (each also takes the daemon's flags, e.g. --kubeconfig, --ds-namespace, --ds-name):",
    ...commands.map(([name, summary]) => `  ${name.padEnd(width)}   ${summary}`),
    "",
    helpText(),
  ].join("\n");
}
