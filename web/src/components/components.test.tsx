import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { initialState, reduce, type ViewState } from "../refresh/machine";
import type { NightEvent } from "../types";
import EventList from "./EventList";
import RefreshPanel from "./RefreshPanel";
import SubscribeForm, { successText } from "./SubscribeForm";

function ev(id: number, extra: Partial<NightEvent> = {}): NightEvent {
  return { id, title: `Event ${id}`, link: `https://www.meetup.com/e/${id}`, date: "2026-02-13", time: "22:00", location: "The Echo, LA", description: "Live music", source: "meetup", city: "ca--los-angeles", ...extra };
}

function afterRefresh(before: number[], after: number[], status: "finished" | "running" = "finished"): ViewState {
  let s = reduce(initialState(false), { type: "listLoaded", events: before.map((id) => ev(id)) });
  s = reduce(s, { type: "refreshClicked", now: 0 });
  s = reduce(s, { type: "refreshAccepted", now: 0, joined: false });
  return reduce(s, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status }, events: after.map((id) => ev(id)) });
}

function setReducedMotion(reduce: boolean) {
  window.matchMedia = ((query: string) => ({
    matches: reduce && query.includes("reduce"),
    media: query,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
  })) as unknown as typeof window.matchMedia;
}

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("event cards", () => {
  it("staggers new cards by 120 ms in the order they were found", () => {
    const view = afterRefresh([1], [4, 1, 2, 3]);
    const { container } = render(<EventList view={view} cityName="Los Angeles" onRetry={() => undefined} />);
    const fresh = [...container.querySelectorAll<HTMLElement>(".card--new")];
    expect(fresh.map((c) => c.dataset.eventId)).toEqual(["4", "2", "3"]);
    expect(fresh.map((c) => c.dataset.newIndex)).toEqual(["0", "1", "2"]);
    expect(fresh.map((c) => c.style.getPropertyValue("--stagger"))).toEqual(["0ms", "120ms", "240ms"]);
    const old = container.querySelector<HTMLElement>('[data-event-id="1"]')!;
    expect(old.classList.contains("card--new")).toBe(false);
  });

  it("renders scraped text as text and links only http(s) URLs, in a new tab", () => {
    const view = reduce(initialState(false), {
      type: "listLoaded",
      events: [
        ev(1, { title: '<img src=x onerror="alert(1)">Party', description: "<b>bold</b> & more" }),
        ev(2, { title: "Sneaky", link: "javascript:alert(1)" }),
      ],
    });
    const { container } = render(<EventList view={view} cityName="Los Angeles" onRetry={() => undefined} />);
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("b")).toBeNull();
    const link = screen.getByRole("link", { name: '<img src=x onerror="alert(1)">Party' });
    expect(link.getAttribute("target")).toBe("_blank");
    expect(link.getAttribute("rel")).toBe("noopener noreferrer");
    expect(screen.getByText("<b>bold</b> & more")).toBeTruthy();
    expect(screen.queryByRole("link", { name: "Sneaky" })).toBeNull();
    expect(screen.getByText("Sneaky")).toBeTruthy();
    expect(screen.getAllByText("Fri, Feb 13 · 10:00 PM").length).toBe(2);
  });

  it("has loading, empty and error states", () => {
    const retry = vi.fn();
    const { rerender } = render(<EventList view={initialState(false)} cityName="Paris" onRetry={retry} />);
    expect(screen.getByRole("status").textContent).toMatch(/Loading events/);
    rerender(<EventList view={reduce(initialState(false), { type: "listLoaded", events: [] })} cityName="Paris" onRetry={retry} />);
    expect(screen.getByRole("status").textContent).toMatch(/No events in Paris/);
    rerender(<EventList view={reduce(initialState(false), { type: "listFailed" })} cityName="Paris" onRetry={retry} />);
    expect(screen.getByRole("alert").textContent).toMatch(/Failed to load events/);
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(retry).toHaveBeenCalledTimes(1);
  });
});

describe("refresh panel", () => {
  it("shows 'Found X new events' once the last new card has slid in", () => {
    vi.useFakeTimers();
    setReducedMotion(false);
    const view = afterRefresh([1], [1, 2, 3, 4]);
    render(<RefreshPanel view={view} onRefresh={() => undefined} />);
    const button = screen.getByRole("button");
    expect(button.textContent).toBe("REFRESH USED (0/1)");
    expect((button as HTMLButtonElement).disabled).toBe(true);
    const status = screen.getByRole("status");
    expect(status.textContent).toBe("");
    // Three new cards: the last starts at 240 ms and runs 450 ms.
    act(() => vi.advanceTimersByTime(689));
    expect(status.textContent).toBe("");
    act(() => vi.advanceTimersByTime(1));
    expect(status.textContent).toBe("Found 3 new events");
  });

  it("shows the result at once when the user prefers reduced motion", () => {
    setReducedMotion(true);
    render(<RefreshPanel view={afterRefresh([1], [1, 2, 3, 4])} onRefresh={() => undefined} />);
    expect(screen.getByRole("status").textContent).toBe("Found 3 new events");
  });

  it("offers the session's refresh and reports a failed crawl", () => {
    setReducedMotion(false);
    const onRefresh = vi.fn();
    const ready = reduce(initialState(false), { type: "listLoaded", events: [ev(1)] });
    const { rerender } = render(<RefreshPanel view={ready} onRefresh={onRefresh} />);
    fireEvent.click(screen.getByRole("button", { name: "REFRESH EVENTS (1/1)" }));
    expect(onRefresh).toHaveBeenCalledTimes(1);
    let failed = reduce(ready, { type: "refreshClicked", now: 0 });
    failed = reduce(failed, { type: "refreshAccepted", now: 0, joined: false });
    failed = reduce(failed, { type: "polled", now: 1000, status: { city: "x", run_id: "r", status: "failed" } });
    rerender(<RefreshPanel view={failed} onRefresh={onRefresh} />);
    expect(screen.getByRole("status").textContent).toBe("Failed to load events");
    expect(screen.getByRole("button").textContent).toBe("REFRESH USED (0/1)");
  });
});

describe("subscribe form", () => {
  const city = { id: "ca--los-angeles", name: "LOS ANGELES", slug: "los-angeles", coordinates: { lat: 34.05, lng: -118.24 }, timezone: "America/Los_Angeles" };

  async function signUp(answer: Record<string, unknown>, status: number) {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(answer), { status, headers: { "content-type": "application/json" } })));
    render(<SubscribeForm city={city} />);
    fireEvent.change(screen.getByLabelText("Email address"), { target: { value: "night@example.com" } });
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "Subscribe" }));
    });
    vi.unstubAllGlobals();
    return screen.getByRole("status").textContent;
  }

  it("asks to follow the mailed link when the subscription awaits confirmation", async () => {
    const text = await signUp({ id: 1, email: "night@example.com", city: city.id, is_active: true, confirmation_pending: true }, 201);
    expect(text).toBe("Almost there: we sent a link to night@example.com. Follow it to start getting Los Angeles events.");
  });

  it("says the address is in when no confirmation is needed", async () => {
    const text = await signUp({ id: 1, email: "night@example.com", city: city.id, is_active: true, confirmation_pending: false }, 201);
    expect(text).toBe("You're in. New events in Los Angeles will land in night@example.com.");
    expect(successText(200, { id: 1, email: "a@b.co", city: city.id, is_active: true }, "Berlin")).toBe("a@b.co already gets Berlin events. You're all set.");
  });
});
