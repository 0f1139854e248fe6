import { addDays, formatWhen, rangeFor, todayIn } from "./dates";
import { emailError, safeHttpUrl, shorten } from "./text";

// 2026-02-13 is a Friday. 07:00 UTC is still Thursday the 12th in Los Angeles.
const FRIDAY_MORNING_UTC = new Date("2026-02-13T07:00:00Z");
const WEDNESDAY = new Date("2026-02-11T20:00:00Z");

describe("date filters in the city's calendar", () => {
  it("uses the city's day, not the browser's", () => {
    expect(todayIn("America/Los_Angeles", FRIDAY_MORNING_UTC)).toBe("2026-02-12");
    expect(todayIn("Europe/Berlin", FRIDAY_MORNING_UTC)).toBe("2026-02-13");
  });

  it("maps each filter to start_date / end_date", () => {
    const tz = "America/New_York";
    expect(rangeFor({ kind: "upcoming", start: "", end: "" }, tz, WEDNESDAY)).toEqual({});
    expect(rangeFor({ kind: "tonight", start: "", end: "" }, tz, WEDNESDAY)).toEqual({ start_date: "2026-02-11", end_date: "2026-02-11" });
    expect(rangeFor({ kind: "weekend", start: "", end: "" }, tz, WEDNESDAY)).toEqual({ start_date: "2026-02-13", end_date: "2026-02-15" });
    expect(rangeFor({ kind: "week", start: "", end: "" }, tz, WEDNESDAY)).toEqual({ start_date: "2026-02-11", end_date: "2026-02-17" });
    expect(rangeFor({ kind: "custom", start: "2026-03-01", end: "" }, tz, WEDNESDAY)).toEqual({ start_date: "2026-03-01" });
  });

  it("on a Saturday, 'this weekend' is the rest of it", () => {
    expect(rangeFor({ kind: "weekend", start: "", end: "" }, "Europe/Paris", new Date("2026-02-14T12:00:00Z"))).toEqual({ start_date: "2026-02-14", end_date: "2026-02-15" });
    expect(rangeFor({ kind: "weekend", start: "", end: "" }, "Europe/Paris", new Date("2026-02-15T12:00:00Z"))).toEqual({ start_date: "2026-02-15", end_date: "2026-02-15" });
  });

  it("adds days across month ends and formats local times", () => {
    expect(addDays("2026-02-27", 3)).toBe("2026-03-02");
    expect(formatWhen("2026-02-15", "22:00")).toBe("Sun, Feb 15 · 10:00 PM");
    expect(formatWhen("2026-02-15", null)).toBe("Sun, Feb 15");
  });
});

describe("untrusted text", () => {
  it("links only http(s)", () => {
    expect(safeHttpUrl("https://www.eventbrite.com/e/1")).toBe("https://www.eventbrite.com/e/1");
    expect(safeHttpUrl("javascript:alert(1)")).toBeNull();
    expect(safeHttpUrl("data:text/html,hi")).toBeNull();
    expect(safeHttpUrl("not a url")).toBeNull();
  });

  it("shortens long descriptions at a word", () => {
    const long = "word ".repeat(100);
    const short = shorten(long, 50);
    expect(short.length).toBeLessThanOrEqual(51);
    expect(short.endsWith("word…")).toBe(true);
  });

  it("validates email addresses loosely before the server does", () => {
    expect(emailError("")).toMatch(/Enter/);
    expect(emailError("nope")).toMatch(/doesn't look/);
    expect(emailError("night@owl.example")).toBeNull();
  });
});
