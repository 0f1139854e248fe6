import { ApiError } from "../api";
import type { NightEvent, ScrapeStatus } from "../types";
import { initialState, POLL_INTERVAL_MS } from "./machine";
import { createViewStore, type RefreshDeps, runRefresh, sleep } from "./runner";
import { isRefreshUsed, releaseRefresh } from "./sessionLimit";

function ev(id: number): NightEvent {
  return { id, title: `Event ${id}`, link: `https://lu.ma/e${id}`, date: "2026-02-15", time: null, location: null, description: null, source: "luma", city: "ca--los-angeles" };
}

/** A crawl on a script: at each second, what the status and events endpoints answer. */
function scriptedServer(script: Array<{ status: ScrapeStatus["status"] | Error; events: number[] | Error }>) {
  const calls: number[] = [];
  const at = () => script[Math.min(calls.length, script.length) - 1] ?? script[script.length - 1];
  const deps: RefreshDeps = {
    startScrape: async () => ({ message: "Scraping initiated", city: "ca--los-angeles", joined: false }),
    fetchStatus: async () => {
      calls.push(Date.now());
      const step = at();
      if (step.status instanceof Error) throw step.status;
      return { city: "ca--los-angeles", run_id: "run-1", status: step.status };
    },
    fetchEvents: async () => {
      const step = at();
      if (step.events instanceof Error) throw step.events;
      return step.events.map(ev);
    },
    storage: window.sessionStorage,
    now: () => Date.now(),
    sleep,
  };
  return { deps, calls };
}

function readyStore(ids: number[]) {
  const store = createViewStore(initialState(false));
  store.dispatch({ type: "listLoaded", events: ids.map(ev) });
  return store;
}

describe("refresh runner on fake timers", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    window.sessionStorage.clear();
    releaseRefresh(window.sessionStorage);
  });
  afterEach(() => vi.useRealTimers());

  it("polls every second until the crawl finishes, then stops", async () => {
    const { deps, calls } = scriptedServer([
      { status: "running", events: [1] },
      { status: "running", events: [1, 2] },
      { status: "finished", events: [1, 2, 3, 4] },
    ]);
    const store = readyStore([1]);
    const done = runRefresh(store, deps, new AbortController().signal);
    expect(isRefreshUsed(window.sessionStorage)).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    await done;
    expect(calls).toEqual([1000, 2000, 3000]);
    const state = store.getState();
    expect(state.phase).toBe("finished");
    expect(Object.keys(state.fresh).map(Number)).toEqual([2, 3, 4]);
    expect(state.fresh[3]).toEqual({ order: 1, step: 0 });
  });

  it("gives up after 20 s of a crawl that never ends: 20 polls, no more", async () => {
    const { deps, calls } = scriptedServer([{ status: "running", events: [1] }]);
    const store = readyStore([1]);
    const done = runRefresh(store, deps, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(60_000);
    await done;
    expect(calls.length).toBe(20);
    expect(calls[19]).toBe(20 * POLL_INTERVAL_MS);
    expect(store.getState().phase).toBe("finished");
  });

  it("retries a failed poll on the next tick", async () => {
    const { deps, calls } = scriptedServer([
      { status: new Error("down"), events: new Error("down") },
      { status: "finished", events: [1, 7] },
    ]);
    const store = readyStore([1]);
    const done = runRefresh(store, deps, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.getState().phase).toBe("polling");
    expect(store.getState().failedPolls).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await done;
    expect(calls).toEqual([1000, 2000]);
    expect(store.getState().fresh[7]).toBeDefined();
    expect(store.getState().phase).toBe("finished");
  });

  it("keeps the last list when every poll fails", async () => {
    const { deps } = scriptedServer([{ status: new Error("down"), events: new Error("down") }]);
    const store = readyStore([1, 2, 3]);
    const done = runRefresh(store, deps, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(25_000);
    await done;
    expect(store.getState().phase).toBe("unreachable");
    expect(store.getState().events.map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it("gives the session's refresh back when the server answers 429", async () => {
    const { deps, calls } = scriptedServer([{ status: "running", events: [1] }]);
    deps.startScrape = async () => {
      throw new ApiError(429, "cooldown", 90);
    };
    const store = readyStore([1]);
    await runRefresh(store, deps, new AbortController().signal);
    expect(isRefreshUsed(window.sessionStorage)).toBe(false);
    expect(store.getState().phase).toBe("ready");
    expect(store.getState().notice).toMatch(/2 minutes/);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual([]);
  });

  it("stops polling when the user leaves the city", async () => {
    const { deps, calls } = scriptedServer([{ status: "running", events: [1] }]);
    const store = readyStore([1]);
    const abort = new AbortController();
    const done = runRefresh(store, deps, abort.signal);
    await vi.advanceTimersByTimeAsync(2500);
    abort.abort();
    store.dispatch({ type: "cityChanged" });
    await vi.advanceTimersByTimeAsync(10_000);
    await done;
    expect(calls).toEqual([1000, 2000]);
    expect(store.getState().phase).toBe("used");
    expect(isRefreshUsed(window.sessionStorage)).toBe(true);
  });
});
