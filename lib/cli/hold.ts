/**
 * `kreboot hold NODE --reason "…"`, `kreboot unhold NODE` and `kreboot request-reboot NODE [--reason "…"]
 * [--cancel]`: per-node control with the caller's own credentials (kubeconfig), written as the node
 * annotations of lib/node_control/. Each is one merge patch of the Node, so it either happened or not.
 * The daemon flags (`--kubeconfig`, `--dry-run`, …) mean what they mean everywhere.
 */
import type * as k8s from "@kubernetes/client-node";
import { type Config, ConfigError, parseConfig, wantsHelp } from "../config/mod.ts";
import {
  apiStatus,
  describeApiError,
  dryRunParam,
  isConflict,
  type Kube,
  loadKubeConfig,
  makeKube,
  MERGE_PATCH,
} from "../kube/mod.ts";
import { isDnsSubdomain } from "../config/names.ts";
import {
  type Hold,
  holdOf,
  holdPatch,
  type RebootRequest,
  requestOf,
  requestPatch,
} from "../node_control/mod.ts";

export const NODE_COMMANDS = ["hold", "unhold", "request-reboot"] as const;
export type NodeCommand = typeof NODE_COMMANDS[number];

export function isNodeCommand(s: string | undefined): s is NodeCommand {
  return NODE_COMMANDS.some((c) => c === s);
}

const OPTIONS: Record<NodeCommand, Record<string, "string" | "bool">> = {
  hold: { reason: "string", by: "string" },
  unhold: {},
  "request-reboot": { reason: "string", by: "string", cancel: "bool" },
};

const USAGE: Record<NodeCommand, string> = {
  hold: 'kreboot hold NODE --reason "why" [--by NAME] [flags]',
  unhold: "kreboot unhold NODE [flags]",
  "request-reboot": 'kreboot request-reboot NODE [--reason "why"] [--by NAME] [--cancel] [flags]',
};

/** One line each for `kreboot --help` (lib/cli/help.ts), after the cluster-wide commands. */
export const NODE_COMMAND_SUMMARIES: Record<NodeCommand, string> = {
  hold: 'NODE --reason "why" [--by WHO]: the node never takes a reboot slot (your credentials)',
  unhold: "NODE: lift a hold; the node reboots again when it needs to",
  "request-reboot": 'NODE [--reason "why"] [--cancel]: reboot it although its sentinel does not ask',
};

const HELP: Record<NodeCommand, string> = {
  hold: "Holds the node: it never takes a reboot slot until unheld. Records who, why and since when.",
  unhold: "Lifts a hold: the node reboots again when it needs to and its gates and budget allow.",
  "request-reboot":
    "Asks for a reboot although the node's sentinel does not: it goes through every gate and budget as usual, and the request is cleared after the reboot. --cancel withdraws it.",
};

export interface NodeCommandArgs {
  node: string;
  reason: string;
  /** "" = the authenticated user name. */
  by: string;
  cancel: boolean;
  config: Config;
}

/** `args` after the subcommand name: NODE first, then its options and the daemon flags. Throws ConfigError. */
export function parseNodeCommandArgs(
  sub: NodeCommand,
  args: readonly string[],
  env: Record<string, string | undefined>,
): NodeCommandArgs {
  const node = args[0];
  if (node === undefined || node.startsWith("-")) {
    throw new ConfigError(undefined, `${sub} needs the node name first: ${USAGE[sub]}`);
  }
  if (!isDnsSubdomain(node)) {
    throw new ConfigError(
      undefined,
      `${JSON.stringify(node.slice(0, 80))} is not a node name (lower-case letters, digits, '-' and '.'): ${
        USAGE[sub]
      }`,
    );
  }
  const own: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] ?? "";
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const kind = m?.[1] === undefined ? undefined : OPTIONS[sub][m[1]];
    if (!m || kind === undefined) {
      rest.push(arg);
      continue;
    }
    const name = m[1] ?? "";
    if (kind === "bool") {
      const v = m[2] ?? "true";
      if (v !== "true" && v !== "false") {
        throw new ConfigError(
          name,
          `invalid value ${JSON.stringify(v)} for --${name}: expected true or false`,
        );
      }
      own[name] = v === "true";
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new ConfigError(name, `--${name} needs a value: ${USAGE[sub]}`);
    own[name] = value;
  }
  const reason = String(own.reason ?? "").trim();
  if (sub === "hold" && reason === "") {
    throw new ConfigError("reason", `hold needs --reason "why" so that status can say it: ${USAGE[sub]}`);
  }
  return {
    node,
    reason,
    by: String(own.by ?? "").trim(),
    cancel: own.cancel === true,
    config: parseConfig(rest, env).config,
  };
}

