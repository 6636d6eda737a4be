/**
 * A harness process that is started again when it exits, as a kubelet restarts a control-plane static pod.
 * kube-scheduler, for one, exits on purpose when its cache sees a pod move between nodes, which can follow an
 * apiserver restart in the middle of a binding; on a real cluster its kubelet brings it back, and so does this.
 */
import { Proc, type SpawnOptions, tail } from "./proc.ts";

/** More restarts than this and the component is broken, not unlucky. */
const MAX_RESTARTS = 5;
const RESTART_DELAY_MS = 1_000;

export interface Exit {
  at: Date;
  code: number;
  /** The end of its log at the time. */
  tail: string;
}

export class Supervised {
  readonly name: string;
  /** Every exit that was not asked for, in order. */
  readonly exits: Exit[] = [];
  #opts: SpawnOptions;
  #proc: Proc;
  #stopping = false;
  #restart: ReturnType<typeof setTimeout> | undefined;

  constructor(name: string, opts: SpawnOptions) {
    this.name = name;
    this.#opts = opts;
    this.#proc = this.#spawn();
  }

  /** The current process. */
  get proc(): Proc {
    return this.#proc;
  }

  get logFile(): string {
    return this.#opts.logFile;
  }

  /** Why this component is to be given up on (too many exits), with its log tail; undefined while it is fine. */
  failure(): string | undefined {
    if (this.exits.length <= MAX_RESTARTS) return undefined;
    const last = this.exits.at(-1);
    return `${this.name} exited ${this.exits.length} times, last with code ${last?.code}\n` +
      `--- tail of ${this.logFile} ---\n${last?.tail}`;
  }

  #spawn(): Proc {
    const proc = Proc.spawn(this.#opts);
    void proc.done.then((status) => {
      if (this.#stopping) return;
      this.exits.push({ at: new Date(), code: status.code, tail: tail(this.logFile) });
      console.error(
        `harness: ${this.name} exited with code ${status.code}; starting it again as its kubelet would ` +
          `(${this.exits.length} so far; log ${this.logFile})`,
      );
      if (this.exits.length > MAX_RESTARTS) return;
      this.#restart = setTimeout(() => {
        this.#restart = undefined;
        if (!this.#stopping) this.#proc = this.#spawn();
      }, RESTART_DELAY_MS);
    });
    return proc;
  }

  /** Stops it for good (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restart);
    await this.#proc.stop();
  }
}
