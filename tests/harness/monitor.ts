/**
 * The safety monitor: it watches Nodes, the slot Leases and the daemons' logged phases for a whole run and
 * records a violation whenever one of kreboot's safety promises is broken. A chaos run is only as good as this
 * referee, so every rule is written down here and in the README's "Safety" section:
 *
 * 1. `disruption`: more than `concurrency` nodes disrupted at once (with `--max-concurrency-total`, pass the
 *    cap). Disrupted = cordoned by kreboot (the node annotation `kreboot.dev/cordoned`), NotReady, or between
 *    the harness seeing the reboot marker and the node coming back. `group-disruption`: with `groupLabel`, more
 *    than `groupConcurrency` nodes of one group (the nodes with one value of that label, or without it)
 *    disrupted at once.
 * 2. `cordon-without-slot`: a node cordoned by kreboot while no slot Lease names it as holder, for longer than
 *    `cordonGraceMs` (default 10 s) of continuous observation. The clock restarts whenever the monitor's view
 *    was interrupted (an apiserver outage), i.e. the grace counts "after recovery".
 * 3. `admin-uncordoned`: a node that was cordoned by someone else (unschedulable without kreboot's annotation
 *    when first seen, or declared with `adminCordoned()`) became schedulable.
 * 4. `orphaned-slot`: a slot held by a node that no longer exists for longer than `orphanGraceMs` (default
 *    5 s, the lock's promise, plus 2 s for observation lag) while at least one live daemon is waiting for a slot
 *    (its last logged phase is `waiting`). With nobody waiting, nobody is harmed by the stale slot, and the lock
 *    frees it on the next acquisition attempt, so the clock does not run.
 * 5. `reboot-without-drain`: when the harness sees a reboot marker, the node must be unschedulable (cordoned by
 *    kreboot, or by the administrator) and have no pod left that a drain would evict or delete — unless the
 *    run uses `--force-reboot`.
 * 6. `reboot-without-sentinel`: when the harness sees a reboot marker, the node's sentinel must exist. The
 *    simulated reboot removes it, so this catches a node rebooting again without its sentinel coming back.
 *
 * Use: `const mon = await SafetyMonitor.start(cluster.kube, {...})`, pass `mon.rebootHooks` to every
 * `startDaemon`, `mon.attach(daemon)` so its phases are followed, and `await mon.stop()` at the end; then
 * `mon.violations` must be empty.
 */
import type * as k8s from "@kubernetes/client-node";
import { selectPodsToDrain } from "../../lib/drain/pods.ts";
import { CORDONED_BY_KREBOOT } from "../../lib/drain/node.ts";
import type { TestKube as Kube } from "./full_kube.ts";
import { LockLayout } from "../../lib/lock/groups.ts";
import { decodeSlot, LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type Daemon, type RebootHooks, retrying } from "./daemon.ts";

export type Rule =
  | "disruption"
  | "group-disruption"
  | "cordon-without-slot"
  | "admin-uncordoned"
  | "orphaned-slot"
  | "reboot-without-drain"
  | "reboot-without-sentinel";

export interface Violation {
  /** ms since the monitor started. */
  atMs: number;
  rule: Rule;
  node?: string;
  detail: string;
}

export interface MonitorOptions {
  dsName: string;
  namespace: string;
  /** N: the most nodes that may be disrupted at once. */
  concurrency: number;
  /** `--group-label` of the run ("" = one group): slot Leases are named by group, and rule 1 counts per group. */
  groupLabel?: string;
  /** The most nodes of one group that may be disrupted at once (default: `concurrency`). */
  groupConcurrency?: number;
  /** Which nodes belong to the run (default: all). */
  nodeFilter?: (name: string) => boolean;
  forceReboot?: boolean;
  cordonGraceMs?: number;
  orphanGraceMs?: number;
}

interface NodeView {
  /** The value of the run's group label ("" without it). */
  group: string;
  unschedulable: boolean;
  ours: boolean;
  ready: boolean;
}

