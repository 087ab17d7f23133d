// Shared by the dashboard's pages: API access, polling, DOM building and
// formatting. Pages render with DOM calls and text nodes only: the CSP
// requires Trusted Types, so assigning an HTML string to an element throws.

export const API = "/api/v1";

// app is the <main> element; its data attributes name the page's subject
// and the poll interval (dashboard.PollInterval).
export const app = document.getElementById("app");

// POLL_MS is how often a page asks the controller again while visible.
export const POLL_MS = Number(app.dataset.pollMs) || 5000;

// BYTES_PER_SECOND bounds what an open page downloads on average: the lists
// of a large fleet are asked for less often than every POLL_MS (the JSON of
// a device with one module is about 2 KB).
const BYTES_PER_SECOND = 100 * 1024;

// received counts the bytes of every API answer, for poll.
let received = 0;

// clockSkew is the controller's clock minus this browser's, from the Date
// of API answers, so that "5 s ago" is right on a laptop whose clock is off.
let clockSkew = 0;

// now is the controller's idea of the current time, in milliseconds.
export function now() { return Date.now() + clockSkew; }

// pollState.delay is the time between refreshes poll chose last.
export const pollState = { delay: POLL_MS };

// NotSignedIn is thrown when the controller answers 401.
export class NotSignedIn extends Error {
  constructor() { super("not signed in"); }
}

// APIError is any other failed request: status is 0 when the controller
// could not be reached or did not answer in time.
export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api fetches a JSON API path (below /api/v1) and returns the decoded body.
// Writes send their body as JSON with its content type; no token ever goes
// in a URL (the session cookie travels with credentials: "same-origin").
export async function api(path, { method = "GET", body, timeout = 15000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const init = {
    method, credentials: "same-origin", cache: "no-store", signal: ctl.signal,
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp, text;
  try {
    resp = await fetch(API + path, init);
    text = await resp.text();
    received += text.length;
    const date = Date.parse(resp.headers.get("Date") || "");
    if (!Number.isNaN(date)) {
      // Date has whole seconds: follow only an offset larger than that.
      const skew = date - Date.now();
      clockSkew = Math.abs(skew) > 2000 ? skew : 0;
    }
  } catch (e) {
    throw new APIError(0, ctl.signal.aborted ? `no answer within ${timeout / 1000} s` : "controller unreachable");
  } finally {
    clearTimeout(timer);
  }
  if (resp.status === 401) throw new NotSignedIn();
  let data = null;
  if ((resp.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!resp.ok) {
    const msg = data && typeof data.error === "string" ? data.error : `${resp.status} ${resp.statusText}`;
    throw new APIError(resp.status, msg);
  }
  if (data === null) throw new APIError(resp.status, "answer is not JSON");
  return data;
}

// h builds an element: h("a", {href: "/", class: "x"}, "text", child, ...).
// Strings become text nodes; null, undefined and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// fill replaces the children of the element with the given id.
export function fill(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

// table builds a table from a header row and rows of cells.
export function table(headers, rows, attrs) {
  return h("table", attrs,
    h("thead", null, h("tr", null, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c))))));
}

// plural is a count with its noun: "1 line", "3 lines".
export function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

export function muted(text) { return h("p", { class: "muted" }, text); }

// errorBox is the message a section shows when its data failed to load.
export function errorBox(what, err) {
  return h("p", { class: "error", role: "alert" }, `${what}: ${err.message}`);
}

export const deviceLink = (id) => h("a", { href: "/devices/" + encodeURIComponent(id) }, id);
export const moduleLink = (name) => h("a", { href: "/modules/" + encodeURIComponent(name) }, name);

// Bad states are those of an attempt that ended without serving (timed_out
// is set by the controller at a deployment's deadline), id_conflict: two
// agents use the device's id, and those of a staged rollout or wave that
// did not succeed (wire/rollout.go: rolled_back, aborted, rollback_failed;
// a wave failed or aborted) or is going back (rolling_back).
const BAD = new Set(["rejected", "failed", "rolled_back", "timed_out", "id_conflict",
  "rolling_back", "aborted", "rollback_failed"]);
export const isBad = (state) => BAD.has(state);

export function stateBadge(state) {
  return h("span", { class: "state s-" + String(state).replace(/[^a-z_]/g, "") }, String(state).replaceAll("_", " "));
}

export function onlineBadge(online) {
  return h("span", { class: online ? "badge on" : "badge off" }, online ? "online" : "offline");
}

// isZeroTime is true for Go's zero time, which the API sends for "never".
export function isZeroTime(t) {
  return !t || t.startsWith("0001-01-01");
}

// ago shows a time relative to now, with the exact local time on hover.
export function ago(t) {
  if (isZeroTime(t)) return h("span", { class: "muted" }, "never");
  const d = new Date(t);
  return h("time", { datetime: t, title: d.toLocaleString() }, agoText(d));
}

export function agoText(d) {
  const s = Math.round((now() - d.getTime()) / 1000);
  if (s < -5) return "in " + span(-s);
  if (s < 5) return "just now";
  return span(s) + " ago";
}

// span formats seconds as "42 s", "5 min", "3 h 12 min", "2 d 4 h".
export function span(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

// num shows a number with at most 3 significant digits after the point.
export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.01) return v.toFixed(2);
  return v.toPrecision(2);
}

