/*
 * What the hall's pages share (caller.js, admin.js, dashboard.js, and
 * screen.js for its texts; loaded before them): the JSON API (docs/api.md)
 * with the session's CSRF token, its refusals, the page's two messages (the
 * alert and the screen reader's line), its texts in one language, and the
 * sign-in form of the pages that have one.
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

// The page in the language of t (its texts: htmlLang, title, langButton
// naming the other language, langName, and one per data-t element): lang
// is the page's language, "zh" or "en".
function applyTexts(t, lang) {
  document.documentElement.lang = t.htmlLang;
  document.title = t.title;
  for (const e of document.querySelectorAll("[data-t]")) {
    const v = t[e.dataset.t];
    if (typeof v === "string") e.textContent = v;
  }
  const b = $("lang");
  b.textContent = t.langButton;
  b.lang = lang === "zh" ? "en" : "zh-CN";
  b.title = t.langName;
}

// The page's sign-in form (#signin-form with #user, #password and the
// #signin button) and its #signout button: a session signed in goes to
// started(session), a sign-out to ended(); a refused sign-in is said with
// sentence(error).
function wireSession(started, ended, sentence) {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    notify("");
    $("signin").disabled = true;
    try {
      const s = await api("POST", "/api/v1/session", { user: $("user").value.trim(), password: $("password").value });
      $("password").value = "";
      await started(s);
    } catch (e) {
      notify(sentence(e));
      $("password").select();
    } finally {
      $("signin").disabled = false;
    }
  });
  $("signout").addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/v1/session");
    } catch (e) {
      /* signed out either way */
    }
    ended();
  });
}
