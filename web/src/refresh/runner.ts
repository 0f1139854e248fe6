/**
 * Drives the state machine with real effects: the POST, the one-second polls, the
 * 20-second limit. Time and HTTP come in as dependencies so tests run it on fake timers.
 */

import { ApiError } from "../api";
import type { NightEvent, ScrapeStarted, ScrapeStatus } from "../types";
import { type Action, POLL_INTERVAL_MS, POLL_TIMEOUT_MS, reduce, type ViewState, canRefresh } from "./machine";
import { markRefreshUsed, releaseRefresh } from "./sessionLimit";

export interface ViewStore {
  getState(): ViewState;
  dispatch(action: Action): void;
  subscribe(listener: () => void): () => void;
}

export function createViewStore(initial: ViewState): ViewStore {
  let state = initial;
  const listeners = new Set<() => void>();
  return {
    getState: () => state,
    dispatch(action) {
      const next = reduce(state, action);
      if (next !== state) {
        state = next;
        listeners.forEach((listener) => listener());
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export interface RefreshDeps {
  startScrape(): Promise<ScrapeStarted>;
  fetchStatus(): Promise<ScrapeStatus>;
  fetchEvents(): Promise<NightEvent[]>;
  storage: Storage | null;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

async function attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch {
    return undefined; // a failed poll is retried on the next tick
  }
}

/** One refresh, start to end; `signal` aborts it (the user left the city). */
export async function runRefresh(store: ViewStore, deps: RefreshDeps, signal: AbortSignal): Promise<void> {
  if (!canRefresh(store.getState())) return;
  markRefreshUsed(deps.storage);
  store.dispatch({ type: "refreshClicked", now: deps.now() });
  let started: ScrapeStarted;
  try {
    started = await deps.startScrape();
  } catch (err) {
    const status = err instanceof ApiError ? err.status : 0;
    const retryAfter = err instanceof ApiError ? err.retryAfter : null;
    releaseRefresh(deps.storage);
    store.dispatch({ type: "refreshRejected", status, retryAfter, message: String((err as Error)?.message ?? err) });
    return;
  }
  if (signal.aborted) return;
  const startedAt = deps.now();
  store.dispatch({ type: "refreshAccepted", now: startedAt, joined: Boolean(started.joined) });
  for (let tick = 1; tick * POLL_INTERVAL_MS <= POLL_TIMEOUT_MS; tick += 1) {
    // Ticks keep a one-second beat from the start, however long each poll takes.
    await deps.sleep(Math.max(0, startedAt + tick * POLL_INTERVAL_MS - deps.now()), signal);
    if (signal.aborted) return;
    // Status first: when it says finished, the events read after it hold the crawl's last rows.
    const status = await attempt(deps.fetchStatus);
    const events = await attempt(deps.fetchEvents);
    if (signal.aborted) return;
    store.dispatch({ type: "polled", now: deps.now(), status, events });
    if (store.getState().phase !== "polling") return;
  }
  store.dispatch({ type: "tick", now: Math.max(deps.now(), startedAt + POLL_TIMEOUT_MS) });
}
