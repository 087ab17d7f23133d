// The fleet overview: counts, devices with errors, versions per module,
// every device with what it serves, recent staged rollouts and deployments.
import {
  api, now, h, fill, table, muted, ago, deviceLink, moduleLink, onlineBadge, moduleCell,
  deviceProblems, stateBadge, deploymentRow, DEPLOYMENT_HEADERS, bytes, span, Page, section, poll, errorsOf,
} from "./common.js";
import { fetchRollouts, rolloutTable } from "./rollouts.js";

const page = new Page();

function card(label, value, cls) {
  return h("div", { class: "card " + (cls || "") }, h("div", { class: "value" }, String(value)), h("div", { class: "label" }, label));
}

function renderDevices(devices) {
  const online = devices.filter((d) => d.online).length;
  const withErrors = devices.filter((d) => deviceProblems(d).length > 0);
  fill("summary",
    card("devices", devices.length),
    card("online", online, online ? "good" : ""),
    card("offline", devices.length - online, devices.length - online ? "warn" : ""),
    card("with errors", withErrors.length, withErrors.length ? "bad" : ""));

  fill("errors", withErrors.length === 0 ? muted("No device reports a failed attempt.") :
    table(["device", "module", "version", "state", "reason", "when"],
      withErrors.flatMap((d) => deviceProblems(d).map((p) => [
        deviceLink(d.id), p.module ? moduleLink(p.module) : h("span", { class: "muted" }, "–"), h("span", { class: "version" }, p.version || "–"),
        stateBadge(p.state), h("span", { class: "reason" }, p.reason || ""), ago(p.time)])),
      { class: "errors" }));

  fill("devices", devices.length === 0 ? muted("No device registered or seen yet (edgectl device add ID).") :
    table(["device", "connection", "last seen", "board", "arch / engine", "agent", "generation", "modules", "agent memory"],
      devices.map((d) => {
        const s = d.status || {};
        const a = (d.metrics && d.metrics.agent) || null;
        return [
          deviceLink(d.id),
          onlineBadge(d.online),
          ago(d.last_seen),
          s.board || h("span", { class: "muted" }, "–"),
          s.arch ? `${s.arch} / ${s.engine || "?"}` : h("span", { class: "muted" }, "–"),
          [s.agent_version || "–", a && a.start ? h("div", { class: "muted" }, "up " + span((now() - new Date(a.start)) / 1000)) : null],
          s.generation !== undefined ? String(s.generation) : "–",
          (s.modules || []).length ? (s.modules || []).map((m) => moduleCell(m)) : h("span", { class: "muted" }, "none"),
          a ? bytes(a.rss_bytes) : h("span", { class: "muted" }, "–"),
        ];
      }), { class: "devices" }));
}

function renderModules(mods) {
  fill("modules", mods.length === 0 ? muted("No module deployed yet (edgectl push).") :
    table(["module", "versions serving (devices)", "serving / targeted", "attempts not serving"],
      mods.map((m) => [
        moduleLink(m.name),
        m.versions.length ? h("ul", { class: "plain" }, m.versions.map((v) =>
          h("li", null, h("span", { class: "version" }, v.version), ` on ${v.devices.length} device${v.devices.length === 1 ? "" : "s"}`)))
          : h("span", { class: "muted" }, "none serving"),
        `${m.serving} / ${m.targeted}`,
        (m.attempts || []).length ? h("span", { class: "bad" }, String(m.attempts.length)) : "0",
      ]), { class: "modules" }));
}

function renderDeployments(deps) {
  fill("deployments", deps.length === 0 ? muted("No deployment yet.") :
    table(DEPLOYMENT_HEADERS, deps.map(deploymentRow), { class: "deployments" }));
}

async function refresh() {
  const results = await Promise.all([
    section("devices", "devices", () => api("/devices"), renderDevices),
    section("modules", "modules", () => api("/modules"), renderModules),
    section("rollouts", "rollouts", () => fetchRollouts(10), (r) => fill("rollouts", rolloutTable(r, "No staged rollout yet (edgectl push --waves)."))),
    section("deployments", "deployments", () => api("/deployments?limit=20"), renderDeployments),
  ]);
  page.settle(errorsOf(results));
}

poll(refresh);
