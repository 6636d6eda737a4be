/**
 * The daemon under test as a real process on a simulated node. The harness owns the node's "host": the reboot
 * sentinel file and the reboot command, which only touches a marker. When the marker appears the harness
 * simulates the reboot: SIGKILL the daemon, node NotReady, new bootID, sentinel and marker gone, node Ready,
 * daemon started again with the same argv (as the DaemonSet's pod would be).
 */
import { apiStatus } from "../../lib/kube/mod.ts";
import { freePort, REPO_ROOT } from "./controlplane.ts";
import type { RebootSimulation } from "./nodes.ts";
import { Proc, tail } from "./proc.ts";

export interface DaemonOptions {
  /** Kubeconfig the daemon uses (typically from `serviceAccountKubeconfig`). */
  kubeconfig: string;
  /** Extra daemon flags, after the harness's own. */
  args?: string[];
  /** Extra environment (added to the test process's environment). */
  env?: Record<string, string>;
  /** Replaces `deno run -A <repo>/main.ts`; the harness flags and `args` are still appended. */
  command?: string[];
  /** Create the sentinel before the first process starts (a node that needs a reboot from the outset). */
  rebootRequired?: boolean;
  /** How long the simulated node stays NotReady during a reboot; default 300 ms. */
  rebootDowntimeMs?: number;
  /**
   * With kwok: how long after the node is Ready again its pods' containers take to start (and its DaemonSet
   * pods to be Ready, which kreboot waits for); default 1500 ms.
   */
  podRestartMs?: number;
  /** Called around each simulated reboot (e.g. by the safety monitor). */
  rebootHooks?: RebootHooks;
}

export interface RebootHooks {
  /** The reboot marker was seen; the daemon is still running and nothing was changed yet. */
  before?(d: Daemon): Promise<void> | void;
  /** The node is Ready again with its new bootID; the daemon is about to be started again. */
  after?(d: Daemon): Promise<void> | void;
}

export interface DaemonLine {
  stream: "stdout" | "stderr";
  text: string;
  /** 0 for the first process, n after the n-th simulated reboot. */
  boot: number;
}

export type LineMatcher = RegExp | ((line: string) => boolean);

