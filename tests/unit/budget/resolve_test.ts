import assert from "node:assert/strict";
import {
  admit,
  allowedSlots,
  type Budget,
  type BudgetPolicy,
  budgetSlots,
  formatBudgetSpec,
  type Group,
  isActive,
  nextBudgetChange,
  parseBudgetSpec,
} from "../../../lib/budget/mod.ts";

const ms = (iso: string) => Date.parse(iso);
const b = (spec: string): Budget => parseBudgetSpec(spec);
const ALL: Group = { kind: "all" };
const zone = (value: string): Group => ({ kind: "value", value });
const ONE = { kind: "count", n: 1 } as const;

Deno.test("percentages round up, as a PDB's maxUnavailable; counts are counts", () => {
  assert.equal(budgetSlots({ kind: "percent", percent: 30 }, 10), 3);
  assert.equal(budgetSlots({ kind: "percent", percent: 30 }, 11), 4, "3.3 → 4");
  assert.equal(budgetSlots({ kind: "percent", percent: 1 }, 5), 1, "0.05 → 1");
  assert.equal(budgetSlots({ kind: "percent", percent: 0 }, 50), 0);
  assert.equal(budgetSlots({ kind: "percent", percent: 100 }, 7), 7);
  assert.equal(budgetSlots({ kind: "percent", percent: 50 }, 0), 0, "an empty group");
  assert.equal(budgetSlots({ kind: "count", n: 0 }, 9), 0);
  assert.equal(budgetSlots({ kind: "count", n: 4 }, 2), 4);
});

Deno.test("--concurrency is the default budget, with today's rule (percent rounds down, at least 1)", () => {
  const p = (c: BudgetPolicy["concurrency"]): BudgetPolicy => ({ concurrency: c, budgets: [] });
  assert.deepEqual(allowedSlots(p(ONE), ALL, 100, 0), { allowed: 1, by: "--concurrency=1" });
  assert.deepEqual(allowedSlots(p({ kind: "count", n: 3 }), ALL, 2, 0), {
    allowed: 3,
    by: "--concurrency=3",
  });
  assert.equal(allowedSlots(p({ kind: "percent", percent: 15 }), ALL, 10, 0).allowed, 1);
  assert.equal(allowedSlots(p({ kind: "percent", percent: 10 }), ALL, 3, 0).allowed, 1);
  assert.equal(allowedSlots(p({ kind: "percent", percent: 25 }), ALL, 40, 0).allowed, 10);
});

Deno.test("the most restrictive active budget for the group wins; --concurrency only when none is active", () => {
  const policy: BudgetPolicy = {
    concurrency: { kind: "count", n: 1 },
    budgets: [
      b("nodes=30%,group=batch"),
      b("nodes=3,group=batch"),
      b("nodes=0,group=eu-west-1a,schedule=0 8 * * mon-fri,duration=10h"),
      b("nodes=0,group="),
    ],
  };
  const monday = ms("2026-06-01T12:00:00Z");
  const sunday = ms("2026-06-07T12:00:00Z");
  assert.deepEqual(allowedSlots(policy, zone("batch"), 20, monday), {
    allowed: 3,
    by: "--budget=nodes=3,group=batch",
  });
  assert.deepEqual(allowedSlots(policy, zone("batch"), 5, monday), {
    allowed: 2,
    by: "--budget=nodes=30%,group=batch",
  }, "30% of 5 = 1.5 → 2");
  assert.deepEqual(allowedSlots(policy, zone("batch"), 10, monday), {
    allowed: 3,
    by: "--budget=nodes=30%,group=batch",
  }, "a tie: the budget given first names it");
  assert.equal(
    allowedSlots(policy, zone("batch"), 20, monday).allowed,
    3,
    "budgets may allow more than --concurrency",
  );
  assert.deepEqual(allowedSlots(policy, zone("eu-west-1a"), 20, monday), {
    allowed: 0,
    by: "--budget=nodes=0,group=eu-west-1a,schedule=0 8 * * mon-fri,duration=10h0m0s,tz=UTC",
  });
  assert.deepEqual(allowedSlots(policy, zone("eu-west-1a"), 20, sunday), {
    allowed: 1,
    by: "--concurrency=1",
  });
  assert.deepEqual(allowedSlots(policy, zone("other"), 20, monday), { allowed: 1, by: "--concurrency=1" });
  assert.deepEqual(allowedSlots(policy, { kind: "unlabeled" }, 20, monday), {
    allowed: 0,
    by: "--budget=nodes=0,group=",
  }, "group= is the nodes without the label");
  assert.equal(
    allowedSlots(policy, ALL, 20, monday).allowed,
    1,
    "without --group-label only ungrouped budgets",
  );
  const everywhere: BudgetPolicy = {
    concurrency: { kind: "count", n: 5 },
    budgets: [b("nodes=2"), b("nodes=4,group=x")],
  };
  assert.deepEqual(allowedSlots(everywhere, zone("x"), 20, monday), { allowed: 2, by: "--budget=nodes=2" });
  assert.deepEqual(allowedSlots(everywhere, ALL, 20, monday), { allowed: 2, by: "--budget=nodes=2" });
});

