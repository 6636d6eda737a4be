/**
 * Prometheus metrics on a dedicated registry, and the HTTP server that serves them with `/healthz`.
 *
 * `kured_reboot_required{node}` keeps kured's name and help text so existing alerts keep working; everything
 * kreboot adds is named `kreboot_*`. Label values come from closed sets (phases, block reasons, results), so
 * the cardinality per node is fixed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EvictionResult } from "../drain/mod.ts";
import { BLOCKER_KINDS, type BlockerKind } from "../drain/blockers.ts";
import { BLOCK_REASONS, type BlockReason } from "../gates/gate.ts";
import { type Phase, PHASES } from "../machine/mod.ts";
import type { Hold } from "../node_control/mod.ts";

export type RebootResult = "ok" | "failed" | "dry-run";

export interface MetricsOptions {
  /** Also export process_* and nodejs_* metrics (default true; tests switch it off for speed). */
  defaultMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  readonly node: string;
  #kuredRequired: Gauge<"node">;
  #required: Gauge<"node">;
  #phase: Gauge<"node" | "phase">;
  #blocked: Gauge<"node" | "reason">;
  #slotHeld: Gauge<"node">;
  #held: Gauge<"node" | "by" | "reason">;
  #drain: Histogram<"node">;
  #evictions: Counter<"node" | "result">;
  #reboots: Counter<"node" | "result">;
  #lastReboot: Gauge<"node">;
  #groupAllowed: Gauge<"group">;
  #groupInUse: Gauge<"group">;
  #drainBlocked: Gauge<"node" | "reason">;
  #circuitOpen: Gauge<"node">;
  #consecutiveReboots: Gauge<"node">;

  constructor(node: string, opts: MetricsOptions = {}) {
    this.node = node;
    const registers = [this.registry];
    this.#kuredRequired = new Gauge({
      name: "kured_reboot_required",
      help: "OS requires reboot due to software updates.",
      labelNames: ["node"] as const,
      registers,
    });
    this.#required = new Gauge({
      name: "kreboot_reboot_required",
      help: "1 when the reboot sentinel says this node needs a reboot.",
      labelNames: ["node"] as const,
      registers,
    });
    this.#phase = new Gauge({
      name: "kreboot_phase",
      help: "1 for the phase the node's reboot cycle is in, 0 for the others.",
      labelNames: ["node", "phase"] as const,
      registers,
    });
    this.#blocked = new Gauge({
      name: "kreboot_reboot_blocked",
      help: `1 for what currently blocks a required reboot (${BLOCK_REASONS.join(", ")}), 0 for the others.`,
      labelNames: ["node", "reason"] as const,
      registers,
    });
    this.#slotHeld = new Gauge({
      name: "kreboot_slot_held",
      help: "1 while this node holds a reboot slot.",
      labelNames: ["node"] as const,
      registers,
    });
    this.#held = new Gauge({
      name: "kreboot_held",
      help:
        "1 while an operator holds this node (kreboot hold), with who and why as labels; one series per node, 0 with empty labels when not held.",
      labelNames: ["node", "by", "reason"] as const,
      registers,
    });
    this.#drain = new Histogram({
      name: "kreboot_drain_duration_seconds",
      help: "How long drains took, successful or not.",
      labelNames: ["node"] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers,
    });
    this.#evictions = new Counter({
      name: "kreboot_evictions_total",
      help: "Eviction and delete requests by outcome (evicted, deleted, retry-429, failed).",
      labelNames: ["node", "result"] as const,
      registers,
    });
    this.#reboots = new Counter({
      name: "kreboot_reboots_total",
      help: "Reboot attempts by outcome (ok = host came back with a new boot ID, failed, dry-run).",
      labelNames: ["node", "result"] as const,
      registers,
    });
    this.#lastReboot = new Gauge({
      name: "kreboot_last_reboot_timestamp_seconds",
      help: "Unix time of the last reboot confirmed by a changed boot ID.",
      labelNames: ["node"] as const,
      registers,
    });
    this.#groupAllowed = new Gauge({
      name: "kreboot_group_slots_allowed",
      help: "Slots this node's group may hold now (its most restrictive active budget, or --concurrency), " +
        "as the node last saw it; group is the --group-label value (empty without it, or without the label).",
      labelNames: ["group"] as const,
      registers,
    });
    this.#groupInUse = new Gauge({
      name: "kreboot_group_slots_in_use",
      help: "Slots this node's group holds, as the node last saw it while it wanted one.",
      labelNames: ["group"] as const,
      registers,
    });
    this.#drainBlocked = new Gauge({
      name: "kreboot_drain_blocked_pods",
      help: `Pods whose eviction is refused now, by cause (${BLOCKER_KINDS.join(", ")}); 0 outside a drain.`,
      labelNames: ["node", "reason"] as const,
      registers,
    });
    this.#circuitOpen = new Gauge({
      name: "kreboot_circuit_open",
      help:
        "1 while this node sees reboots paused by the circuit breaker (--max-failed-reboots): it opened it, or it waits for a slot while it is open.",
      labelNames: ["node"] as const,
      registers,
    });
    this.#consecutiveReboots = new Gauge({
      name: "kreboot_consecutive_reboots",
      help:
        "Reboots in a row after which the sentinel still asked for a reboot (the reboot-loop guard's count; 0 = no loop).",
      labelNames: ["node"] as const,
      registers,
    });
    // Every series exists from the start, so dashboards and `absent()` alerts see zeros rather than gaps.
    this.setRebootRequired(false);
    this.setPhase("startup");
    this.setBlocked(undefined);
    this.setSlotHeld(false);
    this.setHeld(undefined);
    this.setDrainBlocked({});
    this.setCircuitOpen(false);
    this.setConsecutiveReboots(0);
    this.#drain.zero({ node });
    for (const result of ["evicted", "deleted", "retry-429", "failed"] as const) {
      this.#evictions.inc({ node, result }, 0);
    }
    for (const result of ["ok", "failed", "dry-run"] as const) this.#reboots.inc({ node, result }, 0);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  setRebootRequired(required: boolean): void {
    this.#kuredRequired.set({ node: this.node }, required ? 1 : 0);
    this.#required.set({ node: this.node }, required ? 1 : 0);
  }

  setPhase(phase: Phase): void {
    for (const p of PHASES) this.#phase.set({ node: this.node, phase: p }, p === phase ? 1 : 0);
  }

  /** What blocks the reboot now; undefined = nothing. */
  setBlocked(reason: BlockReason | undefined): void {
    for (const r of BLOCK_REASONS) this.#blocked.set({ node: this.node, reason: r }, r === reason ? 1 : 0);
  }

  setSlotHeld(held: boolean): void {
    this.#slotHeld.set({ node: this.node }, held ? 1 : 0);
  }

  /** The operator's hold on this node, if any (lib/node_control/). */
  setHeld(hold: Hold | undefined): void {
    this.#held.reset();
    this.#held.set({ node: this.node, by: hold?.by ?? "", reason: hold?.reason ?? "" }, hold ? 1 : 0);
  }

  /** How many slots `group` may hold and holds, as this node last looked (while it wanted a slot). */
  setGroupSlots(group: string, allowed: number, inUse: number): void {
    this.#groupAllowed.set({ group }, allowed);
    this.#groupInUse.set({ group }, inUse);
  }

  /** Pods blocking the drain now, per cause; a cause not given is 0. */
  setDrainBlocked(counts: Partial<Record<BlockerKind, number>>): void {
    for (const r of BLOCKER_KINDS) this.#drainBlocked.set({ node: this.node, reason: r }, counts[r] ?? 0);
  }

  setCircuitOpen(open: boolean): void {
    this.#circuitOpen.set({ node: this.node }, open ? 1 : 0);
  }

  setConsecutiveReboots(count: number): void {
    this.#consecutiveReboots.set({ node: this.node }, count);
  }

  observeDrain(seconds: number): void {
    this.#drain.observe({ node: this.node }, seconds);
  }

  countEviction(result: EvictionResult): void {
    this.#evictions.inc({ node: this.node, result });
  }

  countReboot(result: RebootResult): void {
    this.#reboots.inc({ node: this.node, result });
  }

  setLastReboot(at: Date): void {
    this.#lastReboot.set({ node: this.node }, at.getTime() / 1000);
  }

  /** The drain's hooks (`DrainHooks` in lib/own_node.ts), so a `Metrics` can be passed to the drain as is. */
  onEviction(result: EvictionResult): void {
    this.countEviction(result);
  }
  onDrained(seconds: number, _ok: boolean): void {
    this.observeDrain(seconds);
  }

  /** The exposition text, as served on /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface MetricsServerOptions {
  /** Listen address; "" = every interface (kured's default). */
  host: string;
  /** 0 = any free port (tests); see `MetricsServer.port`. */
  port: number;
  metrics: Metrics;
  /** /healthz answers 200 while this returns true, else 503. */
  healthy: () => boolean;
  signal: AbortSignal;
}

