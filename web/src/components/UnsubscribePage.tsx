import { useState } from "react";
import { ApiError, unsubscribe } from "../api";
import { titleCase } from "../text";

type Result = { tone: "ok" | "error"; text: string } | null;

/**
 * The page behind the link in every digest. It asks before posting the token, so mail
 * scanners that open links do not unsubscribe anyone.
 */
export default function UnsubscribePage({ token }: { token: string | null }) {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result>(null);

  async function confirm() {
    if (!token) return;
    setBusy(true);
    try {
      const sub = await unsubscribe(token);
      setResult({ tone: "ok", text: `${sub.email} will get no more ${titleCase((sub.city.split("--")[1] ?? sub.city).replace(/-/g, " "))} emails.` });
    } catch (err) {
      const text =
        err instanceof ApiError && err.status !== 0
          ? `This link did not work: ${err.message}.`
          : "Could not reach Nocturne. Try again in a moment.";
      setResult({ tone: "error", text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="unsubscribe" id="main">
      <h1 className="section-title">Unsubscribe</h1>
      {!token ? (
        <p className="subscribe__outcome subscribe__outcome--error" role="alert">
          This unsubscribe link is missing its token. Use the link from the email as it is.
        </p>
      ) : result ? (
        <p className={`subscribe__outcome subscribe__outcome--${result.tone}`} role={result.tone === "ok" ? "status" : "alert"}>
          {result.text}
        </p>
      ) : (
        <>
          <p>Stop getting Nocturne's event digest at this address?</p>
          <button type="button" className="button" onClick={confirm} disabled={busy}>
            {busy ? "Unsubscribing…" : "Unsubscribe"}
          </button>
        </>
      )}
      <p>
        <a href="/">Back to Nocturne</a>
      </p>
    </main>
  );
}
