/** The API's shapes (see api/events.py and the scrape contract in the README). */

export interface City {
  id: string;
  name: string;
  slug: string;
  coordinates: { lat: number; lng: number };
  timezone: string;
}

export interface NightEvent {
  id: number;
  title: string;
  link: string;
  date: string; // YYYY-MM-DD in the city's time zone
  time: string | null; // HH:MM in the city's time zone, null when the site gives only a day
  location: string | null;
  description: string | null;
  source: string;
  city: string;
  is_online?: boolean;
  is_free?: boolean | null;
  price?: string | null;
  status?: string;
}

export type CrawlStatus = "idle" | "queued" | "running" | "finished" | "failed";

export interface ScrapeStatus {
  city: string;
  run_id: string | null;
  status: CrawlStatus;
  items_new?: number;
  error?: string | null;
}

export interface ScrapeStarted {
  message: string;
  city: string;
  joined?: boolean;
  run_id?: string;
}

export interface Subscription {
  id: number;
  email: string;
  city: string;
  is_active: boolean;
  /** POST /subscribe under double opt-in: no digest until the mailed link is followed. */
  confirmation_pending?: boolean;
}

export interface DateRange {
  start_date?: string;
  end_date?: string;
}
