/* Market page: the sector filter of the symbol list, and the price chart (candlesticks, volume, indicators).
   Data comes from the page's JSON blocks (symbol-master, market-chart-data): the server composes the chart
   (market-chart-data's "figure": traces naming the columns they plot, and the layout); nothing is fetched. */
"use strict";

(function () {
  /* Rebuild the <datalist> of symbols for the chosen sector (without reloading the page). */
  function setupSectorFilter() {
    const select = document.getElementById("sector");
    const list = document.getElementById("symbol-options");
    const master = window.InvestAI.data("symbol-master");
    if (!select || !list || !Array.isArray(master)) return;
    select.addEventListener("change", () => {
      const wanted = select.value.toLowerCase();
      list.replaceChildren();
      master.filter((item) => !wanted || item.sector.toLowerCase() === wanted).forEach((item) => {
        const option = document.createElement("option");
        option.value = item.symbol;
        option.textContent = item.sector ? `${item.name} · ${item.sector}` : item.name;
        list.appendChild(option);
      });
    });
  }

  /* The value at a dotted path of the chart data ("candles.open"), or of a trace ("marker.color"). */
  function at(object, path) {
    return path.split(".").reduce((node, key) => (node === null || node === undefined ? undefined : node[key]), object);
  }

  function put(object, path, value) {
    const keys = path.split(".");
    const last = keys.pop();
    const node = keys.reduce((parent, key) => (parent[key] = parent[key] || {}), object);
    node[last] = value;
  }

  /* A plotly trace from the server's spec: its own properties, and each column it names taken from the data. */
  function trace(spec, data) {
    const built = JSON.parse(JSON.stringify(spec.props));
    Object.entries(spec.columns || {}).forEach(([key, path]) => put(built, key, at(data, path)));
    if (built.type === "scatter") built.hoverlabel = { namelength: -1 };
    return built;
  }

  /* The server lays the panels out; a narrow chart gets room below them for the legend, which wraps. */
  function layoutFor(layout, width) {
    const sized = JSON.parse(JSON.stringify(layout));
    if (width < 700 && sized.legend) {
      sized.height += 140;
      sized.legend.y = -0.12;
    }
    return sized;
  }

  function drawChart() {
    const element = document.getElementById("price-chart");
    const data = window.InvestAI.data("market-chart-data");
    if (!element || !data || !data.figure) return;
    const traces = data.figure.traces.map((spec) => trace(spec, data));
    window.InvestAI.chart(element, traces, layoutFor(data.figure.layout, element.clientWidth));
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupSectorFilter();
    drawChart();
  });
})();