interface DaemonView {
  daemon: Daemon;
  cursor: number;
  phase: string;
}

type WatchEvent = { type: string; object: Record<string, unknown> };

/** List-then-watch that re-lists after every break (apiserver restarts included) until stopped. */
class Reflector {
  #stopped = false;
  #abort: AbortController | undefined;
  #loop: Promise<void>;
  synced = false;

  constructor(
    private readonly kube: Kube,
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly list: () => Promise<{ items: unknown[]; rv: string }>,
    private readonly onSync: (items: unknown[]) => void,
    private readonly onEvent: (e: WatchEvent) => void,
    private readonly onBreak: () => void,
  ) {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const { items, rv } = await this.list();
        if (this.#stopped) return;
        this.onSync(items);
        this.synced = true;
        await new Promise<void>((resolve) => {
          this.kube.watch.watch(
            this.path,
            { ...this.query, resourceVersion: rv, allowWatchBookmarks: "false" },
            (type, obj) => this.onEvent({ type, object: obj as Record<string, unknown> }),
            () => resolve(),
          ).then((ac) => {
            this.#abort = ac;
            if (this.#stopped) ac.abort();
          }, () => resolve());
        });
      } catch {
        // The apiserver is away: try again shortly.
      }
      if (this.synced) this.onBreak();
      this.synced = false;
      if (!this.#stopped) await new Promise((r) => setTimeout(r, 300));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    await this.#loop;
  }
}

export class SafetyMonitor {
  readonly violations: Violation[] = [];
  /** The most nodes disrupted at the same moment. */
  maxDisrupted = 0;
  /** The most slots held at the same moment. */
  maxHolders = 0;
  /** The most nodes of each group (its label value) disrupted at the same moment. */
  readonly maxDisruptedPerGroup = new Map<string, number>();
  /** Reboot markers seen, per node. */
  readonly reboots = new Map<string, number>();
  readonly #t0 = Date.now();
  readonly #kube: Kube;
  readonly #o: Required<Omit<MonitorOptions, "nodeFilter">> & { nodeFilter: (n: string) => boolean };
  readonly #layout: LockLayout;
  readonly #nodes = new Map<string, NodeView>();
  /** Slot Lease name -> holder node ("" = free). */
  readonly #slots = new Map<string, string>();
  readonly #admin = new Set<string>();
  readonly #rebooting = new Set<string>();
  readonly #daemons = new Map<string, DaemonView>();
  readonly #cordonSince = new Map<string, number>();
  /** When each node was last seen becoming unschedulable (for the reboot-without-drain detail). */
  readonly #cordonedAt = new Map<string, number>();
  readonly #orphanSince = new Map<string, number>();
  /** Open episodes already reported, so one problem is one violation and not one per event. */
  readonly #open = new Set<string>();
  #firstNodeSync = true;
  #slotListeners = new Set<(holder: string, phase: string | undefined) => void>();
  #reflectors: Reflector[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(kube: Kube, opts: MonitorOptions) {
    this.#kube = kube;
    this.#o = {
      forceReboot: false,
      cordonGraceMs: 10_000,
      orphanGraceMs: 7_000,
      nodeFilter: () => true,
      groupLabel: "",
      groupConcurrency: opts.concurrency,
      ...opts,
    };
    this.#layout = new LockLayout(opts.dsName, this.#o.groupLabel);
  }

  static async start(kube: Kube, opts: MonitorOptions): Promise<SafetyMonitor> {
    const m = new SafetyMonitor(kube, opts);
    await m.#start();
    return m;
  }

