import { ROWS } from "./rows.ts";
import { checkRow } from "./support.ts";

for (const row of ROWS) {
  Deno.test(`decide(): ${row.name}`, () => checkRow(row));
}