/** Runs the subcommand; returns the exit code (1 with one line on stderr when the cluster says no). */
export async function runNodeCommand(
  sub: NodeCommand,
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  if (wantsHelp(args)) {
    console.log(
      `Usage: ${USAGE[sub]}\n\n${
        HELP[sub]
      }\nThe flags are the daemon's (kreboot --help); --kubeconfig picks the credentials.`,
    );
    return 0;
  }
  const a = parseNodeCommandArgs(sub, args, env);
  let kube: Kube;
  try {
    kube = makeKube(loadKubeConfig(a.config.kubeconfig || undefined), a.config.dryRun);
  } catch (e) {
    throw new ConfigError(
      "kubeconfig",
      `cannot load the kubeconfig (--kubeconfig): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  try {
    const line = await act(kube, sub, a, new Date());
    console.log(kube.dryRun ? `${line} (dry run: nothing was changed)` : line);
    return 0;
  } catch (e) {
    console.error(`kreboot ${sub}: ${explain(e, a.node)}`);
    return 1;
  }
}

async function act(kube: Kube, sub: NodeCommand, a: NodeCommandArgs, now: Date): Promise<string> {
  const node = await kube.core.readNode({ name: a.node });
  switch (sub) {
    case "hold": {
      const previous = holdOf(node);
      const hold: Hold = { by: a.by || await whoAmI(kube), reason: a.reason, since: now.toISOString() };
      await patch(kube, a.node, holdPatch(hold));
      const was = previous ? ` (was held by ${previous.by}: ${previous.reason})` : "";
      return `node ${a.node} held by ${hold.by}: ${hold.reason}${was}; it will not take a slot until \`kreboot unhold ${a.node}\``;
    }
    case "unhold": {
      const previous = holdOf(node);
      if (previous === undefined) return `node ${a.node} was not held`;
      await patch(kube, a.node, holdPatch(null));
      return `node ${a.node} no longer held (was held by ${previous.by} since ${previous.since}: ${previous.reason})`;
    }
    case "request-reboot":
      return a.cancel ? await cancelRequest(kube, a, node) : await request(kube, a, node, now);
  }
}

async function cancelRequest(kube: Kube, a: NodeCommandArgs, node: k8s.V1Node): Promise<string> {
  if (requestOf(node) === undefined) return `node ${a.node} had no reboot request`;
  await patch(kube, a.node, requestPatch(null));
  return `reboot request for node ${a.node} cancelled`;
}

/**
 * Records the node's current boot ID with the request, so the first reboot after it satisfies it. The patch
 * carries the resourceVersion read, so a boot ID that changed meanwhile is never recorded as current.
 */
async function request(kube: Kube, a: NodeCommandArgs, first: k8s.V1Node, now: Date): Promise<string> {
  const by = a.by || await whoAmI(kube);
  let node = first;
  for (let attempt = 1;; attempt++) {
    const r: RebootRequest = { by, since: now.toISOString() };
    const bootId = node.status?.nodeInfo?.bootID;
    if (bootId) r.bootId = bootId;
    if (a.reason !== "") r.reason = a.reason;
    const body = requestPatch(r);
    (body.metadata as Record<string, unknown>).resourceVersion = node.metadata?.resourceVersion;
    try {
      await patch(kube, a.node, body);
      const why = r.reason ? `: ${r.reason}` : "";
      return `reboot of node ${a.node} requested by ${by}${why}; it reboots when its gates and budget allow, and the request is cleared after the reboot`;
    } catch (e) {
      if (!isConflict(e) || attempt >= 5) throw e;
      node = await kube.core.readNode({ name: a.node });
    }
  }
}

function patch(kube: Kube, name: string, body: Record<string, unknown>): Promise<k8s.V1Node> {
  return kube.core.patchNode({ name, body, ...dryRunParam(kube) }, MERGE_PATCH);
}

/**
 * Who the apiserver says the caller is (SelfSubjectReview, which every authenticated user may create), so the
 * annotation records the identity that wrote it; `$USER@host` when the apiserver cannot tell.
 */
async function whoAmI(kube: Kube): Promise<string> {
  try {
    const review = await kube.auth.createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    const name = review.status?.userInfo?.username;
    if (name) return name;
  } catch {
    // An old apiserver or a restricted user: fall back to the local name below.
  }
  return `${Deno.env.get("USER") ?? "someone"}@${Deno.hostname()}`;
}

function explain(e: unknown, node: string): string {
  const status = apiStatus(e);
  if (status === 404) return `node ${node} not found: check the name with \`kubectl get nodes\``;
  if (status === 403) {
    return `your credentials may not change node ${node} (they need get and patch on nodes): ${
      describeApiError(e)
    }`;
  }
  return describeApiError(e);
}
