/** The verdict every reboot gate returns. Reasons are few and fixed: they become a metric label. */
export type BlockReason = "window" | "alert" | "pod" | "pdb" | "lock" | "paused" | "sentinel-error";

export type GateResult = { clear: true } | { clear: false; reason: BlockReason; message: string };