export function seconds(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0";
  if (v < 1) return num(v * 1000) + " ms";
  return num(v) + " s";
}

// moduleCell describes one ModuleStatus: what serves and, when it differs,
// the last attempt with its reason.
export function moduleCell(m) {
  // A version serves when it is running; an agent that reports an attempt
  // in the module's own fields (older agents) shows it as such.
  let what;
  if (m.version && m.state === "running") {
    what = [h("strong", { class: "version" }, m.version), m.port ? h("span", { class: "muted" }, " :" + m.port) : null, " ", stateBadge(m.state)];
  } else if (m.version) {
    what = [h("span", { class: "version" }, m.version), " ", stateBadge(m.state)];
  } else {
    what = [h("span", { class: "muted" }, "not serving "), stateBadge(m.state)];
  }
  return h("div", { class: "module" },
    moduleLink(m.name), " ",
    what,
    m.error ? h("div", { class: isBad(m.state) ? "reason bad" : "reason" }, m.error) : null,
    m.attempt ? attemptLine(m.attempt) : null);
}

export function attemptLine(a) {
  return h("div", { class: isBad(a.state) ? "attempt bad" : "attempt" },
    "last attempt ", h("span", { class: "version" }, a.version), " ", stateBadge(a.state),
    a.reason ? [": ", h("span", { class: "reason" }, a.reason)] : null,
    " (", ago(a.time), ")");
}

// deviceProblems lists a device's modules whose last attempt failed or
// which report an error, after the device's id conflict if it has one
// (module "").
export function deviceProblems(d) {
  const out = [];
  if (d.id_conflict) out.push({ module: "", version: "", state: "id_conflict", reason: d.id_conflict.reason, time: d.id_conflict.last });
  for (const m of (d.status && d.status.modules) || []) {
    if (m.attempt && isBad(m.attempt.state)) out.push({ module: m.name, version: m.attempt.version, state: m.attempt.state, reason: m.attempt.reason, time: m.attempt.time });
    else if (isBad(m.state) || m.error) out.push({ module: m.name, version: m.version, state: m.state, reason: m.error, time: m.since });
  }
  return out;
}

// LISTED_DEVICES is how many devices a deployment lists by name; a larger
// one shows its count per state and the devices not running first.
const LISTED_DEVICES = 10;

// deploymentRow is one deployment: when, what, progress and its devices.
export function deploymentRow(d) {
  const running = d.devices.filter((x) => x.state === "running").length;
  const item = (x) => h("li", null, deviceLink(x.device), " ", stateBadge(x.state),
    x.reason ? [": ", h("span", { class: "reason" }, x.reason)] : null);
  let devices;
  if (d.devices.length <= LISTED_DEVICES) {
    devices = h("ul", { class: "plain" }, d.devices.map(item));
  } else {
    const counts = new Map();
    for (const x of d.devices) counts.set(x.state, (counts.get(x.state) || 0) + 1);
    const notRunning = d.devices.filter((x) => x.state !== "running");
    const shown = (notRunning.length ? notRunning : d.devices).slice(0, LISTED_DEVICES);
    devices = [
      h("div", null, [...counts].sort((a, b) => b[1] - a[1]).flatMap(([state, n], i) => [i ? ", " : "", `${n} `, stateBadge(state)])),
      h("ul", { class: "plain" }, shown.map(item)),
      d.devices.length > shown.length ? h("div", { class: "muted" }, `and ${d.devices.length - shown.length} more`) : null,
    ];
  }
  return [
    ago(d.created),
    h("code", null, d.id),
    [moduleLink(d.module), " ", h("span", { class: "version" }, d.version)],
    [`${running} of ${d.devices.length} running`,
      d.done ? h("span", { class: "muted" }, " · done")
        : !isZeroTime(d.deadline) ? h("div", { class: "muted" }, "deadline ", ago(d.deadline)) : null],
    devices,
  ];
}