  async #start(): Promise<void> {
    const { namespace, dsName } = this.#o;
    const selector = `${LOCK_LABEL}=${dsName}`;
    this.#reflectors = [
      new Reflector(
        this.#kube,
        "/api/v1/nodes",
        {},
        async () => {
          const l = await this.#kube.core.listNode();
          return { items: l.items, rv: l.metadata?.resourceVersion ?? "" };
        },
        (items) => {
          this.#nodes.clear();
          for (const n of items) this.#onNode("ADDED", n as Record<string, unknown>);
          this.#firstNodeSync = false;
          this.#evaluate();
        },
        (e) => {
          this.#onNode(e.type, e.object);
          this.#evaluate();
        },
        () => this.#interrupted(),
      ),
      new Reflector(
        this.#kube,
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        { labelSelector: selector },
        async () => {
          const l = await this.#kube.coord.listNamespacedLease({ namespace, labelSelector: selector });
          return { items: l.items, rv: l.metadata?.resourceVersion ?? "" };
        },
        (items) => {
          this.#slots.clear();
          for (const l of items) this.#onLease("ADDED", l);
          this.#evaluate();
        },
        (e) => {
          this.#onLease(e.type, e.object);
          this.#evaluate();
        },
        () => this.#interrupted(),
      ),
    ];
    const deadline = Date.now() + 30_000;
    while (!this.#reflectors.every((r) => r.synced)) {
      if (Date.now() > deadline) throw new Error("safety monitor: could not list Nodes and Leases in 30 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    this.#timer = setInterval(() => this.#evaluate(), 250);
  }

  /** Follows the daemon's logged phases (for the orphaned-slot rule). */
  attach(daemon: Daemon): void {
    this.#daemons.set(daemon.node, { daemon, cursor: 0, phase: "startup" });
  }

  /** Declares a node cordoned by an administrator (in addition to those seen cordoned at start). */
  adminCordoned(node: string): void {
    this.#admin.add(node);
  }

  /** Hooks for `startDaemon({ rebootHooks })`: rules 5 and 6, and the "rebooting" part of rule 1. */
  readonly rebootHooks: RebootHooks = {
    before: (d) => this.#beforeReboot(d),
    after: (d) => {
      this.#rebooting.delete(d.node);
      this.#evaluate();
    },
  };

  /** Stops watching; evaluates a last time. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#evaluate();
    await Promise.all(this.#reflectors.map((r) => r.stop()));
  }

  /**
   * Calls `listener` with the holder and the recorded phase whenever a held slot Lease changes (a daemon records
   * there, before acting, the phases a restart needs: RECORDED_PHASES in lib/machine/startup.ts): lets chaos aim
   * a kill -9 at such a phase. Returns an unsubscribe.
   */
  onSlotChange(listener: (holder: string, phase: string | undefined) => void): () => void {
    this.#slotListeners.add(listener);
    return () => this.#slotListeners.delete(listener);
  }

  /** Slot Lease name -> holder, as last seen. */
  holders(): Map<string, string> {
    return new Map(this.#slots);
  }

  /** A one-paragraph account for failure messages. */
  describe(): string {
    const v = this.violations.map((x) =>
      `  +${x.atMs}ms ${x.rule}${x.node ? ` ${x.node}` : ""}: ${x.detail}`
    );
    return `${this.violations.length} violation(s), max disrupted ${this.maxDisrupted}, max holders ${this.maxHolders}` +
      (v.length ? `\n${v.join("\n")}` : "");
  }

  #record(rule: Rule, node: string | undefined, detail: string): void {
    const v: Violation = { atMs: Date.now() - this.#t0, rule, detail };
    if (node !== undefined) v.node = node;
    this.violations.push(v);
  }

  /** A watch broke: state is re-listed, and grace clocks restart from the moment the view is whole again. */
  #interrupted(): void {
    this.#cordonSince.clear();
    this.#orphanSince.clear();
  }

  #onNode(type: string, obj: Record<string, unknown>): void {
    const meta = (obj.metadata ?? {}) as k8s.V1ObjectMeta;
    const name = meta.name ?? "";
    if (!this.#o.nodeFilter(name)) return;
    if (type === "DELETED") {
      this.#nodes.delete(name);
      return;
    }
    const node = obj as k8s.V1Node;
    const view: NodeView = {
      group: this.#o.groupLabel === "" ? "" : meta.labels?.[this.#o.groupLabel] ?? "",
      unschedulable: node.spec?.unschedulable === true,
      ours: meta.annotations?.[CORDONED_BY_KREBOOT] !== undefined,
      ready: node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    };
    if (this.#firstNodeSync && view.unschedulable && !view.ours) this.#admin.add(name);
    if (view.unschedulable && !this.#nodes.get(name)?.unschedulable) this.#cordonedAt.set(name, Date.now());
    if (this.#admin.has(name) && !view.unschedulable && !this.#open.has(`admin:${name}`)) {
      this.#open.add(`admin:${name}`);
      this.#record("admin-uncordoned", name, "a node cordoned by an administrator became schedulable");
    }
    this.#nodes.set(name, view);
  }

  #onLease(type: string, obj: unknown): void {
    const rec = decodeSlot(obj);
    // A node's slot is its group's (a total-cap slot comes with one; queue entries and the pause hold none).
    const role = this.#layout.classify(obj);
    if (rec.name === "" || role.role !== "slot" || role.set === "total") return;
    if (type === "DELETED") this.#slots.delete(rec.name);
    else this.#slots.set(rec.name, rec.holder);
    if (type !== "DELETED" && rec.holder !== "") {
      for (const l of this.#slotListeners) l(rec.holder, rec.phase);
    }
  }

  #followDaemons(): void {
    for (const v of this.#daemons.values()) {
      const lines = v.daemon.lines;
      for (; v.cursor < lines.length; v.cursor++) {
        const text = lines[v.cursor]?.text ?? "";
        if (!text.startsWith("{")) continue;
        try {
          const phase = (JSON.parse(text) as { phase?: unknown }).phase;
          if (typeof phase === "string") v.phase = phase;
        } catch {
          // not a JSON log line
        }
      }
    }
  }

  #someoneWaits(): boolean {
    for (const v of this.#daemons.values()) {
      if (v.phase === "waiting" && v.daemon.proc.exited === undefined && this.#nodes.has(v.daemon.node)) {
        return true;
      }
    }
    return false;
  }

  #evaluate(): void {
    if (!this.#reflectors.every((r) => r.synced)) return;
    const now = Date.now();
    this.#followDaemons();
    const holders = new Set([...this.#slots.values()].filter((h) => h !== ""));
    this.maxHolders = Math.max(this.maxHolders, holders.size);

    // 1. disruption
    const disrupted = [...this.#nodes].filter(([n, v]) => v.ours || !v.ready || this.#rebooting.has(n))
      .map(([n]) => n);
    for (const n of this.#rebooting) if (!this.#nodes.has(n) && this.#o.nodeFilter(n)) disrupted.push(n);
    this.maxDisrupted = Math.max(this.maxDisrupted, disrupted.length);
    const perGroup = new Map<string, string[]>();
    for (const n of disrupted) {
      const g = this.#nodes.get(n)?.group ?? "";
      perGroup.set(g, [...perGroup.get(g) ?? [], n]);
    }
    for (const [g, nodes] of perGroup) {
      this.maxDisruptedPerGroup.set(g, Math.max(this.maxDisruptedPerGroup.get(g) ?? 0, nodes.length));
      const key = `group-disruption:${nodes.sort().join(",")}`;
      // Without a group label there is one group, and rule 1 covers it.
      if (this.#o.groupLabel !== "" && nodes.length > this.#o.groupConcurrency && !this.#open.has(key)) {
        this.#open.add(key);
        this.#record(
          "group-disruption",
          undefined,
          `${nodes.length} nodes of group "${g}" disrupted at once (limit ${this.#o.groupConcurrency}): ${
            nodes.join(", ")
          }`,
        );
      }
    }
    if (disrupted.length > this.#o.concurrency) {
      const key = `disruption:${disrupted.sort().join(",")}`;
      if (!this.#open.has(key)) {
        this.#open.add(key);
        this.#record(
          "disruption",
          undefined,
          `${disrupted.length} nodes disrupted at once (limit ${this.#o.concurrency}): ${
            disrupted.join(", ")
          }`,
        );
      }
    }

    // 2. cordon without slot
    for (const [name, v] of this.#nodes) {
      if (!v.ours || holders.has(name)) {
        this.#cordonSince.delete(name);
        this.#open.delete(`cordon:${name}`);
        continue;
      }
      const since = this.#cordonSince.get(name) ?? now;
      this.#cordonSince.set(name, since);
      if (now - since > this.#o.cordonGraceMs && !this.#open.has(`cordon:${name}`)) {
        this.#open.add(`cordon:${name}`);
        this.#record("cordon-without-slot", name, `cordoned by kreboot without a slot for ${now - since} ms`);
      }
    }

    // 4. orphaned slot
    const waits = this.#someoneWaits();
    for (const [slot, holder] of this.#slots) {
      const orphaned = holder !== "" && !this.#nodes.has(holder) && this.#o.nodeFilter(holder);
      if (!orphaned || !waits) {
        this.#orphanSince.delete(slot);
        continue;
      }
      const since = this.#orphanSince.get(slot) ?? now;
      this.#orphanSince.set(slot, since);
      const key = `orphan:${slot}:${holder}`;
      if (now - since > this.#o.orphanGraceMs && !this.#open.has(key)) {
        this.#open.add(key);
        this.#record(
          "orphaned-slot",
          holder,
          `${slot} held by deleted node ${holder} for ${now - since} ms while a node waits`,
        );
      }
    }
  }

  async #beforeReboot(d: Daemon): Promise<void> {
    const node = d.node;
    this.#rebooting.add(node);
    this.reboots.set(node, (this.reboots.get(node) ?? 0) + 1);
    this.#evaluate();
    const sentinel = await Deno.stat(d.sentinel).then(() => true, () => false);
    if (!sentinel) {
      this.#record("reboot-without-sentinel", node, `reboot #${this.reboots.get(node)} without a sentinel`);
    }
    if (this.#o.forceReboot) return;
    try {
      const n = await retrying(() => this.#kube.core.readNode({ name: node }));
      const ours = n.metadata?.annotations?.[CORDONED_BY_KREBOOT] !== undefined;
      if (n.spec?.unschedulable !== true) {
        this.#record("reboot-without-drain", node, "rebooting while schedulable");
      } else if (!ours && !this.#admin.has(node)) {
        this.#record(
          "reboot-without-drain",
          node,
          "cordoned, but neither by kreboot nor by the administrator",
        );
      }
      const pods = await retrying(() =>
        this.#kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })
      );
      const left = selectPodsToDrain(pods.items, { skipWaitForDeleteTimeoutSeconds: 0 }, new Date());
      // When each was bound, against when the node was cordoned: a pod bound after the cordon came from a
      // scheduler that had not seen it yet, and after the drain had listed the node's pods. One bound after
      // the reboot command ran (the marker's mtime; the bind time is in whole seconds, so "after" is certain)
      // is no drain's doing: the daemon had made its last look, and a real host going down takes it along.
      const cordoned = this.#cordonedAt.get(node);
      const rebootAt = (await Deno.stat(d.rebootedMarker).catch(() => undefined))?.mtime?.getTime();
      const boundAt = (p: k8s.V1Pod) => {
        const t = p.status?.conditions?.find((c) => c.type === "PodScheduled")?.lastTransitionTime;
        return t ? new Date(t) : undefined;
      };
      const remaining = [...left.evict, ...left.delete]
        .filter((p) => !(rebootAt !== undefined && (boundAt(p)?.getTime() ?? 0) > rebootAt))
        .map((p) =>
          `${p.metadata?.namespace}/${p.metadata?.name} (bound ${boundAt(p)?.toISOString() ?? "?"})`
        );
      if (remaining.length > 0) {
        this.#record(
          "reboot-without-drain",
          node,
          `pods left on the node: ${remaining.join(", ")}; node cordoned ${
            cordoned ? new Date(cordoned).toISOString() : "?"
          }`,
        );
      }
    } catch (e) {
      this.#record("reboot-without-drain", node, `could not check the drain: ${String(e)}`);
    }
  }
}
