import type { NightEvent } from "../types";
import {
  buttonLabel,
  canRefresh,
  initialState,
  MAX_STAGGER_STEPS,
  POLL_TIMEOUT_MS,
  reduce,
  settleDelayMs,
  statusMessage,
  type ViewState,
} from "./machine";

function ev(id: number): NightEvent {
  return { id, title: `Event ${id}`, link: `https://www.eventbrite.com/e/${id}`, date: "2026-02-15", time: "22:00", location: "LA", description: "", source: "eventbrite", city: "ca--los-angeles" };
}

function loaded(ids: number[], used = false): ViewState {
  return reduce(initialState(used), { type: "listLoaded", events: ids.map(ev) });
}

function polling(ids: number[]): ViewState {
  let s = reduce(loaded(ids), { type: "refreshClicked", now: 0 });
  s = reduce(s, { type: "refreshAccepted", now: 0, joined: false });
  return s;
}

describe("refresh state machine", () => {
  it("starts usable with the seed's label and ends used, disabled", () => {
    let s = loaded([1, 2]);
    expect(buttonLabel(s)).toBe("REFRESH EVENTS (1/1)");
    expect(canRefresh(s)).toBe(true);
    s = reduce(s, { type: "refreshClicked", now: 0 });
    expect(s.phase).toBe("starting");
    expect(s.used).toBe(true);
    expect(s.baseline).toEqual([1, 2]);
    s = reduce(s, { type: "refreshAccepted", now: 0, joined: false });
    s = reduce(s, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status: "finished" }, events: [1, 2, 3].map(ev) });
    expect(s.phase).toBe("finished");
    expect(buttonLabel(s)).toBe("REFRESH USED (0/1)");
    expect(canRefresh(s)).toBe(false);
    expect(statusMessage(s)).toBe("Found 1 new event");
  });

  it("cannot refresh while the list loads or once used", () => {
    expect(canRefresh(initialState(false))).toBe(false);
    const used = loaded([1], true);
    expect(used.phase).toBe("used");
    expect(reduce(used, { type: "refreshClicked", now: 0 })).toBe(used);
  });

  it("marks only ids absent from the list shown at the click, in order, across polls", () => {
    let s = polling([10, 20]);
    s = reduce(s, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status: "running" }, events: [5, 10, 15, 20].map(ev) });
    expect(s.fresh).toEqual({ 5: { order: 0, step: 0 }, 15: { order: 1, step: 1 } });
    expect(s.phase).toBe("polling");
    s = reduce(s, { type: "polled", now: 2000, status: { city: "x", run_id: "r", status: "running" }, events: [5, 10, 15, 20, 25, 30].map(ev) });
    // The second batch staggers from its own start, but keeps counting the order.
    expect(s.fresh[25]).toEqual({ order: 2, step: 0 });
    expect(s.fresh[30]).toEqual({ order: 3, step: 1 });
    expect(s.freshCount).toBe(4);
    expect(s.lastBatch).toBe(2);
    s = reduce(s, { type: "polled", now: 3000, status: { city: "x", run_id: "r", status: "finished" }, events: [5, 10, 15, 20, 25, 30].map(ev) });
    expect(statusMessage(s)).toBe("Found 4 new events");
  });

  it("keeps the last list when a poll fails and counts it", () => {
    let s = polling([1]);
    s = reduce(s, { type: "polled", now: 1000, events: [1, 2].map(ev) });
    s = reduce(s, { type: "polled", now: 2000 });
    expect(s.events.map((e) => e.id)).toEqual([1, 2]);
    expect(s.failedPolls).toBe(1);
    expect(s.phase).toBe("polling");
  });

  it("shows 'Failed to load events' when the crawl fails, keeping what it found", () => {
    let s = polling([1]);
    s = reduce(s, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status: "failed", error: "boom" }, events: [1, 2].map(ev) });
    expect(s.phase).toBe("failed");
    expect(statusMessage(s)).toBe("Failed to load events");
    expect(s.fresh[2]).toBeDefined();
    expect(buttonLabel(s)).toBe("REFRESH USED (0/1)");
  });

  it("stops after 20 s: finished when the server answered, unreachable when every poll failed", () => {
    let answered = polling([1]);
    answered = reduce(answered, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status: "running" } });
    answered = reduce(answered, { type: "polled", now: POLL_TIMEOUT_MS - 1, status: { city: "x", run_id: "r", status: "running" } });
    expect(answered.phase).toBe("polling");
    answered = reduce(answered, { type: "polled", now: POLL_TIMEOUT_MS });
    expect(answered.phase).toBe("finished");
    expect(statusMessage(answered)).toBe("Found 0 new events");

    let silent = polling([1, 2]);
    for (let t = 1000; t <= POLL_TIMEOUT_MS; t += 1000) silent = reduce(silent, { type: "polled", now: t });
    expect(silent.phase).toBe("unreachable");
    expect(silent.events.map((e) => e.id)).toEqual([1, 2]);
  });

  it("gives the refresh back on a 429 with a friendly message", () => {
    let s = reduce(loaded([1]), { type: "refreshClicked", now: 0 });
    s = reduce(s, { type: "refreshRejected", status: 429, retryAfter: 240, message: "cooldown" });
    expect(s.phase).toBe("ready");
    expect(s.used).toBe(false);
    expect(statusMessage(s)).toMatch(/refreshed moments ago.*4 minutes/);
    expect(buttonLabel(s)).toBe("REFRESH EVENTS (1/1)");
  });

  it("keeps the session's limit when the city changes", () => {
    let s = polling([1]);
    s = reduce(s, { type: "cityChanged" });
    expect(s.phase).toBe("used");
    expect(s.list).toBe("loading");
    expect(s.events).toEqual([]);
    expect(buttonLabel(s)).toBe("REFRESH USED (0/1)");
    // A late answer for the old city changes nothing.
    expect(reduce(s, { type: "polled", now: 5000, events: [ev(9)] })).toBe(s);
  });

  it("caps the stagger so big batches settle in a few seconds", () => {
    let s = polling([]);
    const many = Array.from({ length: 60 }, (_, i) => ev(i + 1));
    s = reduce(s, { type: "polled", now: 1000, events: many });
    expect(s.fresh[60].step).toBe(MAX_STAGGER_STEPS);
    expect(s.fresh[60].order).toBe(59);
    expect(settleDelayMs(3, false)).toBe(2 * 120 + 450);
    expect(settleDelayMs(3, true)).toBe(0);
  });
});
