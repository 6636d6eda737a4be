/**
 * One drain of a node with `kubectl drain`'s semantics and kured's settings: pods are chosen by
 * `selectPodsToDrain`, evicted through the policy/v1 Eviction subresource (so PDBs are honoured) all at once
 * with at most `maxInFlight` requests in flight, finished pods are deleted, and the drain waits until every one
 * of them is gone (404, or a new pod with the same name). Unlike kubectl/kured it never hot-loops on a 429
 * (each refused pod waits `max(Retry-After, 5 s)` on its own while the others go on), stops at once on an abort
 * or the drain timeout, fails fast on answers only a human can fix (a pod under two PDBs), and reports every
 * pod that holds it up with its cause (lib/drain/blocked.ts). A pod an admission webhook denies is asked again
 * with a growing backoff; with `--drain-disable-eviction-after` a pod still refused is deleted instead. Also
 * unlike kubectl, it is over only when a list of the node's pods shows nothing left to drain: a pod bound after
 * the first list (by a scheduler that had not yet seen the cordon) is drained too, instead of going down with
 * the reboot.
 *
 * kubectl's drain, for comparison:
 * https://github.com/kubernetes/kubectl/blob/master/pkg/drain/drain.go
 */
import { apiStatus, describeApiError, isNotFound } from "../kube/mod.ts";
import { sleep } from "../sleep.ts";
import { listNames } from "../gates/gate.ts";
import { classifyEvictionError } from "./answer.ts";
import { admissionRetryDelayMs, MIN_EVICTION_RETRY_MS } from "./backoff.ts";
import { BlockedPods } from "./blocked.ts";
import { classifyBlocker, describeBlocker, type DrainBlocker } from "./blockers.ts";
import { dryRunDrain } from "./dry_run.ts";
import { Limiter } from "./limit.ts";
import { explainMultiplePdbs, listNodePods } from "./list.ts";
import {
  controllerKind,
  deletionTime,
  describeSkip,
  hasEmptyDir,
  type Pod,
  podKey,
  selectPodsToDrain,
} from "./pods.ts";
import type { DrainOptions, DrainResult } from "./options.ts";
import { type DrainKube, PodRequests } from "./requests.ts";
import { describeState, type PodState, settleTerminating, track, type Tracked } from "./tracked.ts";

export type { DrainKube };
export type { DrainOptions, DrainResult, EvictionResult } from "./options.ts";

