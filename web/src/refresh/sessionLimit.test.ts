import { isRefreshUsed, markRefreshUsed, REFRESH_KEY, releaseRefresh } from "./sessionLimit";

describe("session refresh limit", () => {
  beforeEach(() => {
    window.sessionStorage.clear();
    releaseRefresh(window.sessionStorage);
  });

  it("is stored in sessionStorage, so a reload of the tab still sees it", () => {
    expect(isRefreshUsed(window.sessionStorage)).toBe(false);
    markRefreshUsed(window.sessionStorage);
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("1");
    expect(isRefreshUsed(window.sessionStorage)).toBe(true);
  });

  it("resets with a new session (an empty sessionStorage)", () => {
    markRefreshUsed(window.sessionStorage);
    window.sessionStorage.clear();
    expect(isRefreshUsed(window.sessionStorage)).toBe(false);
  });

  it("is not in localStorage, which would outlive the session", () => {
    markRefreshUsed(window.sessionStorage);
    expect(window.localStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it("still holds for the page's life when storage throws", () => {
    const broken = {
      getItem: () => {
        throw new Error("SecurityError");
      },
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
      removeItem: () => undefined,
    } as unknown as Storage;
    expect(isRefreshUsed(broken)).toBe(false);
    markRefreshUsed(broken);
    expect(isRefreshUsed(broken)).toBe(true);
  });
});
