/* Investment AI Agent: shared page behaviour. No inline script anywhere: pages load their own file and read
   their data from <script type="application/json"> blocks. */
"use strict";

window.InvestAI = (function () {
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* Read a JSON data block rendered by the server. */
  function data(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code;
      this.details = error.details || [];
      this.body = body;
    }
  }

  /* Call the REST API with the session cookie; unsafe methods carry the CSRF token. */
  async function api(path, options) {
    const opts = options || {};
    const method = (opts.method || "GET").toUpperCase();
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("json") ? await response.json() : await response.text();
    if (response.status === 401) {
      window.location.assign("/login?notice=session_expired&next=" + encodeURIComponent(location.pathname + location.search));
    }
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  /* A Plotly chart that follows the container's width; nothing is fetched from outside. */
  function chart(element, traces, layout) {
    if (!element || !window.Plotly) return;
    const base = { margin: { l: 50, r: 20, t: 30, b: 40 }, autosize: true, font: { family: "system-ui, sans-serif", size: 12 },
      legend: { orientation: "h", y: -0.2 } };
    window.Plotly.newPlot(element, traces, Object.assign(base, layout || {}),
      { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] });
  }

  function setupTabs(list) {
    const tabs = Array.from(list.querySelectorAll('[role="tab"]'));
    function select(tab, focus) {
      tabs.forEach((other) => {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        other.tabIndex = selected ? 0 : -1;
        const panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) panel.hidden = !selected;
      });
      if (focus) tab.focus();
      if (tab.dataset.hash) history.replaceState(null, "", "#" + tab.dataset.hash);
      window.dispatchEvent(new Event("resize")); /* charts in a newly shown panel take their width */
    }
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (step) { event.preventDefault(); select(tabs[(index + step + tabs.length) % tabs.length], true); }
        if (event.key === "Home") { event.preventDefault(); select(tabs[0], true); }
        if (event.key === "End") { event.preventDefault(); select(tabs[tabs.length - 1], true); }
      });
    });
    const wanted = tabs.find((tab) => tab.dataset.hash && "#" + tab.dataset.hash === location.hash);
    select(wanted || tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0], false);
  }

  function text(value) { return value === null || value === undefined ? "" : String(value); }

  function pct(value, digits) {
    if (value === null || value === undefined || !isFinite(value)) return "n/a";
    return (value * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll('[role="tablist"]').forEach(setupTabs);
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    document.querySelectorAll("[data-autosubmit]").forEach((control) => {
      control.addEventListener("change", () => control.form && control.form.requestSubmit());
    });
  });

  return { api, ApiError, chart, csrfToken, data, pct, text };
})();
