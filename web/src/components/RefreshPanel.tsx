import { useEffect, useState } from "react";
import { buttonLabel, isPolling, settleDelayMs, statusMessage, type ViewState } from "../refresh/machine";
import { usePrefersReducedMotion } from "../motion";

interface Props {
  view: ViewState;
  onRefresh(): void;
}

/** The session's one refresh: the button and the line that reports how it went. */
export default function RefreshPanel({ view, onRefresh }: Props) {
  const reducedMotion = usePrefersReducedMotion();
  const message = statusMessage(view);
  const done = view.phase === "finished";
  // "Found X new events" waits for the last new card to finish sliding in.
  const delay = done ? settleDelayMs(view.lastBatch, reducedMotion) : 0;
  const [shown, setShown] = useState<string | null>(delay ? null : message);

  useEffect(() => {
    if (!delay) {
      setShown(message);
      return;
    }
    setShown(null);
    const timer = setTimeout(() => setShown(message), delay);
    return () => clearTimeout(timer);
  }, [message, delay]);

  const disabled = view.used || isPolling(view) || view.list === "loading";
  const tone = view.phase === "failed" || view.phase === "unreachable" ? "error" : view.notice ? "warn" : "info";
  return (
    <div className="refresh">
      <button
        type="button"
        className="button button--refresh"
        onClick={onRefresh}
        disabled={disabled}
        aria-describedby="refresh-status"
        data-phase={view.phase}
      >
        {buttonLabel(view)}
      </button>
      <p id="refresh-status" className={`refresh__status refresh__status--${tone}`} role="status" aria-live="polite">
        {isPolling(view) && <span className="spinner" aria-hidden="true" />}
        {shown}
      </p>
    </div>
  );
}
