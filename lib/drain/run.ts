/**
 * One drain of a node with `kubectl drain`'s semantics and kured's settings: pods are chosen by
 * `selectPodsToDrain`, evicted through the policy/v1 Eviction subresource (so PDBs are honoured) all at once
 * with at most `maxInFlight` requests in flight, finished pods are deleted, and the drain waits until every one
 * of them is gone (404, or a new pod with the same name). Unlike kubectl/kured it never hot-loops on a 429
 * (each refused pod waits `max(Retry-After, 5 s)` on its own while the others go on), stops at once on an abort
 * or the drain timeout, fails fast on answers only a human can fix (a pod under two PDBs), and reports which
 * PDB holds up which pod. Also unlike kubectl, it is over only when a list of the node's pods shows nothing
 * left to drain: a pod bound after the first list (by a scheduler that had not yet seen the cordon) is
 * drained too, instead of going down with the reboot.
 *
 * kubectl's drain, for comparison:
 * https://github.com/kubernetes/kubectl/blob/master/pkg/drain/drain.go
 */
import { apiStatus, describeApiError, isNotFound } from "../kube/mod.ts";
import { sleep } from "../sleep.ts";
import { listNames } from "../gates/gate.ts";
import { classifyEvictionError } from "./answer.ts";
import { MIN_EVICTION_RETRY_MS } from "./backoff.ts";
import { dryRunDrain } from "./dry_run.ts";
import { Limiter } from "./limit.ts";
import { listNodePods, listPdbs } from "./list.ts";
import { pdbName, pdbsCovering } from "./pdb.ts";
import {
  controllerKind,
  deletionTime,
  describeSkip,
  hasEmptyDir,
  type Pod,
  podKey,
  selectPodsToDrain,
} from "./pods.ts";
import { type DrainKube, PodRequests } from "./requests.ts";
import type { DrainOptions, DrainResult } from "./options.ts";

export type { DrainKube };
export type { DrainOptions, DrainResult, EvictionResult } from "./options.ts";

type PodState =
  | { s: "evicting" }
  | { s: "blocked"; why: string }
  | { s: "terminating" }
  | { s: "gone" };

interface Tracked {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  state: PodState;
}

/** Drains `node`. Never throws for API errors; the result says what went wrong and which pods remain. */
export async function drain(kube: DrainKube, node: string, opts: DrainOptions): Promise<DrainResult> {
  return await new DrainRun(kube, node, opts).run();
}

class DrainRun {
  #kube: DrainKube;
  #node: string;
  #o: DrainOptions;
  #now: () => Date;
  #requests: PodRequests;
  #minRetryMs: number;
  /** Aborted on a fatal answer, the timeout, the caller's signal, or when the drain is over. */
  #stop = new AbortController();
  #failure: string | undefined;
  #timedOut = false;
  #tracked: Tracked[] = [];
  #workers: Promise<void>[] = [];
  #evicted = 0;
  #deleted = 0;

  constructor(kube: DrainKube, node: string, opts: DrainOptions) {
    this.#kube = kube;
    this.#node = node;
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#requests = new PodRequests(kube, new Limiter(opts.maxInFlight ?? 20), opts.gracePeriodSeconds);
    this.#minRetryMs = opts.minRetryMs ?? MIN_EVICTION_RETRY_MS;
  }

