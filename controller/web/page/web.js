/*
 * What the hall's pages share (caller.js, admin.js; loaded before them):
 * the JSON API (docs/api.md) with the session's CSRF token, its refusals,
 * and the page's two messages (the alert and the screen reader's line).
 *
 * The CSRF token of the sign-in (or of GET /api/v1/session on load) is
 * kept in WEB.csrf, in memory only, and sent as X-CSRF-Token with every
 * write; the session cookie itself is HttpOnly.
 */
"use strict";

const WEB = { csrf: null };

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.error = body && body.error ? body.error : null; // {code, message: {zh, en}, field...}
  }
}

// One request; the answer's JSON, or throws ApiError (an answer that is an
// error) or TypeError (no answer: the network). A body is sent as JSON,
// or as it is with opts.type; opts.key is the Idempotency-Key.
async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = WEB.csrf || "";
  if (body !== undefined) headers["Content-Type"] = opts.type || "application/json";
  if (opts.key) headers["Idempotency-Key"] = opts.key;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : opts.type ? body : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// An error as a sentence in lang: the API's own, or failed (an answer
// without one) or unreachable (no answer).
function errorSentence(e, lang, failed, unreachable) {
  const m = e instanceof ApiError && e.error ? e.error.message : null;
  if (m) return m[lang] || m.zh || m.en;
  return e instanceof ApiError ? failed : unreachable;
}

// The page's alert (empty: hidden), and its line for screen readers.
function notify(text) {
  const n = $("notice");
  n.textContent = text || "";
  n.hidden = !text;
}

function say(text) {
  $("said").textContent = text;
}