export const DEPLOYMENT_HEADERS = ["created", "id", "module", "progress", "devices"];

// Page keeps the live indicator and the banner: "updated 3 s ago",
// "paused", "controller unreachable", or "not signed in" with a link to
// the sign-in page.
export class Page {
  constructor() {
    this.live = document.getElementById("live");
    this.banner = document.getElementById("banner");
    this.updated = null;
    this.signedOut = false;
    setInterval(() => this.showLive(), 1000);
    document.addEventListener("visibilitychange", () => this.showLive());
  }

  // settle looks at the errors of one refresh: a 401 anywhere means not
  // signed in; only unreachable errors means the controller is down.
  settle(errors) {
    this.signedOut = errors.some((e) => e instanceof NotSignedIn);
    const down = errors.length > 0 && errors.every((e) => e instanceof APIError && e.status === 0);
    if (this.signedOut) {
      const next = location.pathname + location.search;
      this.showBanner("signin", "Not signed in. ", h("a", { href: app.dataset.login + "?next=" + encodeURIComponent(next) }, "Sign in"), " to see the fleet.");
    } else if (down) {
      this.showBanner("down", `Controller unreachable: ${errors[0].message}. Showing what was last received; retrying every ${Math.round(pollState.delay / 1000)} s.`);
    } else {
      this.banner.hidden = true;
      this.banner.replaceChildren();
    }
    if (!this.signedOut && !down) this.updated = new Date(now());
    this.showLive();
  }

  showBanner(kind, ...children) {
    this.banner.className = "banner " + kind;
    this.banner.replaceChildren(...children.map((c) => (c instanceof Node ? c : document.createTextNode(c))));
    this.banner.hidden = false;
  }

  showLive() {
    let text;
    if (document.hidden) text = "paused while hidden";
    else if (!this.updated) text = "loading…";
    else text = "live · updated " + agoText(this.updated) + (pollState.delay > POLL_MS ? ` · every ${Math.round(pollState.delay / 1000)} s (large answers)` : "");
    if (this.live.textContent !== text) this.live.textContent = text;
  }
}

// section runs one part of a refresh: fetch, then render; on failure the
// section shows the error (unless not signed in, which the banner says) and
// the error is returned for Page.settle.
export async function section(id, what, fetcher, render) {
  try {
    render(await fetcher());
    return null;
  } catch (err) {
    if (!(err instanceof NotSignedIn) && !(err instanceof APIError && err.status === 0)) {
      if (!(err instanceof APIError)) console.warn(what, err); // a bug in rendering, shown too
      fill(id, errorBox(what, err));
    }
    return err;
  }
}

// poll calls refresh now and then every interval after each run ends,
// never two at once, and not while the tab is hidden: it resumes at once
// when the tab shows again. A refresh that downloaded more than
// BYTES_PER_SECOND × interval stretches the wait in proportion. It returns
// a function that refreshes now.
export function poll(refresh, interval = POLL_MS) {
  let timer = null;
  let running = false;
  let again = false;
  async function tick() {
    timer = null;
    if (document.hidden) return;
    if (running) { again = true; return; }
    running = true;
    const before = received;
    try { await refresh(); } finally { running = false; }
    pollState.delay = Math.max(interval, Math.round(((received - before) / BYTES_PER_SECOND) * 1000));
    if (again) { again = false; tick(); return; }
    if (!document.hidden && timer === null) timer = setTimeout(tick, pollState.delay);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      if (timer !== null) { clearTimeout(timer); timer = null; }
    } else if (timer === null && !running) {
      tick();
    }
  });
  tick();
  return () => {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    tick();
  };
}

// errorsOf collects the non-null results of sections.
export function errorsOf(results) {
  return results.filter((e) => e !== null);
}