/** See `DrainOptions.settleMs`. */
const DEFAULT_SETTLE_MS = 2_000;

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
  #blocked: BlockedPods;
  /** performance.now() when the drain started. */
  #startedAt = 0;

  constructor(kube: DrainKube, node: string, opts: DrainOptions) {
    this.#kube = kube;
    this.#node = node;
    this.#o = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#requests = new PodRequests(kube, new Limiter(opts.maxInFlight ?? 20), opts.gracePeriodSeconds);
    this.#minRetryMs = opts.minRetryMs ?? MIN_EVICTION_RETRY_MS;
    this.#blocked = new BlockedPods({
      intervalMs: opts.progressIntervalMs ?? 5_000,
      ...(opts.onBlocked ? { onBlocked: opts.onBlocked } : {}),
    });
  }

  async run(): Promise<DrainResult> {
    const started = performance.now();
    this.#startedAt = started;
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
      let pods: readonly Pod[];
      try {
        pods = this.#o.pods ?? await listNodePods(this.#kube, this.#node, this.#o.podSelector);
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

      const refused = await this.#start(sel);
      if (refused !== undefined) return this.#fail(refused);
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
      this.#blocked.finish();
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
        this.#settled(t, { s: "terminating" });
        this.#o.log.info("evicted pod", { pod: t.key });
        return;
      } catch (e) {
        if (signal.aborted) return;
        const answer = classifyEvictionError(e, this.#minRetryMs);
        let delayMs: number;
        switch (answer.kind) {
          case "gone":
            this.#settled(t, { s: "gone" });
            return;
          case "fatal":
            this.#o.onEviction?.("failed");
            await this.#fatal(t, answer.message, answer.multiplePdbs);
            return;
          case "namespace-terminating":
            if (await this.#podStatus(t) !== "present") {
              // Already terminating (or gone) with its namespace: just wait for it.
              this.#settled(t, { s: "terminating" });
              return;
            }
            t.state = { s: "blocked", why: "its namespace is terminating" };
            delayMs = answer.delayMs;
            break;
          case "retry":
            if (apiStatus(e) === 429) this.#o.onEviction?.("retry-429");
            t.state = { s: "blocked", why: answer.why };
            delayMs = answer.delayMs;
            break;
        }
        // An unreachable or overloaded apiserver is no fault of the pod's: only real refusals are blockers.
        const blocker = classifyBlocker(t.pod, e, []);
        if (blocker.kind !== "other") {
          const denials = this.#blocked.refused(t.key, blocker);
          if (blocker.kind === "admission") delayMs = admissionRetryDelayMs(denials, this.#minRetryMs);
          if (await this.#deleteInstead(t, blocker)) return;
          delayMs = Math.min(delayMs, this.#untilDeleteInsteadMs());
        }
        await sleep(delayMs, signal);
      }
      if (signal.aborted) return;
      // Someone else may have removed or replaced the pod while we waited (kubectl re-reads it too).
      const status = await this.#podStatus(t);
      if (status === "gone") {
        this.#settled(t, { s: "gone" });
        return;
      }
    }
  }

  /** The pod no longer waits for its eviction: it is terminating or gone. */
  #settled(t: Tracked, state: PodState): void {
    t.state = state;
    this.#blocked.cleared(t.key);
  }

  /** How long until blocked pods are deleted instead of evicted (Infinity: never). */
  #untilDeleteInsteadMs(): number {
    const after = this.#o.disableEvictionAfterMs ?? 0;
    if (after <= 0) return Infinity;
    return Math.max(0, after - (performance.now() - this.#startedAt)) + 10;
  }

  /**
   * With `--drain-disable-eviction-after`, once that long into the drain: deletes the blocked pod instead of
   * evicting it (as system-upgrade-controller's disableEviction does), bypassing its PDBs. True when the pod
   * no longer needs an eviction.
   */
  async #deleteInstead(t: Tracked, blocker: DrainBlocker): Promise<boolean> {
    if (this.#untilDeleteInsteadMs() > 10) return false;
    const why = describeBlocker(blocker);
    try {
      await this.#requests.delete(t, t.uid);
    } catch (e) {
      const status = apiStatus(e);
      if (status === 404 || status === 409) {
        this.#settled(t, { s: "gone" });
        return true;
      }
      this.#o.log.warn("could not delete the pod instead of evicting it; asking again", {
        pod: t.key,
        error: describeApiError(e),
      });
      return false;
    }
    this.#deleted++;
    this.#o.onEviction?.("deleted");
    this.#settled(t, { s: "terminating" });
    this.#o.log.warn("deleted pod instead of evicting it (--drain-disable-eviction-after)", {
      pod: t.key,
      why,
    });
    this.#o.onDeletedInstead?.(t.key, why);
    return true;
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
    const detail = multiplePdbs
      ? await explainMultiplePdbs(this.#kube, t.namespace, t.name, message)
      : message;
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

  /**
   * Tracks the selected pods and starts evicting or deleting each, after `beforeEvicting` heard of the pods to
   * evict; when it refuses, nothing starts and its message is returned.
   */
  async #start(sel: { evict: Pod[]; delete: Pod[] }): Promise<string | undefined> {
    if (this.#o.beforeEvicting && sel.evict.length > 0) {
      try {
        await this.#o.beforeEvicting(sel.evict);
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    }
    for (const [pods, work] of [[sel.evict, "evict"], [sel.delete, "delete"]] as const) {
      for (const pod of pods) {
        const t = track(pod);
        this.#tracked.push(t);
        this.#workers.push(work === "evict" ? this.#evict(t) : this.#delete(t));
      }
    }
    return undefined;
  }

  /**
   * One list of the node's pods per poll interval settles every pod at once: gone when absent or replaced
   * (other UID), or no longer waited for when it has been terminating beyond --skip-wait-for-delete-timeout.
   * The same list shows pods bound to the node since the drain began, which are drained as well.
   */
  async #waitUntilGone(): Promise<void> {
    const signal = this.#stop.signal;
    const poll = this.#o.pollIntervalMs ?? 1_000;
    const settleMs = this.#o.settleMs ?? DEFAULT_SETTLE_MS;
    const every = this.#o.progressIntervalMs ?? 5_000;
    let lastProgress = performance.now();
    // The first look comes at the settle point: evictions take a moment to turn into deletions, and no list
    // before that point can end the drain.
    const unsettled = () => settleMs - (performance.now() - this.#startedAt);
    while (unsettled() > 0 && !signal.aborted) await sleep(unsettled(), signal);
    while (!signal.aborted) {
      let listed = false;
      const listSentAt = performance.now();
      try {
        const pods = await this.#requests.limiter.run(() =>
          listNodePods(this.#kube, this.#node, this.#o.podSelector)
        );
        listed = true;
        const waiting = this.#tracked.filter((t) => t.state.s === "terminating");
        for (const t of settleTerminating(waiting, pods, (p) => this.#terminatingTooLong(p))) {
          this.#o.log.info("not waiting any longer for pod", {
            pod: t.key,
            why: describeSkip("terminating"),
          });
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
          const refused = await this.#start(late);
          if (refused !== undefined) {
            this.#failure ??= refused;
            this.#stop.abort();
          }
        }
      } catch (e) {
        this.#o.log.warn("cannot list pods while waiting for the drain; will retry", {
          error: describeApiError(e),
        });
      }
      this.#blocked.flush();
      const remaining = this.#remaining();
      // Over only on a list that showed nothing new to drain, sent once a late binding has had time to land.
      const unsettledMs = settleMs - (listSentAt - this.#startedAt);
      if (remaining.length === 0 && listed && unsettledMs <= 0) return;
      if (performance.now() - lastProgress >= every) {
        lastProgress = performance.now();
        this.#o.log.info("drain in progress", {
          remaining: remaining.length,
          pods: remaining.map((t) => `${t.key}: ${describeState(t.state)}`),
        });
      }
      await sleep(remaining.length === 0 && listed ? Math.min(poll, unsettledMs) : poll, signal);
    }
  }

  #terminatingTooLong(pod: Pod): boolean {
    const skip = this.#o.skipWaitForDeleteTimeoutSeconds;
    const since = deletionTime(pod);
    return skip > 0 && since !== undefined && this.#now().getTime() - since.getTime() > skip * 1000;
  }
}
