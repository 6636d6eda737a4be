/**
 * Compare-and-swap writes of the slot this node holds. Every write is a merge patch carrying the
 * resourceVersion that was read: a racing writer gets a conflict, re-reads and looks again, so two nodes can
 * never both believe they wrote last. Updates, renewals and the release all go through `patchHeldSlot`.
 */
import type { SlotRecord } from "./slots.ts";
import { LeaseConflict, LeaseNotFound, type LeaseStore } from "./store.ts";

/** How many conflicts in a row a write sits out before it gives up until the caller's next try. */
export const MAX_CAS_ATTEMPTS = 8;

export class LostSlotError extends Error {
  constructor(slot: string, holder: string) {
    super(
      `slot ${slot} is no longer held by this node` +
        (holder ? ` (holder now ${JSON.stringify(holder)})` : " (it was freed or deleted)"),
    );
  }
}

export type CasOutcome =
  /** The patch was applied to `slot` (as it was read); `lease` is the server's answer. */
  | { kind: "written"; slot: SlotRecord; lease: unknown }
  /** The slot is not this node's any more: its Lease is gone, or a re-read shows another holder or none. */
  | { kind: "gone"; slot: string; holder: string };

export interface HeldSlotSource {
  /** The slot this node holds as last read, undefined when it holds none. */
  held(): SlotRecord | undefined;
  /** Reads the slots again after a conflict (updates what `held` returns). */
  reread(): Promise<void>;
  /** The holder of a slot as last read ("" when free or unknown). */
  holderOf(name: string): string;
}

/**
 * Applies `body(resourceVersion)` to the held slot, re-reading after each conflict. Throws only what the store
 * throws besides a conflict (the API server is away), or when the slot kept changing for MAX_CAS_ATTEMPTS
 * rounds.
 */
export async function patchHeldSlot(
  store: LeaseStore,
  source: HeldSlotSource,
  body: (resourceVersion: string) => Record<string, unknown>,
): Promise<CasOutcome> {
  let name = source.held()?.name ?? "(none)";
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const mine = source.held();
    if (!mine) return { kind: "gone", slot: name, holder: source.holderOf(name) };
    name = mine.name;
    try {
      return {
        kind: "written",
        slot: mine,
        lease: await store.patchLease(mine.name, body(mine.resourceVersion)),
      };
    } catch (e) {
      if (e instanceof LeaseNotFound) return { kind: "gone", slot: mine.name, holder: "" };
      if (!(e instanceof LeaseConflict)) throw e;
      await source.reread();
    }
  }
  throw new Error(`cannot write slot ${name}: it kept changing under us; will retry`);
}
