/**
 * A drain in dry-run mode: every eviction and every delete of a finished pod is sent once with `dryRun=All`,
 * so the apiserver's answers (a PDB that would refuse, a webhook) show up in the log, and nothing is waited
 * for since nothing really goes away.
 */
import { describeApiError, isNotFound } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { classifyEvictionError } from "./answer.ts";
import { type Pod, podKey } from "./pods.ts";
import type { PodRef, PodRequests } from "./requests.ts";

export type DryRunOutcome =
  | { ok: true; wouldEvict: number; wouldDelete: number; durationMs: number }
  | { ok: false; failure: string };

export async function dryRunDrain(
  requests: PodRequests,
  node: string,
  pods: { evict: readonly Pod[]; delete: readonly Pod[] },
  opts: { log: Logger; minRetryMs: number; /** performance.now() at the drain's start */ started: number },
): Promise<DryRunOutcome> {
  const { log } = opts;
  let failure: string | undefined;
  let wouldEvict = 0;
  let wouldBlock = 0;
  await Promise.all(pods.evict.map(async (pod) => {
    const t = ref(pod);
    try {
      await requests.evict(t);
      wouldEvict++;
      log.info("dry run: would evict pod", { pod: t.key });
    } catch (e) {
      const answer = classifyEvictionError(e, opts.minRetryMs);
      if (answer.kind === "gone") return;
      if (answer.kind === "fatal") {
        failure ??= `cannot evict pod ${t.key} from node ${node}: ${answer.message}`;
        log.warn("dry run: eviction would fail", { pod: t.key, error: answer.message });
      } else {
        wouldBlock++;
        log.info("dry run: eviction would block for now", {
          pod: t.key,
          why: answer.kind === "retry" ? answer.why : "its namespace is terminating",
        });
      }
    }
  }));
  await Promise.all(pods.delete.map(async (pod) => {
    const t = ref(pod);
    try {
      await requests.delete(t);
      log.info("dry run: would delete finished pod", { pod: t.key });
    } catch (e) {
      if (!isNotFound(e)) {
        log.warn("dry run: delete would fail", { pod: t.key, error: describeApiError(e) });
      }
    }
  }));
  if (failure !== undefined) return { ok: false, failure };
  const durationMs = Math.round(performance.now() - opts.started);
  const wouldDelete = pods.delete.length;
  log.info("dry run: drain checked", { wouldEvict, wouldBlock, wouldDelete, durationMs });
  return { ok: true, wouldEvict, wouldDelete, durationMs };
}

function ref(pod: Pod): PodRef & { key: string } {
  return { key: podKey(pod), namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "" };
}
