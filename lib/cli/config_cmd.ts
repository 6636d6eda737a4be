/**
 * `kreboot config [flags]` as a pure function of argv and environment: what main.ts runs for the subcommand,
 * callable in-process so that thousands of hostile inputs can be tried without spawning thousands of processes.
 */
import { ConfigError, configToJson, HelpRequested, parseConfig } from "../config/mod.ts";
import { usage } from "./help.ts";

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** `args` without the program and subcommand names. Exit 0 with the JSON, or 2 with one line naming the flag. */
export function configCommand(
  args: readonly string[],
  env: Record<string, string | undefined>,
): CommandOutput {
  try {
    const parsed = parseConfig(args, env);
    const warnings = parsed.warnings.map((w) => `kreboot: warning: ${w}\n`).join("");
    const json = JSON.stringify(configToJson(parsed.config, { redact: true }), null, 2);
    return { code: 0, stdout: `${json}\n`, stderr: warnings };
  } catch (e) {
    if (e instanceof HelpRequested) return { code: 0, stdout: usage() + "\n", stderr: "" };
    if (e instanceof ConfigError) return { code: 2, stdout: "", stderr: `kreboot: ${e.message}\n` };
    throw e;
  }
}