Deno.test("a scheduled budget applies from each cron time for its duration: Berlin office hours", () => {
  const freeze = b("nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin");
  const policy: BudgetPolicy = { concurrency: { kind: "count", n: 3 }, budgets: [freeze] };
  const cases: [string, boolean, string][] = [
    ["2026-03-23T06:59:59Z", false, "Mon 07:59:59 CET"],
    ["2026-03-23T07:00:00Z", true, "Mon 08:00 CET"],
    ["2026-03-23T16:59:59Z", true, "Mon 17:59:59 CET"],
    ["2026-03-23T17:00:00Z", false, "Mon 18:00 CET"],
    ["2026-03-30T06:00:00Z", true, "Mon 08:00 CEST after the change"],
    ["2026-03-30T16:00:00Z", false, "Mon 18:00 CEST"],
    ["2026-03-28T10:00:00Z", false, "Saturday"],
  ];
  for (const [t, active, why] of cases) {
    assert.equal(isActive(freeze, ms(t)), active, why);
    assert.equal(allowedSlots(policy, ALL, 10, ms(t)).allowed, active ? 0 : 3, why);
  }
});

Deno.test("a budget across midnight and a DST night in New York", () => {
  const night = b("nodes=50%,schedule=0 20 * * *,duration=10h,tz=America/New_York");
  // Summer: 20:00 EDT (00:00Z) to 06:00 EDT (10:00Z).
  assert.equal(isActive(night, ms("2026-06-02T09:59:59Z")), true, "05:59:59 EDT");
  assert.equal(isActive(night, ms("2026-06-02T10:00:00Z")), false, "06:00 EDT");
  assert.equal(isActive(night, ms("2026-06-01T23:59:59Z")), false, "19:59:59 EDT");
  // The night of 2026-03-08 loses an hour: 20:00 EST (01:00Z) + 10 h = 11:00Z = 07:00 EDT.
  assert.equal(isActive(night, ms("2026-03-08T10:30:00Z")), true, "06:30 EDT: ten real hours not over");
  assert.equal(isActive(night, ms("2026-03-08T11:00:00Z")), false, "07:00 EDT");
  // 30% of a batch pool at night, --concurrency=1 by day.
  const policy: BudgetPolicy = { concurrency: ONE, budgets: [night] };
  assert.deepEqual(allowedSlots(policy, ALL, 7, ms("2026-06-02T03:00:00Z")), {
    allowed: 4,
    by: "--budget=nodes=50%,schedule=0 20 * * *,duration=10h0m0s,tz=America/New_York",
  }, "50% of 7 → 4 at night");
  assert.deepEqual(allowedSlots(policy, ALL, 7, ms("2026-06-02T15:00:00Z")), {
    allowed: 1,
    by: "--concurrency=1",
  });
});

