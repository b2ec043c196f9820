/* The idea page's charts: prices with entry / target / stop, the scenario fan, factor contributions.
   Data comes from the <script type="application/json" id="idea-charts"> block; nothing is fetched. */
"use strict";

(function () {
  const COLORS = { price: "#1f4e79", entry: "#5a6675", target: "#1a7f37", stop: "#cf222e", band: "rgba(11,107,203,0.15)",
    inner: "rgba(11,107,203,0.30)", median: "#0b6bcb", positive: "#1a7f37", negative: "#cf222e" };

  function levelLine(name, value, dates, color) {
    return { x: [dates[0], dates[dates.length - 1]], y: [value, value], mode: "lines", name: name + " " + value.toFixed(2),
      line: { color: color, dash: name === "Entry" ? "dot" : "dash", width: 1.5 }, hoverinfo: "name" };
  }

  function drawPrice(element, price) {
    if (!element || !price || !price.closes.length) return;
    const traces = [{ x: price.dates, y: price.closes, mode: "lines", name: price.symbol + " adjusted close",
      line: { color: COLORS.price, width: 1.5 } }];
    if (price.levels) {
      traces.push(levelLine("Entry", price.levels.entry, price.dates, COLORS.entry));
      traces.push(levelLine("Target", price.levels.target, price.dates, COLORS.target));
      traces.push(levelLine("Stop", price.levels.stop, price.dates, COLORS.stop));
    }
    window.InvestAI.chart(element, traces, { yaxis: { title: { text: "price" } }, xaxis: { type: "date" } });
  }

  function percentile(rows, key) { return rows.map((row) => row[key] * 100); }

  function drawFan(element, fan) {
    if (!element || !fan || !fan.length) return;
    const days = fan.map((row) => row.day);
    const band = (low, high, name, fill) => [
      { x: days, y: percentile(fan, low), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { x: days, y: percentile(fan, high), mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: fill, name: name },
    ];
    const traces = [
      ...band("5", "95", "5th–95th percentile", COLORS.band),
      ...band("25", "75", "25th–75th percentile", COLORS.inner),
      { x: days, y: percentile(fan, "50"), mode: "lines", name: "median", line: { color: COLORS.median, width: 2 } },
    ];
    window.InvestAI.chart(element, traces, {
      xaxis: { title: { text: "trading days ahead" } },
      yaxis: { title: { text: "cumulative return, %" }, zeroline: true },
    });
  }

  function drawContributions(element, contributions) {
    if (!element || !contributions) return;
    const names = Object.keys(contributions).reverse();
    if (!names.length) return;
    const values = names.map((name) => contributions[name]);
    const traces = [{ type: "bar", orientation: "h", y: names.map((name) => name.replace(/_/g, " ")), x: values,
      marker: { color: values.map((value) => (value >= 0 ? COLORS.positive : COLORS.negative)) }, name: "contribution",
      hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }];
    window.InvestAI.chart(element, traces, { margin: { l: 130, r: 20, t: 10, b: 40 }, showlegend: false,
      xaxis: { title: { text: "weight × z-score" }, zeroline: true } });
  }

  /* plotly.js loads asynchronously, so the tabs work before the 3 MB bundle has been parsed. */
  function whenPlotly(draw) {
    if (window.Plotly) { draw(); return; }
    const bundle = document.getElementById("plotly-bundle");
    if (bundle) bundle.addEventListener("load", draw, { once: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const charts = window.InvestAI.data("idea-charts");
    if (!charts) return;
    whenPlotly(() => {
      drawPrice(document.getElementById("price-chart"), charts.price);
      drawFan(document.getElementById("fan-chart"), charts.fan);
      drawContributions(document.getElementById("factor-chart"), charts.contributions);
    });
  });
})();
