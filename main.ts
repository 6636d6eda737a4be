/**
 * kreboot: the composition root. It parses the configuration (exit 2 on a bad value, before touching the
 * cluster or the host), dispatches subcommands, or builds the daemon and runs it until a signal arrives.
 */
import "./lib/silence_deprecation_warnings.ts";
import denoJson from "./deno.json" with { type: "json" };
import { ConfigError, HelpRequested, parseConfig } from "./lib/config/mod.ts";
import { runSubcommand, splitOwnOptions, subcommandOf } from "./lib/cli/commands.ts";
import { configCommand } from "./lib/cli/config_cmd.ts";
import { usage } from "./lib/cli/help.ts";
import { isNodeCommand, runNodeCommand } from "./lib/cli/hold.ts";
import { runDaemon } from "./lib/daemon.ts";

async function main(args: string[]): Promise<number> {
  if (args[0] === "--version" || args[0] === "version") {
    console.log(`kreboot ${denoJson.version}`);
    return 0;
  }
  if (args[0] === "config") {
    const out = configCommand(args.slice(1), Deno.env.toObject());
    await writeAll(Deno.stdout, out.stdout);
    await writeAll(Deno.stderr, out.stderr);
    return out.code;
  }
  if (isNodeCommand(args[0])) return await runNodeCommand(args[0], args.slice(1), Deno.env.toObject());
  const sub = subcommandOf(args[0]);
  const subArgs = sub ? args.slice(1) : args;
  let parsed;
  try {
    parsed = parseConfig(sub ? splitOwnOptions(sub, subArgs).rest : subArgs, Deno.env.toObject());
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(usage());
      return 0;
    }
    throw e;
  }
  for (const w of parsed.warnings) console.error(`kreboot: warning: ${w}`);
  if (sub) return await runSubcommand(sub, parsed.config, subArgs);

  const stop = new AbortController();
  let signals = 0;
  const onSignal = () => {
    // The first signal stops the loop at a safe point; a second one means "now".
    if (++signals > 1) Deno.exit(130);
    stop.abort();
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  return await runDaemon(parsed.config, stop.signal);
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, text: string): Promise<void> {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(await w.write(bytes));
}

try {
  // `deno task start -- --dry-run …` passes the `--` through; it separates nothing here.
  Deno.exit(await main(Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args));
} catch (e) {
  if (e instanceof ConfigError) {
    // A bad value: one line naming the flag, exit 2, and nothing was done to the cluster or the host.
    console.error(`kreboot: ${e.message}`);
    Deno.exit(2);
  }
  // Anything that reaches here is a bug or an environment problem: one line, no stack trace by default.
  console.error(`kreboot: ${e instanceof Error ? e.message : String(e)}`);
  if (Deno.env.get("KREBOOT_DEBUG")) console.error(e);
  Deno.exit(1);
}
