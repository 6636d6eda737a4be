/**
 * Child processes of the harness (etcd, kube-apiserver, daemons under test) that never outlive a test run.
 *
 * Every child runs in its own process group (`detached`, i.e. setsid) so that stopping it also stops whatever it
 * spawned (a daemon's reboot command, a shell). Three layers make sure nothing leaks:
 *   1. the owner stops it (`await using` / `stop()`);
 *   2. an `unload` hook SIGKILLs every group still running when the test process exits;
 *   3. a pid file per child under a run directory named after the test process, so the next run reaps the
 *      children of a test process that was itself SIGKILLed (see `reapOrphans`).
 */

const registry = new Set<Proc>();
let unloadHookInstalled = false;

function installUnloadHook(): void {
  if (unloadHookInstalled) return;
  unloadHookInstalled = true;
  // `unload` handlers cannot await, so this is a synchronous SIGKILL of each group.
  globalThis.addEventListener("unload", () => {
    for (const p of registry) p.killGroupSync("SIGKILL");
  });
}

export interface SpawnOptions {
  /** Argument vector; the first element is the program. */
  argv: readonly string[];
  /** Every output line, stdout and stderr, is appended here. */
  logFile: string;
  /** Directory holding one `<pid>.pid` file per live child (see `reapOrphans`). */
  pidDir: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Called for each output line, after it was written to the log. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A running child process with its output captured line by line. */
export class Proc implements AsyncDisposable {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly logFile: string;
  /** Resolves when the process exited and its output was fully read. */
  readonly done: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #exited: Deno.CommandStatus | undefined;

  private constructor(child: Deno.ChildProcess, opts: SpawnOptions) {
    this.#child = child;
    this.pid = child.pid;
    this.argv = opts.argv;
    this.logFile = opts.logFile;
    const pidFile = `${opts.pidDir}/${child.pid}.pid`;
    Deno.writeTextFileSync(pidFile, `${opts.logFile}\n`);
    const log = Deno.openSync(opts.logFile, { append: true, create: true });
    const pump = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
      const enc = new TextEncoder();
      for await (const line of lines(stream)) {
        log.writeSync(enc.encode(`${line}\n`));
        opts.onLine?.(line, name);
      }
    };
    this.done = (async () => {
      const [status] = await Promise.all([
        child.status,
        pump(child.stdout, "stdout"),
        pump(child.stderr, "stderr"),
      ]);
      log.close();
      this.#exited = status;
      registry.delete(this);
      // The run directory may already be gone.
      await Deno.remove(pidFile).catch(() => {});
      return status;
    })();
  }

  static spawn(opts: SpawnOptions): Proc {
    const [program, ...args] = opts.argv;
    if (program === undefined) throw new Error("Proc.spawn: empty argv");
    installUnloadHook();
    const child = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    }).spawn();
    const p = new Proc(child, opts);
    registry.add(p);
    return p;
  }

  /** The exit status, or undefined while it runs. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exited;
  }

  /** Sends a signal to the whole process group; a no-op once it exited. */
  killGroupSync(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      Deno.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone (the exit is not reaped yet).
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process exited and its output is drained. */
  async stop(graceMs = 5_000): Promise<Deno.CommandStatus> {
    if (this.#exited) return this.#exited;
    this.killGroupSync("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.killGroupSync("SIGKILL");
        resolve();
      }, graceMs);
    });
    try {
      await Promise.race([this.done, killed]);
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Resident and peak resident memory in bytes, from /proc (Linux); undefined once exited. */
  memory(): { rss: number; peak: number } | undefined {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
      const kb = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
      return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
    } catch {
      return undefined;
    }
  }
}

/** Splits a byte stream into text lines (without the newline). */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) yield rest;
}

/** The last `n` lines of a log file, for error messages. */
export function tail(path: string, n = 40): string {
  try {
    const all = Deno.readTextFileSync(path).trimEnd().split("\n");
    return all.slice(-n).join("\n");
  } catch (e) {
    return `(cannot read ${path}: ${e instanceof Error ? e.message : String(e)})`;
  }
}

/** Whether a process exists (signal 0 is not in Deno.Signal, so /proc it is). */
function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills children left behind by earlier test processes that died without running their unload hook (SIGKILL,
 * OOM). Run directories are named `<prefix><owner pid>-*`; a child is only killed when its command line still
 * mentions the run directory, so a recycled pid is never hit.
 */
export function reapOrphans(tmpRoot: string, prefix: string): void {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(tmpRoot)];
  } catch {
    return;
  }
  for (const e of entries) {
    const m = e.name.startsWith(prefix) ? e.name.slice(prefix.length).match(/^(\d+)-/) : null;
    if (!e.isDirectory || !m || alive(Number(m[1]))) continue;
    const runDir = `${tmpRoot}/${e.name}`;
    let pidFiles: Deno.DirEntry[] = [];
    try {
      pidFiles = [...Deno.readDirSync(`${runDir}/pids`)];
    } catch { /* no children recorded */ }
    for (const f of pidFiles) {
      const pid = Number(f.name.replace(/\.pid$/, ""));
      try {
        const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
        if (cmdline.includes(runDir)) Deno.kill(-pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    try {
      Deno.removeSync(runDir, { recursive: true });
    } catch { /* best effort */ }
  }
}
