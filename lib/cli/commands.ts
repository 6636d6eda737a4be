/**
 * The subcommands: `config`, `status`, `plan`, `pause`, `resume`, `manifests`. Each takes the daemon's flags (so
 * `--kubeconfig`, `--ds-namespace`, `--ds-name` mean the same everywhere) plus a few options of its own,
 * which are taken out of the argument list before the daemon flags are parsed. `config` parses the flags
 * itself (lib/cli/config_cmd.ts), so main.ts runs it before the others.
 */
import type { Config } from "../config/mod.ts";
import { ConfigError } from "../config/mod.ts";
import { type Kube, loadKubeConfig, makeKube } from "../kube/mod.ts";
import { lockFor } from "../lock/from_config.ts";
import { KubeLeaseStore } from "../lock/kube_store.ts";
import { CircuitBreaker } from "../safety/breaker_lease.ts";
import { Logger } from "../log.ts";
import { collectStatus, formatStatus, seemsAbsent, STATUS_NOT_FOUND_EXIT } from "./status.ts";
import { type FleetOptions, FleetUnavailable, readFleet } from "./fleet.ts";
import { formatPlan, planFleet } from "./plan.ts";

/** Every subcommand and one line saying what it does (with its own options), in `kreboot --help`'s order. */
export const SUBCOMMANDS = {
  config: "print the effective configuration (flags, environment, defaults) as JSON",
  status:
    "groups and their budgets, who holds the reboot slots, which nodes need a reboot and why each waits (-o json)",
  plan:
    "what would happen next, changing nothing: the order nodes would reboot in, per group the budget and slots, what blocks each node, the next window (-o json)",
  pause: 'stop new reboots cluster-wide: --reason "why" [--by WHO]; slot holders finish',
  resume: "allow reboots again after a pause (also closes the circuit breaker)",
  manifests: "print the install YAML for these flags (--namespace, --image, --prometheus-operator)",
} as const;

/** The subcommands `runSubcommand` runs: all but `config`. */
export type Subcommand = Exclude<keyof typeof SUBCOMMANDS, "config">;

export function subcommandOf(arg: string | undefined): Subcommand | undefined {
  return arg !== undefined && arg !== "config" && Object.hasOwn(SUBCOMMANDS, arg)
    ? arg as Subcommand
    : undefined;
}

/** Options that belong to one subcommand, with their defaults. */
const OWN_OPTIONS: Record<Subcommand, Record<string, string | boolean>> = {
  status: { output: "text" },
  plan: { output: "text" },
  pause: { reason: "", by: "" },
  resume: {},
  manifests: { namespace: "kube-system", image: "", "prometheus-operator": false },
};

/**
 * Splits a subcommand's own options (`--name value`, `--name=value`, `-o value` for --output) from the
 * daemon flags. Unknown names are left for the daemon flag parser, which rejects them.
 */
export function splitOwnOptions(
  sub: Subcommand,
  args: readonly string[],
): { own: Record<string, string | boolean>; rest: string[] } {
  const spec = OWN_OPTIONS[sub];
  const own: Record<string, string | boolean> = { ...spec };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg === "-o" ? "--output" : arg);
    const name = m?.[1];
    if (!m || name === undefined || !(name in spec)) {
      rest.push(arg);
      continue;
    }
    if (typeof spec[name] === "boolean") {
      const v = m[2] ?? "true";
      if (!/^(true|false)$/.test(v)) {
        throw new ConfigError(name, `invalid value "${v}" for --${name}: expected true or false`);
      }
      own[name] = v === "true";
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new ConfigError(name, `--${name} needs a value`);
    own[name] = value;
  }
  return { own, rest };
}

function outputOf(own: Record<string, string | boolean>): "text" | "json" {
  const output = String(own.output);
  if (output !== "text" && output !== "json") {
    throw new ConfigError("output", `invalid value "${output}" for --output: expected text or json`);
  }
  return output;
}

