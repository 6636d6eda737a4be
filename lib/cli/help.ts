/** `kreboot --help`: how to call it, the subcommands with one line each, then every flag (lib/config). */
import { helpText } from "../config/mod.ts";
import { SUBCOMMANDS } from "./commands.ts";

export function usage(): string {
  const names = Object.keys(SUBCOMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    "Usage: kreboot [flags]            run the reboot daemon on this node",
    "       kreboot COMMAND [flags]    run one command and exit",
    "       kreboot --version",
    "",
    "Commands (each also takes the daemon's flags, e.g. --kubeconfig, --ds-namespace, --ds-name):",
    ...Object.entries(SUBCOMMANDS).map(([name, summary]) => `  ${name.padEnd(width)}   ${summary}`),
    "",
    helpText(),
  ].join("\n");
}
