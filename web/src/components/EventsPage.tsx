import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { fetchCities, fetchEvents, fetchScrapeStatus, startScrape } from "../api";
import { ANY_DATE, customRangeError, type DateFilter, rangeFor } from "../dates";
import { initialState, isPolling } from "../refresh/machine";
import { createViewStore, runRefresh, sleep } from "../refresh/runner";
import { isRefreshUsed, sessionStore } from "../refresh/sessionLimit";
import { titleCase } from "../text";
import type { City } from "../types";
import { cityFromUrl, pushCity } from "../url";
import CalendarLink from "./CalendarLink";
import DateFilterControl from "./DateFilterControl";
import EventList from "./EventList";
import RefreshPanel from "./RefreshPanel";
import SubscribeForm from "./SubscribeForm";

// The map (d3-geo, topojson and its data) loads on its own, after the cards' code.
const CityMap = lazy(() => import("./CityMap"));

export default function EventsPage() {
  const [cities, setCities] = useState<City[] | null>(null);
  const [citiesFailed, setCitiesFailed] = useState(false);
  const [cityId, setCityId] = useState<string | null>(() => cityFromUrl());
  const [filter, setFilter] = useState<DateFilter>(ANY_DATE);
  const [reload, setReload] = useState(0);
  const store = useMemo(() => createViewStore(initialState(isRefreshUsed(sessionStore()))), []);
  const view = useSyncExternalStore(store.subscribe, store.getState);
  const refreshAbort = useRef<AbortController | null>(null);

  const city = useMemo(() => cities?.find((c) => c.id === cityId) ?? null, [cities, cityId]);
  const unknownCity = cities !== null && cityId !== null && city === null;
  // "Upcoming" needs no calendar, so a shared link's cards load alongside the city list.
  const range = useMemo(
    () => (filter.kind === "upcoming" ? {} : city ? rangeFor(filter, city.timezone) : null),
    [city, filter],
  );
  const rangeKey = range ? `${range.start_date ?? ""}/${range.end_date ?? ""}` : null;
  const rangeValid = customRangeError(filter) === null;

  useEffect(() => {
    fetchCities()
      .then(setCities)
      .catch(() => setCitiesFailed(true));
    const onPop = () => setCityId(cityFromUrl());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  useEffect(() => {
    // Leaving a city ends its refresh; the session's limit stays used.
    refreshAbort.current?.abort();
    store.dispatch({ type: "cityChanged" });
  }, [cityId, store]);

  useEffect(() => {
    if (city) document.title = `${titleCase(city.name)} tonight — Nocturne`;
  }, [city]);

  useEffect(() => {
    if (!cityId || unknownCity || !range || !rangeValid) return;
    const abort = new AbortController();
    store.dispatch({ type: "listRequested" });
    fetchEvents(cityId, range, abort.signal)
      .then((events) => !abort.signal.aborted && store.dispatch({ type: "listLoaded", events }))
      .catch(() => !abort.signal.aborted && store.dispatch({ type: "listFailed" }));
    return () => abort.abort();
    // rangeKey stands for range, whose identity changes with every new filter object.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cityId, unknownCity, rangeKey, rangeValid, reload, store]);

  const choose = useCallback((id: string) => {
    pushCity(id);
    setCityId(id);
  }, []);

  const onRefresh = useCallback(() => {
    if (!city || !range) return;
    const abort = new AbortController();
    refreshAbort.current = abort;
    void runRefresh(
      store,
      {
        startScrape: () => startScrape(city.id),
        fetchStatus: () => fetchScrapeStatus(city.id),
        fetchEvents: () => fetchEvents(city.id, range),
        storage: sessionStore(),
        now: () => performance.now(),
        sleep,
      },
      abort.signal,
    );
  }, [city, range, store]);

  const cityName = city ? titleCase(city.name) : "";
  return (
    <>
      <a className="skip-link" href="#events">
        Skip to events
      </a>
      <header className="masthead">
        <p className="masthead__brand">NOCTURNE</p>
        <p className="masthead__tag">What's happening tonight — Eventbrite, Meetup and Luma in one place.</p>
      </header>
      <main className="layout" id="main">
        <section className="picker" aria-labelledby="picker-title">
          <h2 id="picker-title" className="section-title">
            Pick a city
          </h2>
          {citiesFailed && (
            <p className="field-error" role="alert">
              Could not load the city list. Reload the page to try again.
            </p>
          )}
          <Suspense fallback={<div className="map map--placeholder" aria-hidden="true" />}>
            {cities && <CityMap cities={cities} selected={cityId} onSelect={choose} />}
          </Suspense>
          <div className="picker__select">
            <label htmlFor="city-select">City</label>
            <select
              id="city-select"
              value={cityId ?? ""}
              onChange={(e) => e.target.value && choose(e.target.value)}
              disabled={!cities}
            >
              <option value="">Choose a city…</option>
              {cities
                ?.slice()
                .sort((a, b) => a.name.localeCompare(b.name))
                .map((c) => (
                  <option key={c.id} value={c.id}>
                    {titleCase(c.name)}
                  </option>
                ))}
            </select>
          </div>
        </section>
        <section className="events" id="events" aria-labelledby="events-title" tabIndex={-1}>
          {city ? (
            <>
              <div className="events__head">
                <h1 id="events-title" className="city-title">
                  {cityName}
                  <span className="city-title__sub"> tonight and after</span>
                </h1>
                <CalendarLink cityId={city.id} />
              </div>
              <RefreshPanel view={view} onRefresh={onRefresh} />
              <DateFilterControl value={filter} onChange={setFilter} disabled={isPolling(view)} />
              <EventList view={view} cityName={cityName} onRetry={() => setReload((n) => n + 1)} />
            </>
          ) : (
            <div className="events-state">
              <h1 id="events-title" className="city-title">
                Where to tonight?
              </h1>
              {unknownCity && <p role="alert">Nocturne does not know that city yet.</p>}
              <p>Pick a city on the map or from the list to see its events.</p>
            </div>
          )}
        </section>
        <section className="signup" aria-label="Email digest">
          <SubscribeForm city={city} />
        </section>
      </main>
    </>
  );
}
