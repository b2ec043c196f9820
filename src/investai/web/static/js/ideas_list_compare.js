/* Compared ideas: their scenario fans overlaid (median line, 5th-95th percentile band, one colour per idea)
   and their bear / base / bull returns side by side. */
"use strict";

(function () {
  const COLOURS = ["#1f4e79", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490"];
  const MARGIN = { l: 60, r: 20, t: 20, b: 60 };
  const LEGEND = { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" };

  function rgba(hex, alpha) {
    const value = parseInt(hex.slice(1), 16);
    return `rgba(${(value >> 16) & 255}, ${(value >> 8) & 255}, ${value & 255}, ${alpha})`;
  }

  function short(name) {
    return name.length > 40 ? name.slice(0, 39) + "…" : name;
  }

  function fanTraces(ideas) {
    const traces = [];
    ideas.forEach((idea, index) => {
      if (!idea.days.length) return;
      const colour = COLOURS[index % COLOURS.length];
      const p = idea.percentiles;
      traces.push({ x: idea.days, y: p["5"], mode: "lines", line: { width: 0, color: colour }, hoverinfo: "skip",
        showlegend: false, legendgroup: idea.id, name: `${short(idea.name)} 5th percentile` });
      traces.push({ x: idea.days, y: p["95"], mode: "lines", line: { width: 0, color: colour }, fill: "tonexty",
        fillcolor: rgba(colour, 0.15), showlegend: false, legendgroup: idea.id, name: `${short(idea.name)} 95th percentile`,
        hovertemplate: "day %{x}: %{y:.1%}<extra>95th</extra>" });
      traces.push({ x: idea.days, y: p["50"], mode: "lines", line: { width: 2, color: colour }, legendgroup: idea.id,
        name: short(idea.name), hovertemplate: "day %{x}: %{y:.1%}<extra>median</extra>" });
    });
    return traces;
  }

  function outcomeTraces(ideas) {
    return ideas.map((idea, index) => ({
      type: "bar",
      name: short(idea.name),
      x: ["bear", "base", "bull"],
      y: ["bear", "base", "bull"].map((scenario) => (scenario in idea.outcomes ? idea.outcomes[scenario] : null)),
      marker: { color: COLOURS[index % COLOURS.length] },
      hovertemplate: "%{x}: %{y:.1%}<extra></extra>",
    }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const ideas = InvestAI.data("compare-data") || [];
    const fans = fanTraces(ideas);
    const fanChart = document.getElementById("fan-chart");
    if (fans.length) {
      InvestAI.chart(fanChart, fans, { margin: MARGIN, legend: LEGEND, xaxis: { title: { text: "trading days" } },
        yaxis: { title: { text: "cumulative return" }, tickformat: ".0%" } });
    } else {
      fanChart.hidden = true;
      document.getElementById("fan-empty").hidden = false;
    }
    InvestAI.chart(document.getElementById("outcome-chart"), outcomeTraces(ideas),
      { barmode: "group", margin: MARGIN, legend: LEGEND, yaxis: { title: { text: "return over the horizon" }, tickformat: ".0%" } });
  });
})();
