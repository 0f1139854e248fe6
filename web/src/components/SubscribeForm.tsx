import { type FormEvent, useState } from "react";
import { ApiError, subscribe } from "../api";
import { emailError, titleCase } from "../text";
import type { City, Subscription } from "../types";

type Outcome = { tone: "ok" | "error"; text: string } | null;

function failureText(err: unknown): string {
  if (!(err instanceof ApiError) || err.status === 0) return "Could not reach Nocturne. Check your connection and try again.";
  if (err.status === 429) return "Too many sign-ups from here just now. Please try again a little later.";
  return err.message.charAt(0).toUpperCase() + err.message.slice(1);
}

export function successText(status: number, body: Subscription, cityName: string): string {
  if (body.confirmation_pending) {
    return `Almost there: we sent a link to ${body.email}. Follow it to start getting ${cityName} events.`;
  }
  return status === 201
    ? `You're in. New events in ${cityName} will land in ${body.email}.`
    : `${body.email} already gets ${cityName} events. You're all set.`;
}

/** Email digest sign-up for the city on screen. */
export default function SubscribeForm({ city }: { city: City | null }) {
  const [email, setEmail] = useState("");
  const [touched, setTouched] = useState(false);
  const [sending, setSending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const invalid = touched ? emailError(email) : null;
  const cityName = city ? titleCase(city.name) : null;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (!city || emailError(email)) return;
    setSending(true);
    setOutcome(null);
    try {
      const answer = await subscribe(email.trim(), city.id);
      setOutcome({ tone: "ok", text: successText(answer.status, answer.body, cityName ?? city.id) });
      setTouched(false);
      setEmail("");
    } catch (err) {
      setOutcome({ tone: "error", text: failureText(err) });
    } finally {
      setSending(false);
    }
  }

  return (
    <form className="subscribe" onSubmit={onSubmit} noValidate aria-labelledby="subscribe-title">
      <h2 id="subscribe-title" className="section-title">
        {cityName ? `${cityName} in your inbox` : "Events in your inbox"}
      </h2>
      <p className="subscribe__lede">A digest of new events, now and then. One click to leave.</p>
      <div className="subscribe__row">
        <label htmlFor="subscribe-email" className="visually-hidden">
          Email address
        </label>
        <input
          id="subscribe-email"
          name="email"
          type="email"
          autoComplete="email"
          placeholder="you@example.com"
          value={email}
          aria-invalid={invalid ? true : undefined}
          aria-describedby={invalid ? "subscribe-error" : undefined}
          onChange={(e) => setEmail(e.target.value)}
          onBlur={() => email && setTouched(true)}
          disabled={!city}
        />
        <button type="submit" className="button" disabled={!city || sending}>
          {sending ? "Subscribing…" : "Subscribe"}
        </button>
      </div>
      {!city && <p className="subscribe__hint">Pick a city first.</p>}
      {invalid && (
        <p className="field-error" id="subscribe-error">
          {invalid}
        </p>
      )}
      <p
        className={`subscribe__outcome subscribe__outcome--${outcome?.tone ?? "none"}`}
        role={outcome?.tone === "error" ? "alert" : "status"}
      >
        {outcome?.text}
      </p>
    </form>
  );
}
