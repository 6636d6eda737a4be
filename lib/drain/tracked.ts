/** Where each pod of a drain stands, and how one list of the node's pods settles those that are terminating. */
import { type Pod, podKey } from "./pods.ts";

export type PodState =
  | { s: "evicting" }
  | { s: "blocked"; why: string }
  | { s: "terminating" }
  | { s: "gone" };

export interface Tracked {
  pod: Pod;
  key: string;
  namespace: string;
  name: string;
  uid: string;
  state: PodState;
}

export function track(pod: Pod): Tracked {
  return {
    pod,
    key: podKey(pod),
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? "",
    state: { s: "evicting" },
  };
}

/**
 * Marks gone every waiting pod that is absent from `live` or replaced there (another UID), and every one
 * `terminatingTooLong` says is no longer waited for; returns the latter.
 */
export function settleTerminating(
  waiting: readonly Tracked[],
  live: readonly Pod[],
  terminatingTooLong: (pod: Pod) => boolean,
): Tracked[] {
  const byKey = new Map(live.map((p) => [podKey(p), p]));
  const givenUp: Tracked[] = [];
  for (const t of waiting) {
    const pod = byKey.get(t.key);
    if (pod === undefined || pod.metadata?.uid !== t.uid) {
      t.state = { s: "gone" };
    } else if (terminatingTooLong(pod)) {
      t.state = { s: "gone" };
      givenUp.push(t);
    }
  }
  return givenUp;
}

export function describeState(state: PodState): string {
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
