// A module across the fleet: which versions serve where, the attempts that
// did not serve and why, its staged rollouts and its deployments.
import {
  api, app, h, fill, table, muted, ago, deviceLink, stateBadge, deploymentRow, DEPLOYMENT_HEADERS,
  Page, section, poll, errorsOf,
} from "./common.js";
import { fetchRollouts, rolloutTable } from "./rollouts.js";

const name = app.dataset.module;
const page = new Page();

function card(label, value, cls) {
  return h("div", { class: "card " + (cls || "") }, h("div", { class: "value" }, String(value)), h("div", { class: "label" }, label));
}

function renderSummary(mods) {
  const m = mods.find((x) => x.name === name);
  if (!m) {
    fill("summary", card("devices targeted", 0));
    fill("versions", muted(`No device is targeted by ${name} or serves it.`));
    fill("attempts", muted("None."));
    return;
  }
  const attempts = m.attempts || [];
  fill("summary",
    card("devices targeted", m.targeted),
    card("serving", m.serving, m.serving === m.targeted ? "good" : "warn"),
    card("versions serving", m.versions.length),
    card("attempts not serving", attempts.length, attempts.length ? "bad" : ""));
  const total = Math.max(1, m.targeted, m.versions.reduce((n, v) => n + v.devices.length, 0));
  fill("versions", m.versions.length === 0 ? muted("No device serves a version of this module.") :
    table(["version", "devices", "share", "serving on"], m.versions.map((v) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = Math.round((100 * v.devices.length) / total) + "%"; // CSSOM: allowed by the CSP
      return [
        h("strong", { class: "version" }, v.version),
        String(v.devices.length),
        h("span", { class: "share", title: `${v.devices.length} of ${total}` }, bar),
        h("span", null, v.devices.slice().sort().flatMap((d, i) => (i ? [", ", deviceLink(d)] : [deviceLink(d)]))),
      ];
    }), { class: "versions" }));
  fill("attempts", attempts.length === 0 ? muted("Every targeted device serves its latest attempt.") :
    table(["device", "version", "state", "reason", "when"], attempts.map((a) => [
      deviceLink(a.device), h("span", { class: "version" }, a.attempt.version), stateBadge(a.attempt.state),
      h("span", { class: "reason" }, a.attempt.reason || ""), ago(a.attempt.time)]), { class: "attempts" }));
}

function renderDeployments(deps) {
  const mine = deps.filter((d) => d.module === name);
  fill("deployments", mine.length === 0 ? muted(`No deployment of ${name} among the last 50.`) :
    table(DEPLOYMENT_HEADERS, mine.map(deploymentRow), { class: "deployments" }));
}

async function refresh() {
  const results = await Promise.all([
    section("versions", "modules", () => api("/modules"), renderSummary),
    section("rollouts", "rollouts", () => fetchRollouts(50, name), (r) => fill("rollouts", rolloutTable(r, `No staged rollout of ${name} among the last 50.`))),
    section("deployments", "deployments", () => api("/deployments?limit=50"), renderDeployments),
  ]);
  page.settle(errorsOf(results));
}

poll(refresh);
