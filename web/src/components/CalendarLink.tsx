import { useEffect, useState } from "react";
import { calendarAvailable, calendarUrl } from "../api";

/** "Add to calendar", shown only when the API answers for the city's iCalendar feed. */
export default function CalendarLink({ cityId }: { cityId: string }) {
  const [available, setAvailable] = useState(false);
  useEffect(() => {
    let live = true;
    setAvailable(false);
    calendarAvailable(cityId).then((ok) => live && setAvailable(ok));
    return () => {
      live = false;
    };
  }, [cityId]);
  if (!available) return null;
  return (
    <a className="button button--ghost calendar-link" href={calendarUrl(cityId)}>
      Add to calendar
    </a>
  );
}
