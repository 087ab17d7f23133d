// Staged rollouts (wire/rollout.go), as the fleet and module pages list
// them: state and reason, each wave's state and progress, and the gate's
// latest figures against its thresholds.
import { api, now, h, table, muted, ago, moduleLink, isBad, isZeroTime, stateBadge, span, num, seconds, plural } from "./common.js";

// percent shows a share (0.012) as "1.20%".
function percent(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return num(100 * v) + "%";
}


// DONE are the terminal rollout states (wire.RolloutDone).
const DONE = new Set(["succeeded", "rolled_back", "aborted", "rollback_failed"]);

// gateSample is one side of the gate's comparison: its 5xx share, p99
// and how many requests on how many devices they come from.
function gateSample(label, s) {
  return h("li", null, h("strong", null, label), " ",
    s.requests ? [`5xx ${percent(s.error_rate)}`, ` (${s.errors_5xx} of ${plural(s.requests, "request")})`, `, p99 ${seconds(s.p99_seconds)}`]
      : h("span", { class: "muted" }, "no requests"),
    h("span", { class: "muted" }, ` · ${plural(s.devices, "device")}`,
      (s.versions || []).length ? ` on ${s.versions.join(", ")}` : ""));
}

// gateCell shows a rollout's gate: its latest figures (the current wave's,
// or, between waves, those the last decided wave ended with, named by its
// number), the thresholds they are held to, and the soak time left of a
// soaking wave. The reason of a gate still waiting only repeats those
// figures and the soak's end: it is left out.
function gateCell(r) {
  const g = r.gate || {};
  const waves = r.waves || [];
  const last = waves.findLastIndex((w) => w.figures);
  const f = r.figures || (last >= 0 && waves[last].figures);
  const label = !r.figures ? `wave ${last + 1} gate ` : DONE.has(r.state) ? "last gate verdict " : "gate ";
  const wave = waves[r.wave];
  let soak = `soak ${span((g.soak_ms || 0) / 1000)}`;
  if (r.state === "soaking" && wave && !isZeroTime(wave.soak_start)) {
    const left = (new Date(wave.soak_start).getTime() + (g.soak_ms || 0) - now()) / 1000;
    soak += left > 0 ? `, ${span(left)} left` : ", done";
  }
  const limits = h("div", { class: "muted" },
    `${soak} · 5xx at most +${+(100 * (g.max_error_rate || 0)).toFixed(2)} pt · p99 at most ×${+(g.max_p99_ratio || 0).toFixed(2)}`,
    ` · ${plural(g.min_requests || 0, "request")} needed · too few: ${g.low_traffic || "fail"}`);
  if (!f) return [h("span", { class: "muted" }, "no figures yet"), limits];
  return [
    h("div", null, label, stateBadge(f.verdict), f.reason && f.verdict !== "waiting" ? [": ", h("span", { class: f.verdict === "fail" ? "reason bad" : "reason" }, f.reason)] : null),
    h("ul", { class: "plain" }, gateSample("new", f.new), gateSample("old", f.old)),
    f.baseline ? h("div", { class: "muted" }, "baseline: " + f.baseline) : null,
    limits,
  ];
}

// waveList shows a rollout's waves: state, devices and, for a wave whose
// deployment is given in deps (by id), how many of them run the version.
function waveList(r, deps) {
  return h("ol", { class: "waves" }, (r.waves || []).map((w, i) => {
    const d = deps && deps.get(w.deployment);
    const running = d ? d.devices.filter((x) => x.state === "running").length : null;
    return h("li", { class: isBad(w.state) ? "bad" : null },
      `wave ${i + 1} `, stateBadge(w.state), " ",
      running !== null ? `${running} of ${plural(w.devices.length, "device")} running` : plural(w.devices.length, "device"),
      !isZeroTime(w.ended) ? h("span", { class: "muted" }, " · ended ", ago(w.ended))
        : !isZeroTime(w.started) ? h("span", { class: "muted" }, " · started ", ago(w.started)) : null);
  }));
}

// rolloutRow is one staged rollout: when, what, its state and reason, its
// waves and its gate. deps maps deployment ids to the deployments of its
// deploying waves (fetchRollouts).
function rolloutRow(r, deps) {
  const back = [...new Set((r.rollback || []).map((b) => b.version || "none (removed)"))];
  return [
    ago(r.created),
    h("code", null, r.id),
    [moduleLink(r.module), " ", h("span", { class: "version" }, r.version),
      back.length ? h("div", { class: "muted" }, "back to ", back.join(", ")) : null],
    [stateBadge(r.state),
      r.state === "paused" && r.resume ? h("span", { class: "muted" }, " (resumes ", r.resume, ")") : null,
      h("div", { class: "muted" }, `wave ${Math.min(r.wave + 1, (r.waves || []).length)} of ${(r.waves || []).length}`),
      r.reason ? h("div", { class: isBad(r.state) ? "reason bad" : "reason" }, r.reason) : null],
    waveList(r, deps),
    gateCell(r),
  ];
}

const ROLLOUT_HEADERS = ["created", "id", "module", "state", "waves", "gate"];

// fetchRollouts fetches the latest limit rollouts (newest first), keeps
// those of module if given, and the deployments of their waves still
// deploying (at most one per live rollout) for their progress.
export async function fetchRollouts(limit, module) {
  const rollouts = (await api("/rollouts?limit=" + limit)).filter((r) => !module || r.module === module);
  const ids = rollouts.flatMap((r) => (r.waves || []).filter((w) => w.state === "deploying" && w.deployment).map((w) => w.deployment));
  const deps = await Promise.all(ids.map((id) => api("/deployments/" + encodeURIComponent(id))));
  return { rollouts, deps: new Map(deps.map((d) => [d.id, d])) };
}

// rolloutTable renders what fetchRollouts returned, or empty.
export function rolloutTable({ rollouts, deps }, empty) {
  return rollouts.length === 0 ? muted(empty) : table(ROLLOUT_HEADERS, rollouts.map((r) => rolloutRow(r, deps)), { class: "rollouts" });
}
