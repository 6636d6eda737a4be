/**
 * Rebooting the host, by one of kured's two methods
 * (https://github.com/kubereboot/kured/tree/1.23.0/pkg/reboot):
 *
 * - `command`: run an argv (never a shell), by default inside PID 1's mount namespace through nsenter, e.g.
 *   `nsenter -t 1 -m -- /bin/systemctl reboot`. Needs `hostPID: true` and a privileged container.
 * - `signal`: send signal N (default 39 = SIGRTMIN+5, systemd's "reboot") to PID 1. Deno cannot send
 *   real-time signals itself, so this runs `kill -N 1` (a `kill` binary shipped in the image, or the host's
 *   through nsenter). Needs `hostPID: true` and CAP_KILL.
 *
 * The reboot command may legitimately not return (the host goes down under it), so a command still running
 * after `timeoutMs` counts as having done its job. Dry-run is the caller's business: print `describe()`
 * instead of calling `reboot()`.
 */
import { type Config, ConfigError } from "./config/mod.ts";
import { hostArgv, outputTail, quoteArgv, runBounded, SpawnError } from "./proc.ts";

interface Common {
  /** Run inside PID 1's mount namespace. */
  nsenter: boolean;
  nsenterPath?: string;
  /** How long to wait for the command before treating it as returned. Default 30 s. */
  timeoutMs?: number;
}

export type RebootOptions =
  | (Common & { method: "command"; command: string[] })
  | (Common & { method: "signal"; signal: number; killPath?: string });

export interface Rebooter {
  /** The exact argv that `reboot()` runs. */
  readonly argv: readonly string[];
  /** The argv as a shell line, e.g. "nsenter -t 1 -m -- /bin/systemctl reboot", for logs and dry runs. */
  describe(): string;
  /** Runs it; resolves when the command succeeded or is still running at the deadline; throws otherwise. */
  reboot(signal?: AbortSignal): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The rebooter the flags describe; throws `ConfigError` naming the flag when it could never run. */
export function rebooterFor(config: Config): Rebooter {
  try {
    return config.rebootMethod === "signal"
      ? makeRebooter({ method: "signal", signal: config.rebootSignal, nsenter: config.nsenter })
      : makeRebooter({ method: "command", command: config.rebootCommand, nsenter: config.nsenter });
  } catch (e) {
    const flag = config.rebootMethod === "signal" ? "reboot-signal" : "reboot-command";
    throw new ConfigError(flag, e instanceof Error ? e.message : String(e));
  }
}

/** Builds a rebooter; throws on a configuration it could never run (empty command, invalid signal). */
export function makeRebooter(opts: RebootOptions): Rebooter {
  let inner: string[];
  let what: string;
  let hint: string;
  if (opts.method === "command") {
    if (opts.command.length === 0 || opts.command[0] === "") {
      throw new Error('the reboot command is empty: set --reboot-command, e.g. "/bin/systemctl reboot"');
    }
    inner = opts.command;
    what = "reboot command";
    hint = opts.nsenter ? " (nsenter needs hostPID: true and a privileged container)" : "";
  } else {
    if (!Number.isInteger(opts.signal) || opts.signal < 1 || opts.signal > 64) {
      throw new Error(`invalid reboot signal ${opts.signal}: use 1-64 (39 = SIGRTMIN+5, systemd's reboot)`);
    }
    inner = [opts.killPath ?? "kill", `-${opts.signal}`, "1"];
    what = `reboot signal ${opts.signal}`;
    hint = " (sending a signal to PID 1 needs hostPID: true and CAP_KILL)";
  }
  const argv = hostArgv(inner, opts.nsenter, opts.nsenterPath);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    argv,
    describe: () => quoteArgv(argv),
    async reboot(signal?: AbortSignal): Promise<void> {
      let r;
      try {
        r = await runBounded(argv, signal ? { timeoutMs, signal } : { timeoutMs });
      } catch (e) {
        if (e instanceof SpawnError) throw new Error(`${what} failed: ${e.message}`, { cause: e });
        throw e;
      }
      if (r.timedOut) return; // Still running: the host is on its way down.
      const stderr = r.stderr.trim() ? `: ${outputTail(r.stderr)}` : "";
      if (r.aborted) throw new Error(`${what} ${quoteArgv(argv)} was aborted before it returned`);
      if (r.code === null) {
        throw new Error(`${what} ${quoteArgv(argv)} was killed by ${r.signal ?? "a signal"}${stderr}${hint}`);
      }
      if (r.code !== 0) throw new Error(`${what} ${quoteArgv(argv)} exited ${r.code}${stderr}${hint}`);
    },
  };
}