Deno.test("nextBudgetChange: when a scheduled budget of the group opens or closes next", () => {
  const policy: BudgetPolicy = {
    concurrency: ONE,
    budgets: [
      b("nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin"),
      b("nodes=0,group=b,schedule=0 1 * * *,duration=1h"),
    ],
  };
  assert.equal(nextBudgetChange(policy, zone("a"), ms("2026-03-23T10:00:00Z")), ms("2026-03-23T17:00:00Z"));
  assert.equal(nextBudgetChange(policy, zone("a"), ms("2026-03-23T18:00:00Z")), ms("2026-03-24T07:00:00Z"));
  assert.equal(nextBudgetChange(policy, zone("b"), ms("2026-03-23T18:00:00Z")), ms("2026-03-24T01:00:00Z"));
  assert.equal(nextBudgetChange({ concurrency: ONE, budgets: [b("nodes=1")] }, ALL, 0), undefined);
});

Deno.test("admit: a budget below the slots in use only stops new acquisitions; the total cap binds across groups", () => {
  const policy: BudgetPolicy = {
    concurrency: { kind: "count", n: 2 },
    budgets: [b("nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin")],
  };
  const base = {
    policy,
    groupLabel: "topology.kubernetes.io/zone",
    group: zone("a"),
    groupNodes: 8,
    total: { cap: 0, inUse: 0 },
  };
  const night = ms("2026-03-23T20:00:00Z");
  const office = ms("2026-03-23T10:00:00Z");
  assert.deepEqual(admit({ ...base, inUse: 1, atMs: night }), {
    ok: true,
    allowance: { allowed: 2, by: "--concurrency=2" },
  });
  const full = admit({ ...base, inUse: 2, atMs: night });
  assert.ok(!full.ok);
  assert.equal(full.reason, "budget");
  assert.equal(
    full.message,
    "topology.kubernetes.io/zone=a: 2 of 2 slot(s) in use, the limit set by --concurrency=2",
  );
  assert.equal(full.retryAtMs, ms("2026-03-24T07:00:00Z"), "the freeze starts next and may change it");
  const frozen = admit({ ...base, inUse: 1, atMs: office });
  assert.ok(!frozen.ok);
  assert.equal(frozen.allowance.allowed, 0);
  assert.match(frozen.message, /1 of 0 slot\(s\) in use, the limit set by --budget=nodes=0,schedule=0 8/);
  assert.equal(frozen.retryAtMs, ms("2026-03-23T17:00:00Z"), "when the freeze ends");
  const capped = admit({ ...base, inUse: 0, atMs: night, total: { cap: 2, inUse: 2 } });
  assert.ok(!capped.ok);
  assert.equal(capped.reason, "total");
  assert.equal(
    capped.message,
    "2 slot(s) in use across all groups, the limit set by --max-concurrency-total=2",
  );
  assert.equal(admit({ ...base, inUse: 0, atMs: night, total: { cap: 2, inUse: 1 } }).ok, true);
  assert.equal(
    admit({ ...base, inUse: 0, atMs: night, total: { cap: 0, inUse: 99 } }).ok,
    true,
    "0 = no cap",
  );
});

Deno.test("budget specs: canonical form round-trips", () => {
  for (
    const [spec, canonical] of <[string, string][]> [
      ["nodes=30%", "nodes=30%"],
      [" nodes = 3 , group = batch ", "nodes=3,group=batch"],
      ["group=,nodes=0", "nodes=0,group="],
      [
        "nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin",
        "nodes=0,schedule=0 8 * * mon-fri,duration=10h0m0s,tz=Europe/Berlin",
      ],
      [
        "tz=Asia/Tokyo,duration=30m,schedule=0 1,13 * * *,nodes=1",
        "nodes=1,schedule=0 1,13 * * *,duration=30m0s,tz=Asia/Tokyo",
      ],
    ]
  ) {
    const parsed = parseBudgetSpec(spec);
    assert.equal(formatBudgetSpec(parsed), canonical, spec);
    assert.deepEqual(parseBudgetSpec(canonical), parsed, canonical);
  }
});
