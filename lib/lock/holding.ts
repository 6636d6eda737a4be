/**
 * The slots this node holds — its group's slot and, with `--max-concurrency-total`, a total-cap slot — and
 * every write to them: taking one, recording the holder's phase, renewing, giving back. Each write is a
 * compare-and-swap (lib/lock/cas.ts); a slot found gone or taken throws LostSlotError.
 */
import type { Logger } from "../log.ts";
import { LostSlotError, patchHeldSlot } from "./cas.ts";
import type { SlotObserver } from "./observer.ts";
import type { Candidate } from "./plan.ts";
import {
  acquirePatch,
  decodeSlot,
  microTimeString,
  newSlotLease,
  releasePatch,
  SLOT_ANNOTATIONS,
  type SlotRecord,
} from "./slots.ts";
import type { LeaseStore } from "./store.ts";

export interface HolderState {
  phase: string;
  bootId?: string;
  wasUnschedulable?: boolean;
}

/** The labels and annotations of a group's Leases (lib/lock/groups.ts). */
export interface GroupMetadata {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface HeldSlotsOptions {
  namespace: string;
  dsName: string;
  node: string;
  ttlMs: number;
  now: () => number;
  log: Logger;
}

export class HeldSlots {
  /** The group slot this node holds. */
  group: SlotRecord | undefined;
  /** The total-cap slot this node holds. */
  total: SlotRecord | undefined;
  readonly #store: LeaseStore;
  readonly #seen: SlotObserver;
  readonly #o: HeldSlotsOptions;
  readonly #refresh: () => Promise<void>;

  /** `refresh` reads the slots again (after a conflict) and updates `group` and `total`. */
  constructor(store: LeaseStore, seen: SlotObserver, o: HeldSlotsOptions, refresh: () => Promise<void>) {
    this.#store = store;
    this.#seen = seen;
    this.#o = o;
    this.#refresh = refresh;
  }