export interface MetricsServer {
  /** The port actually bound. */
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish. Idempotent. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/**
 * Serves `/metrics` and `/healthz`. Throws at once (not at the first request) when the address cannot be
 * bound, with a message naming the flag, e.g. `--metrics-port 8080: address already in use`.
 */
export function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const hostname = opts.host === "" ? "0.0.0.0" : opts.host;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname, port: opts.port, signal: opts.signal, onListen: () => {} },
      async (req) => {
        const { pathname } = new URL(req.url);
        if (req.method !== "GET" && req.method !== "HEAD") {
          return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
        }
        if (pathname === "/metrics") {
          try {
            return new Response(await opts.metrics.text(), {
              headers: { "content-type": opts.metrics.registry.contentType },
            });
          } catch (e) {
            return new Response(`collecting metrics failed: ${e instanceof Error ? e.message : e}\n`, {
              status: 500,
            });
          }
        }
        if (pathname === "/healthz") {
          return opts.healthy()
            ? new Response("ok\n")
            : new Response("the reboot loop is not running\n", { status: 503 });
        }
        return new Response("not found: try /metrics or /healthz\n", { status: 404 });
      },
    );
  } catch (e) {
    return Promise.reject(new Error(`--metrics-port ${opts.port}: ${bindError(e, hostname)}`));
  }
  let stopped: Promise<void> | undefined;
  return Promise.resolve({
    port: server.addr.port,
    finished: server.finished,
    shutdown() {
      stopped ??= server.shutdown().catch(() => {});
      return stopped;
    },
  });
}

function bindError(e: unknown, hostname: string): string {
  if (e instanceof Deno.errors.AddrInUse) return "address already in use";
  if (e instanceof Deno.errors.AddrNotAvailable) return `cannot listen on ${hostname}: address not available`;
  if (e instanceof Deno.errors.PermissionDenied) return `not allowed to listen on ${hostname}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
