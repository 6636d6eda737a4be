/**
 * Which Leases make up the lock, for one configuration (`--ds-name`, `--group-label`, `--max-concurrency-total`):
 * every group's slots, the total cap's slots, the queue entries and the pause, all labelled with the lock's
 * label so that one LIST and one watch see them all. The group codec itself (group value → name fragment,
 * annotations) is lib/budget/group.ts; this file decides what a listed Lease is to the lock.
 *
 * - A group's slots: `<ds>-slot-<i>` without `--group-label` (today's names), else `<ds>-g-<fragment>-slot-<i>`.
 * - The total cap's slots (`--max-concurrency-total`): `<ds>-total-slot-<i>`. A node holds one of them as well
 *   as its group's slot, so the cap is a compare-and-swap too, never a count that two racers could both pass.
 * - A queue entry per waiting node: `<ds>-queue-<node>` (lib/lock/queue_entry.ts).
 * - A slot written for another `--group-label` (the flag changed) is `foreign`: it belongs to no current
 *   group, but its holder still counts, against every group and the total, until it is given back.
 */
import {
  decodeLeaseGroup,
  type Group,
  groupKey,
  groupLeaseMetadata,
  groupSlotIndex,
  slotLeaseName,
} from "../budget/mod.ts";
import { asRecord, pauseLeaseName, stringMap } from "./slots.ts";

export type LeaseRole =
  | { role: "pause" }
  | { role: "queue" }
  | { role: "slot"; set: "group"; group: Group; key: string; index: number }
  | { role: "slot"; set: "total"; index: number }
  | { role: "slot"; set: "foreign" }
  | { role: "other" };

export type SlotRole = Extract<LeaseRole, { role: "slot" }>;

const INDEX = /^(0|[1-9][0-9]{0,4})$/;

export class LockLayout {
  readonly dsName: string;
  /** `--group-label`; "" = all nodes are one group. */
  readonly groupLabel: string;

  constructor(dsName: string, groupLabel: string) {
    this.dsName = dsName;
    this.groupLabel = groupLabel;
  }

  /** Slot `index` of group `g` (`<ds>-slot-<i>` for the one group without `--group-label`). */
  slotName(g: Group, index: number): string {
    return slotLeaseName(this.dsName, g, this.groupLabel, index);
  }

  totalSlotName(index: number): string {
    return `${this.dsName}-total-slot-${index}`;
  }

  /** The labels and annotations a group's Leases carry besides the lock's label (none for the one group). */
  groupMetadata(g: Group): { labels: Record<string, string>; annotations: Record<string, string> } {
    return groupLeaseMetadata(g, this.groupLabel);
  }

  /** What a Lease listed with the lock's label is to this configuration. */
  classify(lease: unknown): LeaseRole {
    const meta = asRecord(asRecord(lease).metadata);
    const name = typeof meta.name === "string" ? meta.name : "";
    const ds = this.dsName;
    if (name === pauseLeaseName(ds)) return { role: "pause" };
    if (name.startsWith(`${ds}-queue-`)) return { role: "queue" };
    const total = `${ds}-total-slot-`;
    if (name.startsWith(total)) {
      const rest = name.slice(total.length);
      return INDEX.test(rest) ? { role: "slot", set: "total", index: Number(rest) } : { role: "other" };
    }
    const plain = `${ds}-slot-`;
    const grouped = name.startsWith(`${ds}-g-`) && /-slot-(0|[1-9][0-9]{0,4})$/.test(name);
    if (!grouped && !(name.startsWith(plain) && INDEX.test(name.slice(plain.length)))) {
      return { role: "other" };
    }
    const { group, foreign } = decodeLeaseGroup(
      stringMap(meta.labels),
      stringMap(meta.annotations),
      this.groupLabel,
    );
    const index = foreign ? undefined : groupSlotIndex(ds, group, this.groupLabel, name);
    if (index === undefined) return { role: "slot", set: "foreign" };
    return { role: "slot", set: "group", group, key: groupKey(group), index };
  }
}
