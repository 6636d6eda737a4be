/** Every row of the machine's table, in cycle order. */
import { BEFORE_SLOT } from "./rows_before_slot.ts";
import { DISRUPTING } from "./rows_disrupting.ts";
import { RESTORING } from "./rows_restoring.ts";
import type { Row } from "./support.ts";

export const ROWS: readonly Row[] = [...BEFORE_SLOT, ...DISRUPTING, ...RESTORING];
