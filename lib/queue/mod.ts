/**
 * The fair queue's order: who goes next per group when a slot frees (longest-required first), and how
 * long a node that is not next in line lets a free slot stay free before it tries.
 */
export {
  actDelayMs,
  compareWaiters,
  linePositions,
  nextToGo,
  queueOrder,
  type Room,
  type Total,
  type Waiter,
} from "./order.ts";
