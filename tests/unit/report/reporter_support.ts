/** What the Reporter's unit tests share: a configuration, a Reporter on a fake API server, and helpers. */
import type { Phase, Report } from "../../../lib/machine/mod.ts";
import { Logger } from "../../../lib/log.ts";
import { Metrics } from "../../../lib/report/metrics.ts";
import { Reporter, type ReporterConfig } from "../../../lib/report/reporter.ts";
import { fakeKube } from "./fake_kube.ts";

export const CONFIG: ReporterConfig = {
  nodeId: "n1",
  dryRun: false,
  annotateNodes: true,
  notifyUrl: "generic+https://hooks.example.com/h",
  notifyTimeout: 2_000,
  messageTemplateDrain: "Draining node %s",
  messageTemplateReboot: "Rebooting node %s",
  messageTemplateUncordon: "Node %s rebooted & uncordoned successfully!",
  slackChannel: "",
  slackUsername: "kured",
};

export function setup(config: Partial<ReporterConfig> = {}, kube = fakeKube()) {
  const sent: { url: string; body: { title: string; message: string } }[] = [];
  const fetchFake: typeof fetch = (input, init) => {
    sent.push({ url: String(input), body: JSON.parse(String(init?.body)) });
    return Promise.resolve(new Response("ok"));
  };
  const lines: string[] = [];
  const log = new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) });
  const metrics = new Metrics("n1", { defaultMetrics: false });
  let now = new Date("2026-03-01T10:00:00Z");
  const reporter = new Reporter({
    config: { ...CONFIG, ...config },
    kube: kube.kube,
    log,
    metrics,
    fetch: fetchFake,
    now: () => now,
    // Each step written as it comes; reporter_test.ts tests the settling itself.
    conditionSettleMs: 0,
  });
  return {
    f: kube,
    reporter,
    metrics,
    sent,
    lines,
    advance(ms: number) {
      now = new Date(now.getTime() + ms);
    },
  };
}

export const step = (
  r: Reporter,
  phase: Phase,
  reason: Report["reason"],
  message: string,
  extra: Partial<Report> = {},
) => {
  r.phaseChanged(phase);
  r.report({ reason, message, ...extra }, phase);
};

export function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