  async run(): Promise<DrainResult> {
    const started = performance.now();
    const { log } = this.#o;
    const onAbort = () => this.#stop.abort();
    this.#o.signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#o.signal?.aborted) this.#stop.abort();
    const timer = this.#o.timeoutMs > 0
      ? setTimeout(() => {
        this.#timedOut = true;
        this.#stop.abort();
      }, this.#o.timeoutMs)
      : undefined;
    try {
      let pods: Pod[];
      try {
        pods = await listNodePods(this.#kube, this.#node, this.#o.podSelector);
      } catch (e) {
        return this.#fail(`cannot list the pods on node ${this.#node}: ${describeApiError(e)}`);
      }
      const sel = selectPodsToDrain(pods, this.#o, this.#now());
      for (const { pod, reason } of sel.skip) {
        log.info("not draining pod", { pod: podKey(pod), why: describeSkip(reason) });
      }
      for (const pod of sel.evict) {
        const notes = [
          hasEmptyDir(pod) ? "its emptyDir data will be lost" : "",
          controllerKind(pod) === undefined ? "it has no controller, nothing will recreate it" : "",
        ].filter(Boolean);
        if (notes.length > 0) log.warn("evicting pod anyway", { pod: podKey(pod), why: notes.join("; ") });
      }
      log.info("draining node", {
        evict: sel.evict.length,
        delete: sel.delete.length,
        skip: sel.skip.length,
        dryRun: this.#kube.dryRun,
      });
      if (this.#kube.dryRun) {
        const r = await dryRunDrain(this.#requests, this.#node, sel, {
          log,
          minRetryMs: this.#minRetryMs,
          started,
        });
        return r.ok
          ? { ok: true, evicted: r.wouldEvict, deleted: r.wouldDelete, durationMs: r.durationMs }
          : this.#fail(r.failure);
      }

      this.#start(sel);
      await this.#waitUntilGone();
      this.#stop.abort();
      await Promise.all(this.#workers);

      if (this.#failure !== undefined) return this.#fail(this.#failure);
      if (this.#timedOut) {
        return this.#fail(
          `drain of node ${this.#node} timed out after ${
            this.#o.timeoutMs / 1000
          }s with ${this.#remaining().length} pod(s) left: ${this.#describeRemaining()}`,
        );
      }
      if (this.#o.signal?.aborted) {
        return this.#fail(
          `drain of node ${this.#node} was interrupted (shutdown) with pods left: ${this.#describeRemaining()}`,
        );
      }
      const durationMs = Math.round(performance.now() - started);
      log.info("node drained", { evicted: this.#evicted, deleted: this.#deleted, durationMs });
      return { ok: true, evicted: this.#evicted, deleted: this.#deleted, durationMs };
    } finally {
      clearTimeout(timer);
      this.#o.signal?.removeEventListener("abort", onAbort);
      this.#stop.abort();
    }
  }

  #fail(reason: string): DrainResult {
    this.#o.log.error("drain failed", { reason });
    return { ok: false, reason, timedOut: this.#timedOut, remaining: this.#remaining().map((t) => t.key) };
  }

  #remaining(): Tracked[] {
    return this.#tracked.filter((t) => t.state.s !== "gone");
  }

  #describeRemaining(): string {
    const parts = this.#remaining().map((t) => `${t.key} (${describeState(t.state)})`);
    return parts.length === 0 ? "none" : listNames(parts);
  }

  /** Asks for the eviction until it is accepted, the pod is gone, the answer is fatal, or the drain stops. */
  async #evict(t: Tracked): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.#requests.evict(t);
        this.#evicted++;
        this.#o.onEviction?.("evicted");
        t.state = { s: "terminating" };
        this.#o.log.info("evicted pod", { pod: t.key });
        return;
      } catch (e) {
        if (signal.aborted) return;
        const answer = classifyEvictionError(e, this.#minRetryMs);
        switch (answer.kind) {
          case "gone":
            t.state = { s: "gone" };
            return;
          case "fatal":
            this.#o.onEviction?.("failed");
            await this.#fatal(t, answer.message, answer.multiplePdbs);
            return;
          case "namespace-terminating":
            if (await this.#podStatus(t) !== "present") {
              // Already terminating (or gone) with its namespace: just wait for it.
              t.state = { s: "terminating" };
              return;
            }
            t.state = { s: "blocked", why: "its namespace is terminating" };
            await sleep(answer.delayMs, signal);
            break;
          case "retry":
            if (apiStatus(e) === 429) this.#o.onEviction?.("retry-429");
            t.state = { s: "blocked", why: answer.why };
            await sleep(answer.delayMs, signal);
            break;
        }
      }
      if (signal.aborted) return;
      // Someone else may have removed or replaced the pod while we waited (kubectl re-reads it too).
      const status = await this.#podStatus(t);
      if (status === "gone") {
        t.state = { s: "gone" };
        return;
      }
    }
  }

  /** Deletes a finished pod (retrying only when the apiserver is unreachable). */
  async #delete(t: Tracked): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.#requests.delete(t, t.uid);
        this.#deleted++;
        this.#o.onEviction?.("deleted");
        t.state = { s: "terminating" };
        this.#o.log.info("deleted finished pod", { pod: t.key });
        return;
      } catch (e) {
        if (signal.aborted) return;
        // 404: gone; 409: the UID precondition failed, so this pod is gone and another took its name.
        const status = apiStatus(e);
        if (status === 404 || status === 409) {
          t.state = { s: "gone" };
          return;
        }
        if (status !== undefined && status !== 503 && status !== 504) {
          this.#o.onEviction?.("failed");
          await this.#fatal(t, describeApiError(e), false);
          return;
        }
        t.state = { s: "blocked", why: describeApiError(e) };
        await sleep(this.#minRetryMs, signal);
      }
    }
  }

  /** Ends the drain at once with a message that names the pod and, for PDB trouble, the PDBs. */
  async #fatal(t: Tracked, message: string, multiplePdbs: boolean): Promise<void> {
    let detail = message;
    if (multiplePdbs) {
      try {
        const pod = await this.#kube.core.readNamespacedPod({ namespace: t.namespace, name: t.name });
        const pdbs = pdbsCovering(pod, await listPdbs(this.#kube, new Set([t.namespace])));
        detail = `it is covered by more than one PodDisruptionBudget (${
          pdbs.map(pdbName).join(", ") || "unknown"
        }), which the eviction API does not support; make exactly one PDB select it`;
      } catch {
        detail =
          `it is covered by more than one PodDisruptionBudget, which the eviction API does not support (${message})`;
      }
    }
    this.#failure ??= `cannot evict pod ${t.key} from node ${this.#node}: ${detail}`;
    this.#stop.abort();
  }

  async #podStatus(t: Tracked): Promise<"present" | "terminating" | "gone"> {
    try {
      const pod = await this.#requests.read(t);
      if (pod.metadata?.uid !== t.uid) return "gone";
      return deletionTime(pod) === undefined ? "present" : "terminating";
    } catch (e) {
      if (isNotFound(e)) return "gone";
      return "present"; // unknown: keep trying as if it were still there
    }
  }

  /** Tracks the selected pods and starts evicting or deleting each. */
  #start(sel: { evict: Pod[]; delete: Pod[] }): void {
    for (const [pods, work] of [[sel.evict, "evict"], [sel.delete, "delete"]] as const) {
      for (const pod of pods) {
        const t = track(pod);
        this.#tracked.push(t);
        this.#workers.push(work === "evict" ? this.#evict(t) : this.#delete(t));
      }
    }
  }

  /**
   * One list of the node's pods per poll interval settles every pod at once: gone when absent or replaced
   * (other UID), or no longer waited for when it has been terminating beyond --skip-wait-for-delete-timeout.
   * The same list shows pods bound to the node since the drain began, which are drained as well.
   */
  async #waitUntilGone(): Promise<void> {
    const signal = this.#stop.signal;
    const poll = this.#o.pollIntervalMs ?? 1_000;
    const every = this.#o.progressIntervalMs ?? 5_000;
    let lastProgress = performance.now();
    while (!signal.aborted) {
      let listed = false;
      try {
        const pods = await this.#requests.limiter.run(() =>
          listNodePods(this.#kube, this.#node, this.#o.podSelector)
        );
        listed = true;
        const live = new Map(pods.map((p) => [podKey(p), p]));
        for (const t of this.#tracked.filter((t) => t.state.s === "terminating")) {
          const pod = live.get(t.key);
          if (pod === undefined || pod.metadata?.uid !== t.uid) {
            t.state = { s: "gone" };
          } else if (this.#terminatingTooLong(pod)) {
            this.#o.log.info("not waiting any longer for pod", {
              pod: t.key,
              why: describeSkip("terminating"),
            });
            t.state = { s: "gone" };
          }
        }
        const known = new Set(this.#tracked.map((t) => t.uid));
        const late = selectPodsToDrain(
          pods.filter((p) => !known.has(p.metadata?.uid ?? "")),
          this.#o,
          this.#now(),
        );
        if (late.evict.length + late.delete.length > 0) {
          this.#o.log.info("draining pods bound to the node after the drain began", {
            pods: [...late.evict, ...late.delete].map(podKey),
          });
          this.#start(late);
        }
      } catch (e) {
        this.#o.log.warn("cannot list pods while waiting for the drain; will retry", {
          error: describeApiError(e),
        });
      }
      const remaining = this.#remaining();
      // Over only on a list that showed nothing new to drain.
      if (remaining.length === 0 && listed) return;
      if (performance.now() - lastProgress >= every) {
        lastProgress = performance.now();
        this.#o.log.info("drain in progress", {
          remaining: remaining.length,
          pods: remaining.map((t) => `${t.key}: ${describeState(t.state)}`),
        });
      }
      await sleep(poll, signal);
    }
  }

  #terminatingTooLong(pod: Pod): boolean {
    const skip = this.#o.skipWaitForDeleteTimeoutSeconds;
    const since = deletionTime(pod);
    return skip > 0 && since !== undefined && this.#now().getTime() - since.getTime() > skip * 1000;
  }
}

function track(pod: Pod): Tracked {
  return {
    key: podKey(pod),
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    state: { s: "evicting" },
  };
}

function describeState(state: PodState): string {
  switch (state.s) {
    case "evicting":
      return "evicting";
    case "blocked":
      return `waiting to evict: ${state.why}`;
    case "terminating":
      return "terminating";
    case "gone":
      return "gone";
  }
}