/** What `status` and `plan` read, from the daemon's flags. */
function fleetOptions(config: Config): FleetOptions {
  return {
    namespace: config.dsNamespace,
    dsName: config.dsName,
    lockAnnotation: config.lockAnnotation,
    groupLabel: config.groupLabel,
    concurrency: config.concurrency,
    budgets: config.budgets,
    maxConcurrencyTotal: config.maxConcurrencyTotal,
    failureWindowMs: config.failureWindow,
  };
}

/** Runs a command that reads the fleet with the caller's credentials; what cannot be read is one line, exit 1. */
async function readingFleet(
  sub: Subcommand,
  config: Config,
  run: (kube: Kube) => Promise<number>,
): Promise<number> {
  try {
    return await run(makeKube(loadKubeConfig(config.kubeconfig || undefined), false));
  } catch (e) {
    if (!(e instanceof FleetUnavailable)) throw e;
    console.error(`kreboot ${sub}: ${e.message}`);
    return 1;
  }
}

export async function runSubcommand(
  sub: Subcommand,
  config: Config,
  args: readonly string[],
): Promise<number> {
  const { own } = splitOwnOptions(sub, args);
  switch (sub) {
    case "manifests": {
      // Loaded only here: its YAML goes through client-node's serializer, whose 718 model classes a running
      // daemon must not keep in memory (issue 17).
      const { defaultImageNote, renderManifests } = await import("./manifests.ts");
      console.log(renderManifests(config, {
        namespace: String(own.namespace),
        image: String(own.image),
        prometheusOperator: own["prometheus-operator"] === true,
      }));
      if (!own.image) console.error(defaultImageNote());
      return 0;
    }
    case "plan": {
      const output = outputOf(own);
      return await readingFleet(sub, config, async (kube) => {
        const o = fleetOptions(config);
        const report = planFleet(await readFleet(kube, o), o, config, Date.now());
        console.log(output === "json" ? JSON.stringify(report, null, 2) : formatPlan(report));
        return 0;
      });
    }
    case "status": {
      const output = outputOf(own);
      return await readingFleet(sub, config, async (kube) => {
        const report = await collectStatus(kube, fleetOptions(config));
        if (seemsAbsent(report)) {
          // Not an error of the command, but nothing to report either: say so, and let scripts tell it apart.
          if (output === "json") console.log(JSON.stringify(report, null, 2));
          console.error(`kreboot status: ${formatStatus(report)}`);
          return STATUS_NOT_FOUND_EXIT;
        }
        console.log(output === "json" ? JSON.stringify(report, null, 2) : formatStatus(report));
        return 0;
      });
    }
    case "pause":
    case "resume": {
      const kube = makeKube(loadKubeConfig(config.kubeconfig || undefined), config.dryRun);
      const log = new Logger({ format: config.logFormat, node: config.nodeId || "(cli)", phase: sub });
      const lock = lockFor(kube, config, log);
      if (sub === "resume") {
        // The circuit breaker's failures so far stop counting first: a resume must not reopen it at once.
        const where = { namespace: config.dsNamespace, dsName: config.dsName };
        await new CircuitBreaker(new KubeLeaseStore(kube, where), {
          ...where,
          node: "cli",
          maxFailed: config.maxFailedReboots,
          windowMs: config.failureWindow,
          log,
        }).reset();
        await lock.resume();
        console.log(`reboots resumed (${config.dsNamespace}/${config.dsName})`);
        return 0;
      }
      const reason = String(own.reason).trim();
      if (!reason) {
        throw new ConfigError("reason", `pause needs --reason "why reboots stop" so that status can say it`);
      }
      const by = String(own.by) || `${Deno.env.get("USER") ?? "someone"}@${Deno.hostname()}`;
      await lock.pause(by, reason);
      console.log(`reboots paused by ${by}: ${reason}; nodes holding a slot finish their reboot`);
      return 0;
    }
  }
}
