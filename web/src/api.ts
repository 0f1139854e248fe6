/** The few HTTP calls the page makes, all to the app that served it. */

import type { City, DateRange, NightEvent, ScrapeStarted, ScrapeStatus, Subscription } from "./types";

// api/page.py preloads /events/{city}?limit=EVENTS_LIMIT: keep the two equal.
export const EVENTS_LIMIT = 500;

export class ApiError extends Error {
  readonly status: number;
  readonly retryAfter: number | null;

  constructor(status: number, message: string, retryAfter: number | null = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

interface Answer<T> {
  status: number;
  body: T;
}

async function call<T>(path: string, init: RequestInit = {}, timeoutMs = 8000): Promise<Answer<T>> {
  const signal = init.signal ?? AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(path, { ...init, signal, headers: { Accept: "application/json", ...init.headers } });
  } catch (err) {
    // status 0: the request never got an answer (offline, timeout, server down).
    throw new ApiError(0, err instanceof Error ? err.message : "network error");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    const retry = Number(body?.retry_after ?? response.headers.get("Retry-After"));
    throw new ApiError(response.status, message, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return { status: response.status, body: body as T };
}

function postJson<T>(path: string, payload: unknown): Promise<Answer<T>> {
  return call<T>(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
}

export async function fetchCities(): Promise<City[]> {
  return (await call<{ cities: City[] }>("/cities")).body.cities;
}

export function eventsUrl(city: string, range: DateRange = {}): string {
  const params = new URLSearchParams({ limit: String(EVENTS_LIMIT) });
  if (range.start_date) params.set("start_date", range.start_date);
  if (range.end_date) params.set("end_date", range.end_date);
  return `/events/${encodeURIComponent(city)}?${params}`;
}

export async function fetchEvents(city: string, range: DateRange, signal?: AbortSignal): Promise<NightEvent[]> {
  return (await call<NightEvent[]>(eventsUrl(city, range), signal ? { signal } : {})).body;
}

export async function startScrape(city: string): Promise<ScrapeStarted> {
  return (await call<ScrapeStarted>(`/scrape/${encodeURIComponent(city)}`, { method: "POST" })).body;
}

export async function fetchScrapeStatus(city: string): Promise<ScrapeStatus> {
  return (await call<ScrapeStatus>(`/scrape/${encodeURIComponent(city)}`, {}, 5000)).body;
}

export async function subscribe(email: string, city: string): Promise<Answer<Subscription>> {
  return postJson<Subscription>("/subscribe", { email, city });
}

export async function unsubscribe(token: string): Promise<Subscription> {
  return (await postJson<Subscription>("/unsubscribe", { token })).body;
}

export function calendarUrl(city: string): string {
  return `/events/${encodeURIComponent(city)}.ics`;
}

/** Whether the API serves the city's iCalendar feed (a HEAD answered 2xx). */
export async function calendarAvailable(city: string): Promise<boolean> {
  try {
    const response = await fetch(calendarUrl(city), { method: "HEAD", signal: AbortSignal.timeout(5000) });
    return response.ok;
  } catch {
    return false;
  }
}
