// A device: what it is and serves, its trends over time, recent events and
// errors, and recent log lines asked of the agent on demand.
import {
  api, now, app, h, fill, table, muted, ago, moduleLink, onlineBadge, stateBadge, attemptLine, bytes, span, num,
  isZeroTime, errorBox, Page, section, poll, errorsOf, APIError, NotSignedIn, plural,
} from "./common.js";
import { Chart, COLORS, align, formats } from "./charts.js";

const id = app.dataset.device;
const enc = encodeURIComponent;
const page = new Page();

// HISTORY_MS: histories change by the minute, so they are asked for less
// often than the device itself (and at once when the range changes).
const HISTORY_MS = 30000;
const HISTORY_CONCURRENCY = 4;

const charts = {
  requests: new Chart(document.getElementById("chart-requests"), formats.rate),
  errors: new Chart(document.getElementById("chart-errors"), formats.rate),
  p99: new Chart(document.getElementById("chart-p99"), formats.latency),
  memory: new Chart(document.getElementById("chart-memory"), formats.memory),
};
const rangeSelect = document.getElementById("range");
const logSource = document.getElementById("log-source");

let moduleNames = [];
let historyAt = 0;

function fact(term, ...desc) {
  return [h("dt", null, term), h("dd", null, ...desc)];
}

