/** The chosen city lives in the URL (?city=ca--los-angeles) so a link can be shared. */

export function cityFromUrl(search: string = window.location.search): string | null {
  const value = new URLSearchParams(search).get("city");
  return value && /^[a-z0-9-]+--[a-z0-9-]+$/.test(value) ? value : null;
}

export function pushCity(cityId: string): void {
  const url = new URL(window.location.href);
  url.searchParams.set("city", cityId);
  if (url.href !== window.location.href) window.history.pushState({ city: cityId }, "", url);
}