  /** Takes what the observer says this node holds; a dry-run acquisition, never stored, is kept. */
  sync(group: SlotRecord | undefined, total: SlotRecord | undefined): void {
    if (!(this.#store.dryRun && this.group && !group)) this.group = group;
    if (!(this.#store.dryRun && this.total && !total)) this.total = total;
  }

  /**
   * Writes this node as the holder of a slot (as read): a create, or a patch carrying its resourceVersion. A
   * group's slot gets the group's labels and annotations; a total-cap slot only the holder.
   */
  async take(c: Candidate, state: HolderState, group?: GroupMetadata): Promise<SlotRecord> {
    const record = c.record;
    if (c.view) this.#explainTakeover(c);
    const fields = {
      holder: this.#o.node,
      ...state,
      ...(this.#o.ttlMs > 0 ? { leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.ttlMs / 1000)) } : {}),
      transitions: record.transitions,
      now: new Date(this.#o.now()),
    };
    let written;
    if (record.resourceVersion === "") {
      const body = newSlotLease(this.#o.namespace, this.#o.dsName, c.name, fields);
      if (group) {
        const meta = body.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
        Object.assign(meta.labels, group.labels);
        Object.assign(meta.annotations, group.annotations);
      }
      written = await this.#store.createLease(body);
    } else {
      const patch = acquirePatch(record.resourceVersion, fields);
      if (group) {
        const meta = patch.metadata as Record<string, Record<string, unknown>>;
        meta.labels = group.labels;
        Object.assign(meta.annotations ?? {}, group.annotations);
      }
      written = await this.#store.patchLease(c.name, patch);
    }
    const rec = decodeSlot(written);
    // A dry run stores nothing: the slot is remembered with the resourceVersion of the real Lease ("" when
    // there is none), so that later writes are validated against it, or skipped.
    return this.#store.dryRun ? { ...rec, resourceVersion: record.resourceVersion } : this.#seen.observe(rec);
  }

  #explainTakeover(c: Candidate): void {
    const v = c.view?.verdict;
    if (v?.kind === "orphaned" || v?.kind === "expired") {
      this.#o.log.warn("taking over a slot whose holder is gone or silent", {
        slot: c.name,
        holder: v.holder,
        why: v.kind === "orphaned" ? "holder Node does not exist" : "holder silent past --lock-ttl",
      });
    }
    if (c.record.problems.length) {
      this.#o.log.warn("repairing a slot Lease with unreadable holder fields", {
        slot: c.name,
        problems: c.record.problems,
      });
    }
  }

  /**
   * Updates what the holder records (phase, release deadline). If the slot turns out to belong to someone else,
   * LostSlotError says so and the caller must stop disrupting the node.
   */
  async update(
    fields: { phase?: string; releaseAfter?: Date | null; bootId?: string; evicted?: string | null },
  ): Promise<SlotRecord> {
    const annotations: Record<string, string | null> = {};
    if (fields.evicted !== undefined) annotations[SLOT_ANNOTATIONS.evicted] = fields.evicted;
    if (fields.phase !== undefined) annotations[SLOT_ANNOTATIONS.phase] = fields.phase;
    if (fields.bootId !== undefined) annotations[SLOT_ANNOTATIONS.bootId] = fields.bootId;
    if (fields.releaseAfter !== undefined) {
      annotations[SLOT_ANNOTATIONS.releaseAfter] = fields.releaseAfter
        ? fields.releaseAfter.toISOString()
        : null;
    }
    const rec = await this.#writeHeld((rv) => ({
      metadata: { resourceVersion: rv, annotations },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
    // The keeper takes this write for a renewal: with a TTL the total-cap slot must be renewed with it.
    if (this.#o.ttlMs > 0) await this.#renewTotal();
    return rec;
  }

  /** Tells other nodes the holder is alive (only meaningful with --lock-ttl). */
  async renew(): Promise<void> {
    await this.#writeHeld((rv) => ({
      metadata: { resourceVersion: rv },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
    await this.#renewTotal();
  }

  async #renewTotal(): Promise<void> {
    const total = this.total;
    if (!total || (this.#store.dryRun && total.resourceVersion === "")) return;
    const out = await patchHeldSlot(this.#store, this.#totalSource(), (rv) => ({
      metadata: { resourceVersion: rv },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
    if (out.kind === "gone") {
      this.total = undefined;
      throw new LostSlotError(out.slot, out.holder);
    }
    if (!this.#store.dryRun) this.total = this.#seen.observe(decodeSlot(out.lease));
  }

  async #writeHeld(body: (rv: string) => Record<string, unknown>): Promise<SlotRecord> {
    const mine = this.group;
    if (!mine) throw new LostSlotError("(none)", "");
    // A dry-run acquisition of a slot that did not exist was never stored: there is nothing to patch.
    if (this.#store.dryRun && mine.resourceVersion === "") return mine;
    const out = await patchHeldSlot(this.#store, this.#source(), body);
    if (out.kind === "gone") {
      this.group = undefined;
      throw new LostSlotError(out.slot, out.holder);
    }
    const rec = decodeSlot(out.lease);
    this.group = this.#store.dryRun
      ? { ...rec, resourceVersion: out.slot.resourceVersion }
      : this.#seen.observe(rec);
    return this.group;
  }

  /** Frees the group slot `held` (as last read). Releasing a slot that is not ours is a no-op, never a steal. */
  async releaseGroup(held: SlotRecord): Promise<void> {
    if (this.#store.dryRun && held.resourceVersion === "") {
      // Acquired in a dry run where no Lease existed: nothing was created, so there is nothing to give back.
      this.group = undefined;
      this.#o.log.info("would release slot (dry run)", { slot: held.name });
      return;
    }
    let out;
    try {
      out = await patchHeldSlot(this.#store, this.#source(), (rv) => releasePatch(rv));
    } catch (e) {
      throw new Error(`cannot release slot ${held.name}: ${describe(e)}`);
    }
    this.group = undefined;
    if (out.kind === "gone") return;
    if (!this.#store.dryRun) this.#seen.observe(decodeSlot(out.lease));
    this.#o.log.info(this.#store.dryRun ? "would release slot (dry run)" : "released slot", {
      slot: out.slot.name,
    });
  }

  async giveBackTotal(): Promise<void> {
    const total = this.total;
    if (!total) return;
    if (this.#store.dryRun && total.resourceVersion === "") {
      this.total = undefined;
      return;
    }
    try {
      const out = await patchHeldSlot(this.#store, this.#totalSource(), (rv) => releasePatch(rv));
      if (out.kind === "written" && !this.#store.dryRun) this.#seen.observe(decodeSlot(out.lease));
    } catch (e) {
      throw new Error(`cannot release total-cap slot ${total.name}: ${describe(e)}`);
    }
    this.total = undefined;
  }

  #source() {
    return this.#sourceOf(() => this.group, (r) => (this.group = r));
  }

  #totalSource() {
    return this.#sourceOf(() => this.total, (r) => (this.total = r));
  }

  #sourceOf(get: () => SlotRecord | undefined, set: (r: SlotRecord | undefined) => void) {
    return {
      held: get,
      reread: async () => {
        // What the server says now decides, also for a dry-run acquisition kept only in memory.
        const before = get();
        set(undefined);
        try {
          await this.#refresh();
        } catch (e) {
          // Nothing was learnt: keep believing what was known.
          if (get() === undefined) set(before);
          throw e;
        }
      },
      holderOf: (name: string) => this.#seen.get(name)?.holder ?? "",
    };
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
