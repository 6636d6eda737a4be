/**
 * Every phase change `decide` can make, declared as data. The handlers in this folder are the code; this table
 * is what a reader checks them against, and tests/unit/machine/table_test.ts fails when a handler makes a
 * change that is not here, or when a row here is never made. Staying in a phase is not a transition.
 *
 * The usual cycle:
 *   idle -> required -> (waiting ->) cordoning -> draining -> reboot-delay -> rebooting -> (the host goes down)
 *   startup -> recovering -> uncordoning -> release-delay -> releasing -> idle
 * and the way back without a reboot: cordoning | draining | reboot-delay -> retreating -> releasing -> idle.
 */
import type { Phase } from "./phases.ts";

export interface Transition {
  from: Phase;
  to: Phase;
  /** When `decide` makes it, in a few words. */
  when: string;
}

export const TRANSITIONS: readonly Transition[] = [
  // A (re)started daemon picks up where the slot's Lease says it stood.
  { from: "startup", to: "idle", when: "holds no slot" },
  {
    from: "startup",
    to: "recovering",
    when: "holds a slot and the node rebooted (or no boot ID to compare), or the Lease says recovering",
  },
  { from: "startup", to: "uncordoning", when: "restarted in uncordoning after the reboot" },
  { from: "startup", to: "release-delay", when: "restarted in release-delay after the reboot" },
  { from: "startup", to: "releasing", when: "restarted in releasing after the reboot" },
  { from: "startup", to: "cordoning", when: "restarted in cordoning before the cordon, no reboot yet" },
  {
    from: "startup",
    to: "draining",
    when: "restarted after the cordon (kreboot's annotation on the node) and before the reboot",
  },
  {
    from: "startup",
    to: "retreating",
    when: "restarted in retreating, the recorded phase is unreadable, or cordoned by us without a slot",
  },

  // Before a slot.
  { from: "idle", to: "required", when: "the sentinel says a reboot is needed" },
  { from: "required", to: "cordoning", when: "a slot was acquired" },
  { from: "required", to: "waiting", when: "no free slot, or reboots are paused" },
  { from: "required", to: "idle", when: "the sentinel is gone or cannot be read" },
  { from: "waiting", to: "cordoning", when: "a slot was acquired" },
  { from: "waiting", to: "required", when: "a gate blocks" },
  { from: "waiting", to: "idle", when: "the sentinel is gone or cannot be read" },

  // Holding a slot, not rebooted yet (the guarded phases).
  { from: "cordoning", to: "draining", when: "cordoned" },
  { from: "cordoning", to: "idle", when: "gave the slot back: blocked, or no reboot needed any more" },
  {
    from: "cordoning",
    to: "retreating",
    when: "the cordon failed, the slot was lost, or (restarted here) blocked or no reboot needed any more",
  },
  { from: "cordoning", to: "reboot-delay", when: "the cordon failed, with --force-reboot" },
  { from: "draining", to: "reboot-delay", when: "drained, or the drain failed with --force-reboot" },
  { from: "draining", to: "retreating", when: "the drain failed, or the slot was lost" },
  { from: "reboot-delay", to: "rebooting", when: "--reboot-delay is over (at once in dry run)" },
  { from: "reboot-delay", to: "retreating", when: "the slot was lost" },
  { from: "rebooting", to: "releasing", when: "dry run: the reboot command was only printed" },

  // After the reboot, or on the way back without one.
  {
    from: "recovering",
    to: "uncordoning",
    when: "the health gate passed, or timed out on a Ready node (the failure recorded); the guard told",
  },
  { from: "uncordoning", to: "release-delay", when: "uncordoned" },
  { from: "release-delay", to: "releasing", when: "--release-delay is over" },
  { from: "retreating", to: "releasing", when: "the cordon, taint and labels are undone" },
  { from: "releasing", to: "idle", when: "the slot was given back" },
];