function renderFacts(detail) {
  const d = detail.device;
  const s = d.status || {};
  const m = d.metrics || null;
  const a = m ? m.agent : null;
  fill("online", onlineBadge(d.online));
  const labels = Object.entries(detail.labels || s.labels || {}).sort(([x], [y]) => (x < y ? -1 : 1));
  fill("facts",
    fact("connection", d.online ? "online" : "offline", ", last seen ", ago(d.last_seen),
      a ? `; broker ${a.broker_connected ? "connected" : "not connected"}, ${plural(a.broker_reconnects, "reconnect")}` : null),
    fact("agent", s.agent_version || a && a.version || "–", a && !isZeroTime(a.start) ? `, up ${span((now() - new Date(a.start)) / 1000)}` : null),
    fact("board", s.board || a && a.board || "–"),
    fact("arch / engine", `${s.arch || a && a.arch || "?"} / ${s.engine || a && a.engine || "?"}`),
    fact("generation", s.generation !== undefined ? String(s.generation) : "–"),
    fact("labels", labels.length ? labels.map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`)) : h("span", { class: "muted" }, "none")),
    a ? fact("agent memory", `RSS ${bytes(a.rss_bytes)}, PSS ${bytes(a.pss_bytes)}; CPU ${num(a.cpu_seconds)} s total`) : null,
    a ? fact("disk free", `${bytes(a.disk_free_bytes)} of ${bytes(a.disk_total_bytes)}`) : null,
    a ? fact("reports", "metrics sampled ", ago(m.time), `; ${a.metrics_dropped} dropped while offline, ${plural(a.events_queued, "event")} queued`) : fact("reports", h("span", { class: "muted" }, "no metrics received yet")));
}

// metricsOf finds a module version's latest counters in the device report.
function metricsOf(d, name, version) {
  return ((d.metrics && d.metrics.modules) || []).find((x) => x.name === name && x.version === version) || null;
}

function renderModules(detail) {
  const d = detail.device;
  const mods = (d.status && d.status.modules) || [];
  fill("modules", mods.length === 0 ? muted("This device runs no module.") :
    table(["module", "serving", "port", "state", "since", "last good", "last attempt", "requests", "5xx", "instances", "worker memory"],
      mods.map((m) => {
        const mm = m.version ? metricsOf(d, m.name, m.version) : null;
        return [
          moduleLink(m.name),
          !m.version ? h("span", { class: "muted" }, "none")
            : m.state === "running" ? h("strong", { class: "version" }, m.version)
              : h("span", { class: "version muted", title: "reported with state " + m.state }, m.version),
          m.port ? String(m.port) : "–",
          [stateBadge(m.state), m.error ? h("div", { class: "reason" }, m.error) : null],
          ago(m.since),
          m.last_good || "–",
          m.attempt ? attemptLine(m.attempt) : h("span", { class: "muted" }, "same as serving"),
          mm ? String(mm.requests) : "–",
          mm ? String(mm.responses_5xx) : "–",
          mm ? String(mm.instances) : "–",
          mm ? bytes(mm.rss_bytes) : "–",
        ];
      }), { class: "modules" }));
  const names = new Set(mods.map((m) => m.name));
  for (const mm of (d.metrics && d.metrics.modules) || []) names.add(mm.name);
  const sorted = [...names].sort();
  if (sorted.join() !== moduleNames.join()) {
    moduleNames = sorted;
    historyAt = 0;
    const keep = logSource.value;
    logSource.replaceChildren(h("option", { value: "" }, "agent"), ...sorted.map((n) => h("option", { value: n }, n)));
    logSource.value = sorted.includes(keep) ? keep : "";
  }
}

function eventRows(events) {
  return events.map((e) => [ago(e.time), moduleLink(e.module), h("span", { class: "version" }, e.version), stateBadge(e.state),
    h("span", { class: "reason" }, e.reason || ""), e.millis ? `${e.millis} ms` : "", e.deployment ? h("code", null, e.deployment) : ""]);
}
const EVENT_HEADERS = ["when", "module", "version", "state", "reason", "took", "deployment"];

function renderEvents(detail) {
  fill("errors", (detail.errors || []).length === 0 ? muted("No failed, rejected or rolled back attempt.") :
    table(EVENT_HEADERS, eventRows(detail.errors), { class: "errors" }));
  fill("events", (detail.events || []).length === 0 ? muted("No deployment event yet.") :
    table(EVENT_HEADERS, eventRows(detail.events), { class: "events" }));
}

async function loadDetail() {
  return section("facts", "device", () => api(`/devices/${enc(id)}/detail`), (detail) => {
    renderFacts(detail);
    renderModules(detail);
    renderEvents(detail);
  });
}

// inBatches runs the functions at most n at a time, in order.
async function inBatches(fns, n) {
  const out = [];
  for (let i = 0; i < fns.length; i += n) out.push(...await Promise.all(fns.slice(i, i + n).map((f) => f())));
  return out;
}

async function fetchHistories() {
  const since = enc(rangeSelect.value);
  const device = await api(`/history?device=${enc(id)}&since=${since}`);
  const modules = await inBatches(moduleNames.map((n) => () => api(`/history?device=${enc(id)}&module=${enc(n)}&since=${since}`)), HISTORY_CONCURRENCY);
  return { device, modules };
}

// RANGES are the seconds of each choice of the range menu.
const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "168h": 604800 };

function renderHistories({ device, modules }) {
  fill("history-error");
  const to = now() / 1000;
  const xRange = [to - (RANGES[rangeSelect.value] || 3600), to];
  const step = Math.max(device.step_seconds || 0, ...modules.map((m) => m.step_seconds || 0));
  // A module keeps its colour in every chart; the agent is grey.
  const named = modules.map((m, i) => ({ name: m.module, color: COLORS[i % COLORS.length], points: m.points || [] }));
  for (const [key, field] of [["requests", (p) => p.requests_per_second], ["errors", (p) => p.errors_per_second], ["p99", (p) => p.p99_seconds]]) {
    const { xs, series } = align(named, field, step);
    charts[key].set(xs, series, xRange);
  }
  const mem = align([{ name: "agent", color: "#8d96a0", points: device.points || [] }, ...named], (p) => p.rss_bytes, step);
  charts.memory.set(mem.xs, mem.series, xRange);
}

async function loadHistories(force) {
  if (!force && Date.now() - historyAt < HISTORY_MS) return null;
  const err = await section("history-error", "history", fetchHistories, renderHistories);
  if (err === null) historyAt = Date.now();
  return err;
}

async function refresh() {
  const detailErr = await loadDetail();
  const historyErr = await loadHistories(false);
  page.settle(errorsOf([detailErr, historyErr]));
}

// Logs travel on request: the controller asks the agent over MQTT and
// answers 504 when it does not reply within 5 s.
async function loadLogs() {
  const module = logSource.value;
  const button = document.getElementById("log-refresh");
  button.disabled = true;
  fill("logs", muted(`asking ${id} for ${module ? module + "'s" : "the agent's"} recent log lines…`));
  try {
    const batch = await api(`/devices/${enc(id)}/logs?max=200${module ? "&module=" + enc(module) : ""}`, { timeout: 20000 });
    const lines = batch.lines || [];
    fill("logs",
      h("p", { class: "muted" }, `${plural(lines.length, "line")} from ${module || "the agent"}, fetched ${new Date().toLocaleTimeString()}`,
        batch.more ? "; older lines were left out" : "", batch.dropped ? `; ${plural(batch.dropped, "line")} lost before they could be sent` : ""),
      lines.length === 0 ? muted("No recent log line.") :
        table(["time", "level", "version", "message"], lines.slice().reverse().map((l) => [
          h("time", { datetime: l.time }, new Date(l.time).toLocaleString()),
          h("span", { class: "level l-" + String(l.level).toLowerCase() }, l.level),
          l.version || "", h("span", { class: "msg" }, l.msg)]), { class: "logs" }));
  } catch (err) {
    if (err instanceof NotSignedIn) page.settle([err]);
    else if (err instanceof APIError && err.status === 504) fill("logs", h("p", { class: "error", role: "alert" }, `${id} did not answer within 5 s (it may be offline): ${err.message}`));
    else fill("logs", errorBox("logs", err));
  } finally {
    button.disabled = false;
  }
}

const refreshNow = poll(refresh);
rangeSelect.addEventListener("change", () => { historyAt = 0; refreshNow(); });
document.getElementById("log-refresh").addEventListener("click", loadLogs);
logSource.addEventListener("change", loadLogs);
loadLogs();
