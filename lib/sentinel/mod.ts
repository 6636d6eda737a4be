/**
 * "Does this node need a reboot?" — kured's two sentinel checkers.
 *
 * - File: the sentinel file exists (as seen inside the container, so the host directory must be mounted).
 * - Command: run on the host (through nsenter); exit 0 = required, 1 = not required, other codes = not
 *   required with a warning, as kured does.
 *
 * Where kured would crash (log.Fatal) or silently say "no", this returns `{required: false, error}`: the
 * answer is "not now", never a reboot, and the loop reports the error. That covers a hung command (killed at
 * the deadline), a crash by signal, a binary that cannot be run (spawn failure, or 126/127 from the shell or
 * nsenter), nsenter itself failing (no hostPID/privileges), and a sentinel file that cannot be stat'ed.
 */
import type { Config } from "../config/mod.ts";
import { hostArgv, outputTail, quoteArgv, runBounded, SpawnError } from "../proc.ts";

export type SentinelOptions =
  | { file: string }
  | { command: string[]; nsenter: boolean; timeoutMs: number; nsenterPath?: string };

export type SentinelResult =
  | { required: true }
  | { required: false }
  | { required: false; warning: string }
  | { required: false; error: string };

/** The sentinel the flags describe: `--reboot-sentinel-command` when set, else the `--reboot-sentinel` file. */
export function sentinelOptions(config: Config): SentinelOptions {
  return config.rebootSentinelCommand.length > 0
    ? {
      command: config.rebootSentinelCommand,
      nsenter: config.nsenter,
      timeoutMs: config.sentinelCommandTimeout,
    }
    : { file: config.rebootSentinel };
}

export async function checkSentinel(opts: SentinelOptions): Promise<SentinelResult> {
  return "file" in opts ? await checkFile(opts.file) : await checkCommand(opts);
}

async function checkFile(path: string): Promise<SentinelResult> {
  try {
    await Deno.stat(path);
    return { required: true };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return { required: false };
    }
    const why = e instanceof Error ? e.message : String(e);
    return {
      required: false,
      error:
        `cannot check the reboot sentinel file ${path}: ${why} (is the host directory mounted readable?)`,
    };
  }
}

async function checkCommand(
  opts: { command: string[]; nsenter: boolean; timeoutMs: number; nsenterPath?: string },
): Promise<SentinelResult> {
  if (opts.command.length === 0) return { required: false, error: "the reboot sentinel command is empty" };
  const argv = hostArgv(opts.command, opts.nsenter, opts.nsenterPath);
  const shown = quoteArgv(argv);
  let r;
  try {
    r = await runBounded(argv, { timeoutMs: opts.timeoutMs });
  } catch (e) {
    if (e instanceof SpawnError) return { required: false, error: `sentinel command ${e.message}` };
    throw e;
  }
  const stderr = r.stderr ? `; stderr: ${outputTail(r.stderr)}` : "";
  if (r.timedOut) {
    return {
      required: false,
      error: `sentinel command ${shown} did not finish within ${opts.timeoutMs} ms and was killed`,
    };
  }
  if (r.code === null) {
    return {
      required: false,
      error: `sentinel command ${shown} was killed by ${r.signal ?? "a signal"}${stderr}`,
    };
  }
  if (r.code === 0) return { required: true };
  // nsenter reports its own failures (no hostPID, not privileged, exec failed) as "nsenter: ..." with a
  // non-zero code that kured would read as "no reboot needed" forever.
  if (opts.nsenter && /^nsenter: /m.test(r.stderr)) {
    return {
      required: false,
      error:
        `sentinel command ${shown} failed in nsenter (needs hostPID and a privileged container)${stderr}`,
    };
  }
  if (r.code === 126 || r.code === 127) {
    return {
      required: false,
      error:
        `sentinel command ${shown} could not be run on the host (exit ${r.code}: not found or not executable)${stderr}`,
    };
  }
  if (r.code === 1) return { required: false };
  return {
    required: false,
    warning: `sentinel command ${shown} exited ${r.code}; treating it as "not required"${stderr}`,
  };
}
