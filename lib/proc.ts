/**
 * Running host commands (sentinel commands, the reboot command, `kill`) with hard bounds: a deadline, a cap
 * on captured output and no shell. A command that hangs is killed; a command that prints megabytes is drained
 * (so it never blocks on a full pipe) but only the first bytes are kept.
 *
 * Spawn failures (binary missing, not executable, not permitted) are THROWN as `SpawnError`, never folded
 * into the result: a result always means "the process ran", so callers cannot mistake "could not start" for
 * an exit code.
 */

export interface RunOptions {
  /** Deadline for the whole run; on expiry the process group gets SIGTERM, then SIGKILL after `killGraceMs`. */
  timeoutMs: number;
  /** Bytes kept per stream (stdout and stderr each); the rest is read and discarded. Default 64 KiB. */
  maxOutputBytes?: number;
  /** Aborting kills the process the same way as the timeout does. */
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL. Default 1000 ms. */
  killGraceMs?: number;
  /**
   * How long to keep reading output after the process has exited. A grandchild that inherited the pipes can
   * keep them open forever; after this we stop reading. Default 1000 ms.
   */
  drainMs?: number;
}

export interface RunResult {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  /** The signal that ended the process, e.g. "SIGKILL". */
  signal?: string;
  /** True when the deadline expired and the process was killed. */
  timedOut: boolean;
  /** True when the caller's AbortSignal fired and the process was killed. */
  aborted: boolean;
  stdout: string;
  stderr: string;
  /** True when either stream was longer than `maxOutputBytes` and was cut. */
  truncated: boolean;
}

/** The process could not be started at all; `notFound` tells a missing binary from other causes. */
export class SpawnError extends Error {
  override readonly name = "SpawnError";
  readonly argv: readonly string[];
  readonly notFound: boolean;
  constructor(argv: readonly string[], cause: unknown) {
    const notFound = cause instanceof Deno.errors.NotFound;
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `cannot run ${quoteArgv(argv)}: ${why}${
        notFound ? " (is the binary installed and on PATH in the container image?)" : ""
      }`,
      { cause },
    );
    this.argv = argv;
    this.notFound = notFound;
  }
}

const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
const DEFAULT_KILL_GRACE_MS = 1000;
const DEFAULT_DRAIN_MS = 1000;

/** Runs `argv` (no shell) with stdin closed and both output streams captured, bounded in time and memory. */
export async function runBounded(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === "") throw new SpawnError(argv, new Error("empty command"));
  const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  let child: Deno.ChildProcess;
  try {
    // detached = own process group, so a timeout can kill the whole tree (sh -c '...' and its children),
    // not just the direct child.
    child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped", detached: true })
      .spawn();
  } catch (e) {
    throw new SpawnError(argv, e);
  }

  const out = capture(child.stdout, cap);
  const err = capture(child.stderr, cap);

  let timedOut = false;
  let aborted = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const killTree = () => {
    if (killTimer !== undefined) return;
    signalGroup(child.pid, "SIGTERM");
    killTimer = setTimeout(
      () => signalGroup(child.pid, "SIGKILL"),
      opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    );
  };
  const deadline = setTimeout(() => {
    timedOut = true;
    killTree();
  }, opts.timeoutMs);
  const onAbort = () => {
    aborted = true;
    killTree();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    clearTimeout(deadline);
    if (killTimer !== undefined) clearTimeout(killTimer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
  // After a kill, make sure nothing of the tree survives holding our pipes.
  if (timedOut || aborted) signalGroup(child.pid, "SIGKILL");

  const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
  const [o, e] = await Promise.all([out.finish(drainMs), err.finish(drainMs)]);
  const result: RunResult = {
    code: status.signal === null ? status.code : null,
    timedOut,
    aborted,
    stdout: o.text,
    stderr: e.text,
    truncated: o.truncated || e.truncated,
  };
  if (status.signal !== null) result.signal = status.signal;
  return result;
}

/**
 * The argv that runs `argv` in the host's mount namespace (PID 1's), as kured does, when `nsenter` is on.
 * Needs `hostPID: true` and a privileged container. `nsenterPath` defaults to `nsenter` on PATH.
 */
export function hostArgv(argv: readonly string[], nsenter: boolean, nsenterPath = "nsenter"): string[] {
  return nsenter ? [nsenterPath, "-t", "1", "-m", "--", ...argv] : [...argv];
}

/** An argv as a copy-pasteable shell line, for logs and dry-run output. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`).join(
    " ",
  );
}

/** The last `max` characters of a command's output, on one line, for error messages. */
export function outputTail(text: string, max = 300): string {
  const oneLine = text.trim().replace(/\s*\n\s*/g, " | ");
  return oneLine.length > max ? `...${oneLine.slice(-max)}` : oneLine;
}

function signalGroup(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(-pid, sig);
  } catch {
    // Already gone (ESRCH) is the common case; nothing else can be done here anyway.
  }
}

interface Captured {
  text: string;
  truncated: boolean;
}

/** Reads a stream to the end, keeping at most `cap` bytes; `finish` stops waiting for EOF after `drainMs`. */
function capture(stream: ReadableStream<Uint8Array>, cap: number) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        if (kept >= cap) {
          truncated = true;
          continue;
        }
        const room = cap - kept;
        if (value.byteLength > room) truncated = true;
        const part = value.byteLength > room ? value.subarray(0, room) : value;
        chunks.push(part.slice());
        kept += part.byteLength;
      }
    } catch {
      // Cancelled by finish() or a broken pipe: keep what was read.
    }
  })();
  return {
    async finish(drainMs: number): Promise<Captured> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), drainMs));
      const how = await Promise.race([done.then(() => "done" as const), late]);
      clearTimeout(timer);
      if (how === "late") {
        truncated = true;
        await reader.cancel().catch(() => {});
        await done;
      }
      reader.releaseLock();
      const bytes = new Uint8Array(kept);
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.byteLength;
      }
      return { text: new TextDecoder().decode(bytes), truncated };
    },
  };
}
