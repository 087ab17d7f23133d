// Time-series charts on the vendored uPlot (static/vendor/uplot, loaded
// as a classic script that defines the global uPlot).
import { h, num, seconds, bytes } from "./common.js";

// COLORS are the series colours, picked by the caller so that one module
// keeps its colour across charts.
export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const HEIGHT = 180;

// Chart is one figure: a uPlot canvas, a summary line a person can read
// (latest and highest value of each series) and an empty-range notice.
export class Chart {
  // format turns a value into text with its unit.
  constructor(figure, format) {
    this.figure = figure;
    this.format = format;
    this.plot = null;
    this.names = "";
    this.box = h("div", { class: "plot" });
    this.summary = h("p", { class: "summary" });
    figure.append(this.box, this.summary);
    window.addEventListener("resize", () => this.resize());
  }

  width() {
    return Math.max(240, this.box.clientWidth || this.figure.clientWidth || 400);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
  }

  // set shows series (each {name, color, values}) over times xs (seconds),
  // on an x axis spanning xRange ([from, to] in seconds) whatever the data
  // covers, so that a device that reported for ten minutes of the last day
  // shows as such.
  set(xs, series, xRange) {
    this.xRange = xRange || null;
    const names = series.map((s) => s.name + "\u0001" + s.color).join("\u0000");
    const data = [xs, ...series.map((s) => s.values)];
    if (this.plot && names === this.names) {
      this.plot.setData(data);
    } else {
      if (this.plot) this.plot.destroy();
      this.names = names;
      this.plot = new uPlot(this.options(series), data, this.box);
    }
    this.describe(xs, series);
  }

  options(series) {
    const fmt = this.format;
    return {
      width: this.width(),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true, range: (u, lo, hi) => this.xRange || [lo, hi] }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
      axes: [{}, { size: 70, values: (u, ticks) => ticks.map((v) => fmt(v)) }],
      series: [{}, ...series.map((s, i) => ({
        label: s.name,
        stroke: s.color || COLORS[i % COLORS.length],
        width: 2,
        spanGaps: false,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "–" : fmt(v)),
      }))],
    };
  }

  // describe writes the summary and data attributes: how many points were
  // drawn and the highest value, for a person and for the browser tests.
  describe(xs, series) {
    let points = 0;
    let max = 0;
    const parts = [];
    for (const s of series) {
      let last = null;
      for (const v of s.values) {
        if (v === null || v === undefined) continue;
        points++;
        last = v;
        if (v > max) max = v;
      }
      if (last !== null) parts.push(`${s.name} ${this.format(last)}`);
    }
    this.figure.dataset.points = String(points);
    this.figure.dataset.max = String(max);
    this.summary.textContent = points === 0 ? "No data in this range." : `now: ${parts.join(", ")} · highest: ${this.format(max)}`;
    this.figure.classList.toggle("empty", points === 0);
  }
}

// align merges histories (each {name, color, points}) onto one time axis, in
// seconds, with null where a history has no point and where a gap longer
// than 1.5 steps breaks the line.
export function align(histories, field, step) {
  const times = new Set();
  for (const hs of histories) for (const p of hs.points) times.add(Date.parse(p.time) / 1000);
  let xs = [...times].sort((a, b) => a - b);
  // Insert a break after any gap: uPlot draws a line across nulls only.
  const withGaps = [];
  for (let i = 0; i < xs.length; i++) {
    if (i > 0 && step > 0 && xs[i] - xs[i - 1] > 1.5 * step) withGaps.push(xs[i - 1] + step);
    withGaps.push(xs[i]);
  }
  xs = withGaps;
  const index = new Map(xs.map((x, i) => [x, i]));
  const series = histories.map((hs) => {
    const values = new Array(xs.length).fill(null);
    for (const p of hs.points) values[index.get(Date.parse(p.time) / 1000)] = field(p);
    return { name: hs.name, color: hs.color, values };
  });
  return { xs, series };
}

export const formats = {
  rate: (v) => num(v) + "/s",
  latency: seconds,
  memory: bytes,
};
