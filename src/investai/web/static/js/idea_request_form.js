/* The idea request form: templates fill the fields, the API validates as you type (field errors next to
   their fields, advice in the warning list), and "Generate ideas" submits to the API and opens the request's
   progress page. Without this script the form posts to the server, which calls the same service. */
"use strict";

(function () {
  const SCALARS = ["template", "risk_tolerance", "investment_horizon", "amount", "currency", "universe", "esg",
    "min_confidence", "max_ideas", "research_depth", "as_of", "priority", "callback_url"];
  const NUMBERS = new Set(["amount", "min_confidence", "max_ideas"]);
  const VALIDATE_DELAY_MS = 400;

  function splitSymbols(text) {
    return text.split(/[\s,;]+/).map((item) => item.trim()).filter(Boolean);
  }

  function numberOrText(value) {
    const number = Number(value);
    return value !== "" && Number.isFinite(number) ? number : value;
  }

  /* The API body the form describes (the server's form handling builds the same). */
  function body(form) {
    const data = new FormData(form);
    const out = {};
    SCALARS.forEach((name) => {
      const value = String(data.get(name) || "").trim();
      if (value) out[name] = NUMBERS.has(name) ? numberOrText(value) : value;
    });
    out.sectors = data.getAll("sectors").map(String);
    out.asset_classes = data.getAll("asset_classes").map(String);
    out.tickers = splitSymbols(String(data.get("tickers") || ""));
    out.exclusions = splitSymbols(String(data.get("exclusions") || ""));
    const symbols = data.getAll("holding_symbol").map((item) => String(item).trim());
    const weights = data.getAll("holding_weight").map((item) => String(item).trim());
    out.holdings = symbols
      .map((symbol, index) => ({ symbol, weight: weights[index] || "" }))
      .filter((row) => row.symbol || row.weight)
      .map((row) => ({ symbol: row.symbol, weight: numberOrText(row.weight) }));
    return out;
  }

  /* "holdings", 0, "weight" -> field "holdings", message "row 1, weight: …" */
  function describe(detail) {
    const loc = (detail.loc || []).filter((part) => part !== "body");
    let message = String(detail.msg || "not valid").replace(/^Value error, /, "");
    const where = loc.slice(1).map((part) => (typeof part === "number" ? `row ${part + 1}` : String(part))).join(", ");
    if (where) message = `${where}: ${message}`;
    return { field: loc.length ? String(loc[0]) : "", message };
  }

  function fillList(container, messages, tag) {
    container.replaceChildren(...messages.map((message) => {
      const item = document.createElement(tag);
      item.textContent = message;
      return item;
    }));
  }

  function showErrors(form, details, fallback) {
    const byField = new Map();
    const general = [];
    details.forEach((detail) => {
      const { field, message } = describe(detail);
      const slot = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (slot) byField.set(field, (byField.get(field) || []).concat(message));
      else general.push(field ? `${field}: ${message}` : message);
    });
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      const messages = byField.get(slot.dataset.errorFor) || [];
      fillList(slot, messages, "p");
      const control = form.elements.namedItem(slot.dataset.errorFor);
      if (control && control.setAttribute) {
        if (messages.length) control.setAttribute("aria-invalid", "true");
        else control.removeAttribute("aria-invalid");
      }
    });
    if (!general.length && fallback && !byField.size) general.push(fallback);
    const box = document.getElementById("form-errors");
    fillList(box.querySelector("ul"), general, "li");
    box.hidden = general.length === 0;
  }

  function showWarnings(warnings) {
    const box = document.getElementById("request-warnings");
    fillList(box.querySelector("ul"), warnings, "li");
    box.hidden = warnings.length === 0;
  }

  function setState(text) {
    document.getElementById("form-state").textContent = text;
  }

  /* Validate through the API: true when the request is valid. */
  async function validate(form) {
    try {
      const answer = await InvestAI.api("/api/v1/ideas/requests/validate", { method: "POST", json: body(form) });
      showErrors(form, []);
      showWarnings(answer.warnings || []);
      return true;
    } catch (error) {
      if (error.status === 422) showErrors(form, error.details, error.message);
      else showErrors(form, [], error.message);
      return false;
    }
  }

  function applyTemplate(form, templates, defaults) {
    const chosen = templates.find((template) => template.name === form.elements.template.value);
    const touched = new Set(templates.flatMap((template) => Object.keys(template.parameters)));
    touched.forEach((name) => {
      const control = form.elements.namedItem(name);
      if (!control) return;
      const value = chosen && name in chosen.parameters ? chosen.parameters[name] : defaults[name];
      control.value = value === null || value === undefined ? "" : String(value);
    });
    document.getElementById("template-description").textContent = chosen
      ? chosen.description
      : "Choose a template to fill in a typical profile; you can change any field afterwards.";
  }

  function holdingRow(index) {
    const row = document.createElement("tr");
    [["symbol", "text"], ["weight", "number"]].forEach(([part, type]) => {
      const cell = document.createElement("td");
      const label = document.createElement("label");
      label.className = "visually-hidden";
      label.htmlFor = `holding-${part}-${index}`;
      label.textContent = `Holding ${index} ${part}`;
      const input = document.createElement("input");
      input.id = `holding-${part}-${index}`;
      input.name = `holding_${part}`;
      input.type = type;
      if (part === "symbol") { input.maxLength = 32; input.setAttribute("list", "known-symbols"); input.spellcheck = false; }
      else { input.min = "0"; input.max = "1"; input.step = "any"; }
      cell.append(label, input);
      row.append(cell);
    });
    const cell = document.createElement("td");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove-holding";
    remove.textContent = "Remove";
    cell.append(remove);
    row.append(cell);
    return row;
  }

  function setUpHoldings(form, changed) {
    const rows = document.getElementById("holding-rows");
    let next = rows.children.length + 1;
    const add = document.getElementById("add-holding");
    add.hidden = false;
    form.querySelectorAll(".remove-holding").forEach((button) => { button.hidden = false; });
    add.addEventListener("click", () => {
      const row = holdingRow(next++);
      rows.append(row);
      row.querySelector("input").focus();
    });
    rows.addEventListener("click", (event) => {
      const button = event.target.closest(".remove-holding");
      if (!button) return;
      button.closest("tr").remove();
      add.focus();
      changed();
    });
  }

  async function submit(form, button) {
    button.disabled = true;
    setState("Checking the request…");
    try {
      if (!(await validate(form))) { setState(""); return; }
      setState("Submitting…");
      const record = await InvestAI.api("/api/v1/ideas/requests", { method: "POST", json: body(form) });
      setState("Submitted: opening its progress…");
      window.location.assign(`/ideas/requests/${encodeURIComponent(record.request_id)}`);
    } catch (error) {
      if (error.status === 422) showErrors(form, error.details, error.message);
      else showErrors(form, [], error.message);
      setState("");
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("request-form");
    if (!form) return;
    form.noValidate = true;
    form.querySelectorAll(".js-hide").forEach((node) => { node.hidden = true; });
    const templates = InvestAI.data("request-templates") || [];
    const defaults = InvestAI.data("request-defaults") || {};
    let timer = null;
    const changed = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => validate(form), VALIDATE_DELAY_MS);
    };
    form.elements.template.addEventListener("change", () => applyTemplate(form, templates, defaults));
    form.addEventListener("change", changed); /* a committed change, not every keystroke of a half-typed value */
    setUpHoldings(form, changed);
    const button = document.getElementById("generate");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      window.clearTimeout(timer);
      submit(form, button);
    });
  });
})();
