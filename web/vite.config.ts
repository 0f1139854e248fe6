/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API answers these paths; `npm run dev` forwards them to `make run`'s server.
const apiPaths = ["/cities", "/events", "/scrape", "/subscribe", "/unsubscribe", "/health"];
const apiTarget = process.env.NOCTURNE_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    // The Starlette app serves this folder at `/` (api/app.py); it is a build output, not source.
    outDir: "../api/static",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: Object.fromEntries(
      apiPaths.map((p) => [p, { target: apiTarget, bypass: (req) => (req.headers.accept?.includes("text/html") ? req.url : undefined) }]),
    ),
  },
  test: {
    environment: "jsdom",
    globals: true,
    restoreMocks: true,
  },
});
