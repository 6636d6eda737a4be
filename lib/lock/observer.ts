/**
 * What this node has seen of the slots, and when: the state behind every verdict on a slot held by another
 * node. Silence is counted as client-go's leader election counts it
 * (https://github.com/kubernetes/client-go/blob/master/tools/leaderelection/leaderelection.go, `observedTime`):
 * from the local moment this observer last saw the record change, never from timestamps inside it.
 *
 * One addition: time during which this observer could not see the Leases (its reads failed, its watch was
 * down) is not the holder's silence. The holder could not write either, when the API server was away; so the
 * silence clocks stop while the observer is blind, and the first successful read afterwards restarts them all:
 * after an outage every holder gets a full TTL to renew.
 *
 * And time in which it did not look at all (its watch was closed when the node stopped waiting, until its next
 * read) is not counted either: the clocks stand still meanwhile. A node that leaves waiting and then finds the
 * API server away in its gates never reads the Leases, so it never goes blind; without this, its first read
 * after the outage counted the whole outage as the holder's silence and took over a live holder's slot.
 */
import { judgeSlot, type SlotRecord, type SlotVerdict } from "./slots.ts";

export interface ObserverOptions {
  me: string;
  /** `--lock-ttl` in ms; 0 = a holder is never considered silent. */
  ttlMs: number;
  now: () => number;
}

export class SlotObserver {
  readonly #o: ObserverOptions;
  readonly #slots = new Map<string, SlotRecord>();
  /** Local time at which each record was last seen to change (its resourceVersion). */
  readonly #changedAt = new Map<string, number>();
  /** Since when this observer cannot see the Leases; undefined while it can. */
  #blindSince: number | undefined;
  /** Since when this observer has not been looking (no watch open, no read since); undefined while it is. */
  #awaySince: number | undefined;

  constructor(o: ObserverOptions) {
    this.#o = o;
  }

  /** Records a slot as read or watched; its silence clock restarts when its resourceVersion changed. */
  observe(rec: SlotRecord): SlotRecord {
    const prev = this.#slots.get(rec.name);
    if (!prev || prev.resourceVersion !== rec.resourceVersion) this.#changedAt.set(rec.name, this.#o.now());
    this.#slots.set(rec.name, rec);
    return rec;
  }

  forget(name: string): void {
    this.#slots.delete(name);
    this.#changedAt.delete(name);
  }

  /**
   * Takes a complete, successful read of the slots: what is not in it no longer exists. Ends blindness, and
   * then every silence clock restarts now.
   */
  replaceAll(records: SlotRecord[]): void {
    const seen = new Set(records.map((r) => r.name));
    if (this.#awaySince !== undefined && this.#blindSince === undefined) {
      // The clocks stood still while this observer was not looking: move them on by that time.
      const away = this.#o.now() - this.#awaySince;
      for (const [name, at] of this.#changedAt) this.#changedAt.set(name, at + away);
    }
    this.#awaySince = undefined;
    for (const name of [...this.#slots.keys()]) if (!seen.has(name)) this.forget(name);
    for (const rec of records) this.observe(rec);
    this.regainSight();
  }

  /**
   * Sight is back with nothing missed (a complete read, or a watch resumed where it broke off): blindness ends,
   * and every silence clock restarts now.
   */
  regainSight(): void {
    if (this.#blindSince === undefined) return;
    const now = this.#o.now();
    for (const name of this.#changedAt.keys()) this.#changedAt.set(name, now);
    this.#blindSince = undefined;
  }

  /** From now until the next successful read, this observer cannot see changes (a read failed, a watch ended). */
  blind(): void {
    this.#blindSince ??= this.#o.now();
  }

  /** This observer stops looking (its watch is closed) until its next successful read; the clocks stand still. */
  lookAway(): void {
    this.#awaySince ??= this.#o.now();
  }

  get isBlind(): boolean {
    return this.#blindSince !== undefined;
  }

  get(name: string): SlotRecord | undefined {
    return this.#slots.get(name);
  }

  names(): string[] {
    return [...this.#slots.keys()];
  }

  /** The slot (of those `which` accepts by name) this node holds according to what it saw. */
  mine(which: (name: string) => boolean = () => true): SlotRecord | undefined {
    return [...this.#slots.values()].find((s) => s.holder === this.#o.me && which(s.name));
  }

  /** Other nodes that hold a slot. */
  otherHolders(): string[] {
    return [...this.#slots.values()].map((s) => s.holder).filter((h) => h !== "" && h !== this.#o.me);
  }

  /** This observer's verdict on a slot; `holderExists` as far as it is known. */
  judge(record: SlotRecord, holderExists?: boolean): SlotVerdict {
    // While blind or away, the clock stands still at the moment sight was lost.
    const now = this.#blindSince ?? this.#awaySince ?? this.#o.now();
    return judgeSlot(record, {
      me: this.#o.me,
      now,
      observedAt: Math.min(now, this.#changedAt.get(record.name) ?? now),
      ttlMs: this.#o.ttlMs,
      ...(holderExists === undefined ? {} : { holderExists }),
    });
  }
}
