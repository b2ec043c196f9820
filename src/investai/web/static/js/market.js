/* Market page: the sector filter of the symbol list, and the price chart with its indicator panels.
   Data comes from the page's JSON blocks (symbol-master, market-chart-data); nothing is fetched. */
"use strict";

(function () {
  const COLOURS = { price: "#1f4e79", sma50: "#bc4c00", sma200: "#8250df", band: "rgba(90, 102, 117, 0.55)",
    bandFill: "rgba(90, 102, 117, 0.10)", rsi: "#0b6bcb", macd: "#1f4e79", signal: "#bc4c00", up: "#1a7f37", down: "#cf222e" };

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

  function line(x, y, name, extra) {
    return Object.assign({ type: "scatter", mode: "lines", x, y, name, connectgaps: false, hoverlabel: { namelength: -1 } }, extra || {});
  }

  function hasValues(values) {
    return Array.isArray(values) && values.some((value) => value !== null);
  }

  function priceTraces(data) {
    const bars = data.bars;
    const adjusted = bars.adj_close.map((value, index) => (value === null ? bars.close[index] : value));
    const traces = [];
    const indicators = data.indicators;
    if (indicators) {
      traces.push(line(indicators.date, indicators.bollinger_upper, "Bollinger upper",
        { line: { color: COLOURS.band, width: 1 }, legendgroup: "bollinger", showlegend: false }));
      traces.push(line(indicators.date, indicators.bollinger_lower, "Bollinger bands",
        { line: { color: COLOURS.band, width: 1 }, fill: "tonexty", fillcolor: COLOURS.bandFill, legendgroup: "bollinger" }));
    }
    traces.push(line(bars.date, adjusted, `${data.symbol} adjusted close`, { line: { color: COLOURS.price, width: 2 } }));
    if (hasValues(bars.open) && hasValues(bars.high) && hasValues(bars.low)) {
      traces.push({ type: "candlestick", x: bars.date, open: bars.open, high: bars.high, low: bars.low, close: bars.close,
        name: "Open, high, low, close (unadjusted)", visible: "legendonly" });
    }
    if (indicators) {
      traces.push(line(indicators.date, indicators.sma_50, "SMA 50", { line: { color: COLOURS.sma50, width: 1.5 } }));
      traces.push(line(indicators.date, indicators.sma_200, "SMA 200", { line: { color: COLOURS.sma200, width: 1.5 } }));
    }
    return traces;
  }

  function indicatorTraces(indicators) {
    const colours = indicators.histogram.map((value) => (value !== null && value < 0 ? COLOURS.down : COLOURS.up));
    return [
      line(indicators.date, indicators.rsi_14, "RSI 14", { yaxis: "y2", line: { color: COLOURS.rsi, width: 1.5 } }),
      { type: "bar", x: indicators.date, y: indicators.histogram, name: "MACD histogram", yaxis: "y3",
        marker: { color: colours }, opacity: 0.6 },
      line(indicators.date, indicators.macd, "MACD", { yaxis: "y3", line: { color: COLOURS.macd, width: 1.5 } }),
      line(indicators.date, indicators.signal, "MACD signal", { yaxis: "y3", line: { color: COLOURS.signal, width: 1.5 } }),
    ];
  }

  function rsiGuide(level) {
    return { type: "line", xref: "paper", x0: 0, x1: 1, yref: "y2", y0: level, y1: level,
      line: { color: "#8c959f", width: 1, dash: "dot" } };
  }

  function layoutFor(data, width) {
    const withIndicators = Boolean(data.indicators);
    const narrow = width < 700; /* the legend wraps onto several rows: give it room below the panels */
    const layout = {
      height: (withIndicators ? 660 : 420) + (narrow ? 140 : 0),
      hovermode: "x unified",
      showlegend: true,
      xaxis: { type: "date", range: [data.start, data.end], rangeslider: { visible: false }, anchor: withIndicators ? "y3" : "y" },
      yaxis: { title: { text: "Price" }, domain: withIndicators ? [0.45, 1] : [0, 1] },
    };
    if (withIndicators) {
      layout.yaxis2 = { title: { text: "RSI" }, domain: [0.25, 0.4], range: [0, 100], tickvals: [30, 70] };
      layout.yaxis3 = { title: { text: "MACD" }, domain: [0, 0.2] };
      layout.shapes = [rsiGuide(30), rsiGuide(70)];
      layout.legend = { orientation: "h", y: narrow ? -0.12 : -0.08 };
    }
    return layout;
  }

  function drawChart() {
    const element = document.getElementById("price-chart");
    const data = window.InvestAI.data("market-chart-data");
    if (!element || !data || !data.bars) return;
    const traces = priceTraces(data);
    if (data.indicators) traces.push(...indicatorTraces(data.indicators));
    window.InvestAI.chart(element, traces, layoutFor(data, element.clientWidth));
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupSectorFilter();
    drawChart();
  });
})();