interface Waiter {
  match: (l: DaemonLine) => boolean;
  resolve: (l: DaemonLine) => void;
  fail: (e: Error) => void;
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? v as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Retries an API call for up to 30 s while the apiserver is unreachable or answers 5xx/429 (a chaos test may be
 * restarting it in the middle of a simulated reboot); other errors fail at once.
 */
export async function retrying<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      const status = apiStatus(e);
      const transient = status === undefined || status >= 500 || status === 429;
      if (!transient || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export interface DaemonContext {
  /** What happens to the Node (and its pods) while the host is down. */
  reboots: RebootSimulation;
  /** Per-node files go to `<dir>/<node>/`. */
  dir: string;
  pidDir: string;
}

export class Daemon implements AsyncDisposable {
  readonly node: string;
  readonly nodeDir: string;
  readonly sentinel: string;
  readonly rebootedMarker: string;
  readonly logFile: string;
  readonly argv: readonly string[];
  /** Where this daemon serves /metrics and /healthz. */
  readonly metricsPort = freePort();
  /** Every output line of every incarnation, in order. */
  readonly lines: DaemonLine[] = [];
  /** Simulated reboots so far. */
  reboots = 0;
  /** bootIDs the node got from simulated reboots, in order. */
  readonly bootIDs: string[] = [];
  #ctx: DaemonContext;
  #opts: DaemonOptions;
  #proc!: Proc;
  #waiters = new Set<Waiter>();
  #lineListeners = new Set<(line: DaemonLine) => void>();
  #rebootWaiters = new Set<() => void>();
  #rebooting = false;
  #restarting = false;
  /** Crashes simulated with `crash()` so far. */
  crashes = 0;
  #stopped = false;
  #failure: Error | undefined;
  /** Set when the process exited on its own (no reboot, crash or stop of the harness's doing). */
  #exitError: Error | undefined;
  #watcher: Promise<void> | undefined;
  #ac = new AbortController();

  constructor(ctx: DaemonContext, node: string, opts: DaemonOptions) {
    this.#ctx = ctx;
    this.#opts = opts;
    this.node = node;
    this.nodeDir = `${ctx.dir}/${node}`;
    this.sentinel = `${this.nodeDir}/reboot-required`;
    this.rebootedMarker = `${this.nodeDir}/rebooted`;
    this.logFile = `${this.nodeDir}/daemon.log`;
    this.argv = [
      ...(opts.command ?? [Deno.execPath(), "run", "-A", `${REPO_ROOT}/main.ts`]),
      `--node-id=${node}`,
      `--kubeconfig=${opts.kubeconfig}`,
      `--reboot-sentinel=${this.sentinel}`,
      `--reboot-command=touch ${this.rebootedMarker}`,
      "--nsenter=false",
      "--log-format=json",
      // Many daemons share this host: each gets its own metrics port (a later --metrics-port in args wins).
      `--metrics-host=127.0.0.1`,
      `--metrics-port=${this.metricsPort}`,
      ...(opts.args ?? []),
    ];
  }

  /** Starts the process and the reboot watcher. */
  async start(): Promise<this> {
    await Deno.mkdir(this.nodeDir, { recursive: true });
    if (this.#opts.rebootRequired) await this.setRebootRequired(true);
    this.#spawn();
    this.#watcher = this.#watchReboots();
    return this;
  }

  /** The current process. */
  get proc(): Proc {
    return this.#proc;
  }

  #spawn(): void {
    const boot = this.reboots;
    Deno.writeTextFileSync(this.logFile, `### harness: start #${boot}: ${this.argv.join(" ")}\n`, {
      append: true,
    });
    this.#proc = Proc.spawn({
      argv: this.argv,
      logFile: this.logFile,
      pidDir: this.#ctx.pidDir,
      env: { NO_COLOR: "1", ...this.#opts.env },
      cwd: REPO_ROOT,
      onLine: (text, stream) => this.#onLine({ stream, text, boot }),
    });
    const proc = this.#proc;
    proc.done.then((status) => {
      // An exit the harness did not cause fails every pending wait with the log tail, instead of a timeout.
      if (this.#rebooting || this.#restarting || this.#stopped || proc !== this.#proc) return;
      const err = new Error(
        `daemon on ${this.node} exited with code ${status.code}` +
          `${status.signal ? ` (signal ${status.signal})` : ""}\n--- tail of ${this.logFile} ---\n${
            tail(this.logFile)
          }`,
      );
      for (const w of this.#waiters) w.fail(err);
      // Nobody restarts it: a wait for reboots can fail now too, rather than at its timeout.
      this.#exitError = err;
      for (const w of this.#rebootWaiters) w();
    });
  }

  /** Calls `listener` with every line from now on, as it arrives. Returns an unsubscribe. */
  onLine(listener: (line: DaemonLine) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  #onLine(line: DaemonLine): void {
    this.lines.push(line);
    for (const l of [...this.#lineListeners]) l(line);
    for (const w of this.#waiters) {
      if (w.match(line)) w.resolve(line);
    }
  }

  /** Creates (true) or removes (false) the reboot sentinel file. */
  async setRebootRequired(required: boolean): Promise<void> {
    if (required) {
      await Deno.writeTextFile(this.sentinel, "");
    } else {
      await Deno.remove(this.sentinel).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
  }

  /**
   * Resolves with the first line (since line index `since`, default 0) matching; rejects after `timeoutMs`, or
   * as soon as the daemon exits on its own, with the tail of its log.
   */
  waitForLine(matcher: LineMatcher, timeoutMs = 30_000, opts: { since?: number } = {}): Promise<DaemonLine> {
    const test = typeof matcher === "function" ? matcher : (l: string) => matcher.test(l);
    const found = this.lines.slice(opts.since ?? 0).find((l) => test(l.text));
    if (found) return Promise.resolve(found);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#proc.exited && !this.#rebooting) {
      return Promise.reject(
        new Error(
          `daemon on ${this.node} already exited (code ${this.#proc.exited.code}) without a line ` +
            `matching ${String(matcher)}\n--- tail of ${this.logFile} ---\n${tail(this.logFile)}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match: (l) => test(l.text),
        resolve: (l) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(l);
        },
        fail: (e) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          reject(new Error(`${e.message}\n(while waiting for ${String(matcher)})`, { cause: e }));
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(
            `no daemon line on ${this.node} matching ${String(matcher)} within ${timeoutMs} ms` +
              `\n--- tail of ${this.logFile} ---\n${tail(this.logFile)}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /**
   * Like `waitForLine` for JSON log lines (`--log-format=json`): resolves with the first parsed object the
   * predicate accepts. Lines that are not JSON objects are skipped.
   */
  async waitForJson(
    predicate: (entry: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
    opts: { since?: number } = {},
  ): Promise<Record<string, unknown>> {
    const line = await this.waitForLine(
      (l) => {
        const entry = parseJsonObject(l);
        return entry !== undefined && predicate(entry);
      },
      timeoutMs,
      opts,
    );
    return parseJsonObject(line.text) ?? {};
  }

  /** Resolves once `reboots >= n`. */
  async waitForReboots(n: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.reboots < n) {
      if (this.#failure) throw this.#failure;
      if (this.#exitError) throw this.#exitError;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `daemon on ${this.node}: ${this.reboots} reboots, wanted ${n} within ${timeoutMs} ms` +
            `\n--- tail of ${this.logFile} ---\n${tail(this.logFile)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 1_000));
        const waiter = done;
        this.#rebootWaiters.add(waiter);
        function done() {
          clearTimeout(t);
          resolve();
        }
      });
    }
  }

  /** Sends a signal to the daemon's process group (the harness will not restart it unless it reboots). */
  kill(signal: Deno.Signal): void {
    this.#proc.killGroupSync(signal);
  }

  /**
   * `kill -9` of the daemon (no reboot), then a new process after `restartAfterMs`, as the kubelet restarts a
   * crashed container. A simulated reboot already under way is left to finish.
   */
  async crash(restartAfterMs = 0): Promise<void> {
    if (this.#rebooting || this.#stopped) return;
    this.#restarting = true;
    try {
      const proc = this.#proc;
      proc.killGroupSync("SIGKILL");
      await proc.done;
      this.crashes++;
      if (restartAfterMs > 0) await new Promise((r) => setTimeout(r, restartAfterMs));
      if (!this.#ac.signal.aborted && !this.#rebooting && proc === this.#proc) this.#spawn();
    } finally {
      this.#restarting = false;
    }
  }

  /** Stops the reboot watcher and the process (SIGTERM, SIGKILL after `graceMs`); returns the exit status. */
  async stop(graceMs = 10_000): Promise<Deno.CommandStatus> {
    this.#stopped = true;
    this.#ac.abort();
    await this.#watcher;
    return await this.#proc.stop(graceMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #watchReboots(): Promise<void> {
    while (!this.#ac.signal.aborted) {
      await new Promise((r) => setTimeout(r, 100));
      if (this.#ac.signal.aborted) return;
      try {
        await Deno.stat(this.rebootedMarker);
      } catch {
        continue;
      }
      try {
        await this.#simulateReboot();
      } catch (e) {
        this.#failure = new Error(`simulated reboot of ${this.node} failed: ${String(e)}`, { cause: e });
        for (const w of this.#waiters) w.fail(this.#failure);
        return;
      }
    }
  }

  async #simulateReboot(): Promise<void> {
    const reboots = this.#ctx.reboots;
    this.#rebooting = true;
    try {
      await this.#opts.rebootHooks?.before?.(this);
      this.#proc.killGroupSync("SIGKILL");
      await this.#proc.done;
      const bootID = crypto.randomUUID();
      await retrying(() => reboots.down(this.node, bootID));
      this.bootIDs.push(bootID);
      await Deno.remove(this.sentinel).catch(() => {});
      await Deno.remove(this.rebootedMarker);
      await new Promise((r) => setTimeout(r, this.#opts.rebootDowntimeMs ?? 300));
      await retrying(() =>
        reboots.up(this.node, { podRestartMs: this.#opts.podRestartMs ?? 1_500, retry: retrying })
      );
      this.reboots++;
      await this.#opts.rebootHooks?.after?.(this);
      if (!this.#ac.signal.aborted) this.#spawn();
    } finally {
      this.#rebooting = false;
    }
    for (const w of this.#rebootWaiters) w();
    this.#rebootWaiters.clear();
  }
}
