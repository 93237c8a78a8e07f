/** Measures how many requests shared an engine while one of them ran. */
export interface OccupancyTracker {
  /**
   * Marks a request on `key` (a backend or model id) as started; the returned function ends it and
   * gives the average number of requests in flight on `key` over its lifetime (itself included),
   * capped at `slots`, the parallel sequences the engine can run at once.
   */
  begin(key: string, slots?: number): () => number;
  /** Requests in flight on `key` now. */
  inFlight(key: string): number;
}

interface Lane {
  active: number;
  /** Integral of `active` over time (request x milliseconds) up to `at`. */
  area: number;
  at: number;
}

/**
 * Time-weighted occupancy per key: each start and end advances an integral of the in-flight count,
 * so a request's average concurrency is the integral's growth over its lifetime divided by that
 * lifetime. Queued requests count while they wait, which is why the result is capped at the slot
 * count: once every slot is busy, exactly `slots` sequences share the machine.
 */
export function createOccupancyTracker(now: () => number = () => performance.now()): OccupancyTracker {
  const lanes = new Map<string, Lane>();
  const advance = (lane: Lane): void => {
    const time = now();
    lane.area += lane.active * (time - lane.at);
    lane.at = time;
  };
  return {
    begin(key, slots = Number.POSITIVE_INFINITY) {
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = { active: 0, area: 0, at: now() };
        lanes.set(key, lane);
      }
      advance(lane);
      lane.active++;
      const startArea = lane.area;
      const startAt = lane.at;
      const current = lane;
      let ended = false;
      return () => {
        if (ended) return 1;
        ended = true;
        advance(current);
        const elapsed = current.at - startAt;
        const average = elapsed > 0 ? (current.area - startArea) / elapsed : current.active;
        current.active--;
        return Math.min(Math.max(1, average), Math.max(1, slots));
      };
    },
    inFlight: (key) => lanes.get(key)?.active ?? 0,
  };
}
