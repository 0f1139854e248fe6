import { useEffect } from "react";
import type { ViewState } from "../refresh/machine";
import EventCard from "./EventCard";

interface Props {
  view: ViewState;
  cityName: string;
  onRetry(): void;
}

let firstCardsMarked = false;

/** The city's cards, with loading, empty and error states. */
export default function EventList({ view, cityName, onRetry }: Props) {
  const { events, list, fresh } = view;

  useEffect(() => {
    // Benchmarks and browser tests read this mark: the first time a city's cards are on screen.
    if (!firstCardsMarked && list === "ready") {
      firstCardsMarked = true;
      performance.mark("nocturne:first-cards", { detail: { count: events.length } });
    }
  }, [list, events.length]);

  if (list === "loading" && events.length === 0) {
    return (
      <div className="events-state" role="status">
        <span className="spinner" aria-hidden="true" /> Loading events…
      </div>
    );
  }
  if (list === "error" && events.length === 0) {
    return (
      <div className="events-state events-state--error" role="alert">
        <p>Failed to load events</p>
        <button type="button" className="button button--ghost" onClick={onRetry}>
          Try again
        </button>
      </div>
    );
  }
  if (events.length === 0) {
    return (
      <div className="events-state" role="status">
        <p>No events in {cityName} for these dates yet.</p>
        <p className="events-state__hint">Try other dates, or use the refresh to look for new ones.</p>
      </div>
    );
  }
  return (
    <ol className="cards" aria-label={`Events in ${cityName}`} aria-busy={list === "loading"}>
      {events.map((event) => (
        <EventCard key={event.id} event={event} fresh={fresh[event.id]} />
      ))}
    </ol>
  );
}
