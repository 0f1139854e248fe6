import { type CSSProperties, memo } from "react";
import { formatWhen } from "../dates";
import { STAGGER_MS, type FreshCard } from "../refresh/machine";
import { safeHttpUrl, shorten, sourceName } from "../text";
import type { NightEvent } from "../types";

interface Props {
  event: NightEvent;
  fresh?: FreshCard;
}

/** One event. Every scraped string goes through React as text, never as HTML. */
function EventCard({ event, fresh }: Props) {
  const href = safeHttpUrl(event.link);
  const when = formatWhen(event.date, event.time);
  const style = fresh ? ({ "--stagger": `${fresh.step * STAGGER_MS}ms` } as CSSProperties) : undefined;
  return (
    <li
      className={fresh ? "card card--new" : "card"}
      data-event-id={event.id}
      data-new-index={fresh?.order}
      style={style}
    >
      <article aria-labelledby={`event-${event.id}`}>
        <p className="card__meta">
          <span className={`badge badge--${event.source}`}>{sourceName(event.source)}</span>
          {event.is_online && <span className="badge badge--online">Online</span>}
          {event.is_free && <span className="badge badge--free">Free</span>}
          {fresh && <span className="badge badge--new">New</span>}
        </p>
        <h3 className="card__title" id={`event-${event.id}`}>
          {href ? (
            <a href={href} target="_blank" rel="noopener noreferrer">
              {event.title}
            </a>
          ) : (
            event.title
          )}
        </h3>
        <p className="card__when">
          <time dateTime={event.time ? `${event.date}T${event.time}` : event.date}>{when}</time>
        </p>
        {event.location && <p className="card__venue">{event.location}</p>}
        {event.description && <p className="card__desc">{shorten(event.description)}</p>}
      </article>
    </li>
  );
}

export default memo(EventCard);
