/**
 * The one refresh a browser session gets. sessionStorage is per tab and survives reloads,
 * so the limit holds in every city and across reloads, and a new session starts fresh.
 */

export const REFRESH_KEY = "nocturne.refreshUsed";
export const REFRESHES_PER_SESSION = 1;

// Where storage is unavailable (disabled cookies, some private modes) the limit still
// holds for the life of the page.
let usedInMemory = false;

export function sessionStore(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function isRefreshUsed(storage: Storage | null): boolean {
  try {
    if (storage) return storage.getItem(REFRESH_KEY) === "1";
  } catch {
    /* fall through */
  }
  return usedInMemory;
}

export function markRefreshUsed(storage: Storage | null): void {
  usedInMemory = true;
  try {
    storage?.setItem(REFRESH_KEY, "1");
  } catch {
    /* the in-memory flag still holds */
  }
}

/** Gives the refresh back: the server refused to start a crawl, so nothing was used. */
export function releaseRefresh(storage: Storage | null): void {
  usedInMemory = false;
  try {
    storage?.removeItem(REFRESH_KEY);
  } catch {
    /* nothing to undo */
  }
}
