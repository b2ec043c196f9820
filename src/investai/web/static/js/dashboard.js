/* Dashboard: the market overview chart (symbols rebased to 100), from the market-overview-data block. */
"use strict";

(function () {
  function drawOverview() {
    const element = document.getElementById("market-overview");
    const data = window.InvestAI.data("market-overview-data");
    if (!element || !data || !data.dates || !data.dates.length) return;
    const names = Object.keys(data.series);
    const traces = names.map((name, index) => ({
      type: "scatter",
      mode: "lines",
      name,
      x: data.dates,
      y: data.series[name],
      connectgaps: false,
      line: { width: index === 0 ? 2.5 : 1.5 },
      hovertemplate: `${name}: %{y:.1f}<extra></extra>`,
    }));
    window.InvestAI.chart(element, traces, {
      height: 380,
      hovermode: "x unified",
      xaxis: { type: "date" },
      yaxis: { title: { text: `Rebased to ${data.base}` } },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: data.base, y1: data.base,
        line: { color: "#8c959f", width: 1, dash: "dot" } }],
    });
  }

  document.addEventListener("DOMContentLoaded", drawOverview);
})();
