/** Scraped text is untrusted: it is shown as text, and only web links become links. */

export function safeHttpUrl(raw: string | null | undefined): string | null {
  if (!raw) return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function shorten(text: string | null | undefined, max = 220): string {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s.,;:!-]+$/, "")}…`;
}

export function titleCase(name: string): string {
  return name.toLowerCase().replace(/(^|[\s-])\p{L}/gu, (m) => m.toUpperCase());
}

const SOURCES: Record<string, string> = { eventbrite: "Eventbrite", meetup: "Meetup", luma: "Luma" };

export function sourceName(source: string): string {
  return SOURCES[source] ?? source;
}

// Deliberately loose: the server validates properly; this only catches typos early.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function emailError(value: string): string | null {
  const email = value.trim();
  if (!email) return "Enter your email address.";
  if (email.length > 320 || !EMAIL.test(email)) return "That doesn't look like an email address.";
  return null;
}
