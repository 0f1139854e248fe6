/**
 * The events view as a pure state machine: a city's list, and the one refresh a session
 * gets (seed: REFRESH EVENTS (1/1) -> POST /scrape -> poll every second -> new cards ->
 * "Found X new events" -> REFRESH USED (0/1)). No React, no timers, no fetch: the runner
 * (runner.ts) feeds it actions with the clock reading, so every transition is testable.
 */

import type { NightEvent, ScrapeStatus } from "../types";

export const POLL_INTERVAL_MS = 1000;
export const POLL_TIMEOUT_MS = 20_000;
export const STAGGER_MS = 120;
// A big crawl can find hundreds of events; past this many the rest share the last delay
// so the list settles within a few seconds.
export const MAX_STAGGER_STEPS = 25;
export const CARD_ANIMATION_MS = 450;

export type ListStatus = "loading" | "ready" | "error";

export type RefreshPhase =
  | "ready" // the session's refresh is still available
  | "starting" // POST /scrape in flight
  | "polling" // crawl running, polling events and status every second
  | "finished" // crawl finished, or 20 s passed with the server answering
  | "failed" // the crawl reported failure
  | "unreachable" // every poll failed: the last list stays
  | "used"; // used earlier in this session

export interface FreshCard {
  order: number; // 0-based order in which this refresh found the card
  step: number; // stagger step within the poll that found it
}

export interface ViewState {
  events: NightEvent[];
  list: ListStatus;
  phase: RefreshPhase;
  used: boolean;
  baseline: number[];
  fresh: Record<number, FreshCard>;
  freshCount: number;
  lastBatch: number;
  startedAt: number | null;
  okPolls: number;
  failedPolls: number;
  joined: boolean;
  notice: string | null;
}

export type Action =
  | { type: "cityChanged" }
  | { type: "listRequested" }
  | { type: "listLoaded"; events: NightEvent[] }
  | { type: "listFailed" }
  | { type: "refreshClicked"; now: number }
  | { type: "refreshAccepted"; now: number; joined: boolean }
  | { type: "refreshRejected"; status: number; retryAfter: number | null; message: string }
  | { type: "polled"; now: number; events?: NightEvent[]; status?: ScrapeStatus }
  | { type: "tick"; now: number };

export function initialState(used: boolean): ViewState {
  return {
    events: [],
    list: "loading",
    phase: used ? "used" : "ready",
    used,
    baseline: [],
    fresh: {},
    freshCount: 0,
    lastBatch: 0,
    startedAt: null,
    okPolls: 0,
    failedPolls: 0,
    joined: false,
    notice: null,
  };
}

export function isPolling(state: ViewState): boolean {
  return state.phase === "starting" || state.phase === "polling";
}

export function canRefresh(state: ViewState): boolean {
  return !state.used && state.phase === "ready" && state.list !== "loading";
}

export function reduce(state: ViewState, action: Action): ViewState {
  switch (action.type) {
    case "cityChanged":
      // A refresh belongs to its city; leaving the city ends it (the session stays used).
      return { ...initialState(state.used), events: [] };
    case "listRequested":
      return { ...state, list: "loading" };
    case "listLoaded":
      return { ...state, events: action.events, list: "ready" };
    case "listFailed":
      return { ...state, list: "error" };
    case "refreshClicked":
      if (!canRefresh(state)) return state;
      return {
        ...state,
        phase: "starting",
        used: true,
        baseline: state.events.map((e) => e.id),
        fresh: {},
        freshCount: 0,
        lastBatch: 0,
        okPolls: 0,
        failedPolls: 0,
        notice: null,
        startedAt: action.now,
      };
    case "refreshAccepted":
      if (state.phase !== "starting") return state;
      return { ...state, phase: "polling", startedAt: action.now, joined: action.joined };
    case "refreshRejected":
      if (state.phase !== "starting") return state;
      // The server started nothing, so the session keeps its refresh.
      return { ...state, phase: "ready", used: false, notice: rejectionNotice(action) };
    case "polled":
      return state.phase === "polling" ? settle(withPoll(state, action), action.now, action.status) : state;
    case "tick":
      return state.phase === "polling" ? settle(state, action.now, undefined) : state;
  }
}

function withPoll(state: ViewState, action: Extract<Action, { type: "polled" }>): ViewState {
  const answered = action.events !== undefined || action.status !== undefined;
  const next = {
    ...state,
    okPolls: state.okPolls + (answered ? 1 : 0),
    failedPolls: state.failedPolls + (answered ? 0 : 1),
  };
  if (action.events === undefined) return next; // a failed poll keeps the last list
  const known = new Set(state.baseline);
  const fresh = { ...state.fresh };
  let batch = 0;
  for (const event of action.events) {
    if (known.has(event.id) || event.id in fresh) continue;
    fresh[event.id] = { order: state.freshCount + batch, step: Math.min(batch, MAX_STAGGER_STEPS) };
    batch += 1;
  }
  return {
    ...next,
    events: action.events,
    list: "ready",
    fresh,
    freshCount: state.freshCount + batch,
    lastBatch: batch > 0 ? batch : state.lastBatch,
  };
}

function settle(state: ViewState, now: number, status: ScrapeStatus | undefined): ViewState {
  if (status?.status === "failed") return { ...state, phase: "failed" };
  if (status?.status === "finished") return { ...state, phase: "finished" };
  if (state.startedAt !== null && now - state.startedAt >= POLL_TIMEOUT_MS) {
    return { ...state, phase: state.okPolls > 0 ? "finished" : "unreachable" };
  }
  return state;
}

function rejectionNotice(action: Extract<Action, { type: "refreshRejected" }>): string {
  if (action.status === 429) {
    const wait = action.retryAfter ? ` Try again in ${humanWait(action.retryAfter)}.` : " Try again in a little while.";
    return `Easy there — this city was refreshed moments ago.${wait}`;
  }
  if (action.status === 0) return "Could not reach Nocturne to start a refresh. Check your connection and try again.";
  return `Could not start a refresh: ${action.message}`;
}

export function humanWait(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

export function buttonLabel(state: ViewState): string {
  if (isPolling(state)) return "REFRESHING…";
  return state.used ? "REFRESH USED (0/1)" : "REFRESH EVENTS (1/1)";
}

export function foundMessage(count: number): string {
  return count === 1 ? "Found 1 new event" : `Found ${count} new events`;
}

/** The line under the button, or null. */
export function statusMessage(state: ViewState): string | null {
  switch (state.phase) {
    case "starting":
      return "Starting a refresh…";
    case "polling":
      return state.joined ? "Joined a refresh already running — looking for new events…" : "Looking for new events…";
    case "finished":
      return foundMessage(state.freshCount);
    case "failed":
      return "Failed to load events";
    case "unreachable":
      return "Lost touch with Nocturne — showing the last events loaded. Reload the page to try again.";
    default:
      return state.notice;
  }
}

/** When the newest cards have finished appearing, so the message follows the animation. */
export function settleDelayMs(lastBatch: number, reducedMotion: boolean): number {
  if (reducedMotion || lastBatch === 0) return 0;
  return Math.min(lastBatch - 1, MAX_STAGGER_STEPS) * STAGGER_MS + CARD_ANIMATION_MS;
}
