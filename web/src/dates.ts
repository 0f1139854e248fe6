/** Calendar arithmetic in a city's time zone, on ISO day strings (YYYY-MM-DD). */

import type { DateRange } from "./types";

export type FilterKind = "upcoming" | "tonight" | "weekend" | "week" | "custom";

export interface DateFilter {
  kind: FilterKind;
  start: string;
  end: string;
}

export const ANY_DATE: DateFilter = { kind: "upcoming", start: "", end: "" };

export function todayIn(timeZone: string, now: Date = new Date()): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

function toUtcDate(day: string): Date {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function addDays(day: string, days: number): string {
  const date = toUtcDate(day);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** 0 = Sunday ... 6 = Saturday. */
export function weekday(day: string): number {
  return toUtcDate(day).getUTCDay();
}

/** The `start_date` / `end_date` a filter asks the API for, in the city's calendar. */
export function rangeFor(filter: DateFilter, timeZone: string, now: Date = new Date()): DateRange {
  const today = todayIn(timeZone, now);
  switch (filter.kind) {
    case "upcoming":
      return {};
    case "tonight":
      return { start_date: today, end_date: today };
    case "weekend": {
      // Friday to Sunday; from Friday on, the weekend already under way.
      const dow = weekday(today);
      if (dow === 0) return { start_date: today, end_date: today };
      if (dow >= 5) return { start_date: today, end_date: addDays(today, 7 - dow) };
      const friday = addDays(today, 5 - dow);
      return { start_date: friday, end_date: addDays(friday, 2) };
    }
    case "week":
      return { start_date: today, end_date: addDays(today, 6) };
    case "custom": {
      const range: DateRange = {};
      if (filter.start) range.start_date = filter.start;
      if (filter.end) range.end_date = filter.end;
      return range;
    }
  }
}

export function customRangeError(filter: DateFilter): string | null {
  if (filter.kind !== "custom") return null;
  if (filter.start && filter.end && filter.end < filter.start) return "The end date is before the start date.";
  return null;
}

const dayFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", weekday: "short", month: "short", day: "numeric" });
const timeFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", hour: "numeric", minute: "2-digit" });

/** "Fri, Feb 13 · 10:00 PM": the API's local day and time, shown as they are (no conversion). */
export function formatWhen(day: string, time: string | null): string {
  const [y, m, d] = day.split("-").map(Number);
  if (!y || !m || !d) return day;
  const [hh, mm] = (time ?? "").split(":").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d, hh || 0, mm || 0));
  const dayText = dayFormat.format(date);
  return time ? `${dayText} · ${timeFormat.format(date)}` : dayText;
}
