/* An idea request's progress, live: the server's event stream (progress, message, done) updates the status,
   the overall bar and ETA, each agent's row and the message log; when it is done the stream is closed and
   the resulting ideas are fetched and listed. A request already finished shows what the server rendered.
   Where responses are buffered on the way (API Gateway), the page is told to poll instead
   (data-progress-transport="poll"): every 2 s it reads the request's status and the messages it has not
   shown yet, shows them the same way, and finishes the same way. */
"use strict";

(function () {
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  const POLL_MS = 2000;
  const seen = new Set();
  let stream = null;
  let timer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function label(value) {
    const text = String(value || "").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function eta(state) {
    if (FINISHED.has(state.status)) return state.finished_at ? `finished ${state.finished_at.replace("T", " ").slice(0, 16)} UTC` : "finished";
    if (state.eta_seconds === null || state.eta_seconds === undefined) return "estimating time left…";
    const seconds = Math.round(state.eta_seconds);
    return seconds >= 60 ? `about ${Math.floor(seconds / 60)} min ${seconds % 60} s left` : `about ${seconds} s left`;
  }

  function setBar(bar, percent) {
    const value = Math.max(0, Math.min(100, Number(percent) || 0));
    bar.setAttribute("aria-valuenow", String(Math.round(value)));
    bar.querySelector("span").style.width = `${value}%`;
  }

  function renderAgent(item) {
    const row = document.querySelector(`#agents li[data-agent="${CSS.escape(item.agent)}"]`);
    if (!row) return;
    const state = row.querySelector('[data-role="state"]');
    state.textContent = item.state;
    state.className = `badge status-${item.state}`;
    setBar(row.querySelector(".progress"), item.percent);
    row.querySelector('[data-role="percent"]').textContent = `${Math.round(item.percent)}%`;
    row.querySelector('[data-role="detail"]').textContent = item.detail || "";
  }

  function reasons(title, entries) {
    if (!entries.length) return [];
    const list = el("ul", "reasons");
    entries.forEach(([symbol, reason]) => {
      const item = el("li");
      if (symbol) { item.append(el("strong", "", symbol), `: ${reason}`); } else { item.textContent = reason; }
      list.append(item);
    });
    return [el("h3", "", title), list];
  }

  function renderUsage(state) {
    const usage = state.usage || {};
    const tokens = (usage.input_tokens || 0) + (usage.output_tokens || 0);
    const node = document.getElementById("request-usage");
    node.textContent = `${state.screened} candidates screened · ${usage.calls || 0} model calls (${usage.offline_calls || 0} offline)` +
      ` · ${tokens.toLocaleString("en-US")} tokens · $${(usage.cost_usd || 0).toFixed(4)}`;
    node.hidden = false;
  }

  function renderOutcome(state) {
    renderUsage(state);
    const details = document.getElementById("outcome-details");
    details.replaceChildren(
      ...reasons("Blocked by compliance", Object.entries(state.blocked || {})),
      ...reasons("Skipped", Object.entries(state.skipped || {})),
      ...reasons("Failures", (state.failures || []).map((failure) => ["", failure])),
    );
  }

  function renderState(state) {
    const status = document.getElementById("request-status");
    status.textContent = state.status;
    status.className = `badge status-${state.status}`;
    setBar(document.getElementById("overall-progress"), state.percent);
    document.getElementById("overall-percent").textContent = `${Math.round(state.percent)}%`;
    document.getElementById("request-eta").textContent = eta(state);
    const error = document.getElementById("request-error");
    error.textContent = state.error || "";
    error.hidden = !state.error;
    (state.progress || []).forEach(renderAgent);
    if (FINISHED.has(state.status)) {
      const cancel = document.getElementById("cancel-request");
      if (cancel) cancel.hidden = true;
      renderOutcome(state);
    }
  }

  function summary(content) {
    return Object.entries(content || {}).slice(0, 4).map(([key, value]) => {
      let shown = value;
      if (Array.isArray(value)) shown = `${value.length} item${value.length === 1 ? "" : "s"}`;
      else if (value && typeof value === "object") shown = `${Object.keys(value).length} fields`;
      const text = String(shown);
      return `${key.replace(/_/g, " ")}: ${text.length > 120 ? text.slice(0, 117) + "…" : text}`;
    }).join(" · ");
  }

  function addMessage(message) {
    if (!message || seen.has(message.id)) return;
    seen.add(message.id);
    const item = el("li", `message type-${message.type}`);
    const head = el("span", "message-head");
    const time = el("time", "", String(message.created_at || "").slice(11, 19));
    time.dateTime = message.created_at || "";
    head.append(time, " ", el("strong", "", label(message.sender)), ` → ${message.recipient ? label(message.recipient) : "all"} `,
      el("span", `badge status-${message.type === "error" ? "failed" : "done"}`, message.type));
    item.append(head, el("span", "message-body", summary(message.content)));
    document.getElementById("agent-log").append(item);
  }

  function renderIdeas(ideas) {
    const list = document.getElementById("request-results");
    list.replaceChildren(...ideas.map((idea) => {
      const item = el("li");
      const link = el("a", "", idea.title);
      link.href = `/ideas/${encodeURIComponent(idea.id)}`;
      const confidence = el("span", "hint", `confidence ${InvestAI.pct(idea.confidence, 0)}`);
      const meta = el("span", "meta");
      meta.append(el("span", "symbols", idea.instruments.map((i) => i.symbol).join(", ")), " ", confidence, " ",
        el("span", `badge status-${idea.status}`, idea.status.replace(/_/g, " ")));
      item.append(link, meta);
      return item;
    }));
    const empty = document.getElementById("results-empty");
    empty.textContent = "No idea met the request's bar: see what was left out below.";
    empty.hidden = ideas.length > 0;
  }

  async function finished(requestId, state) {
    document.getElementById("results-hint").hidden = true;
    document.getElementById("log-hint").textContent = "The conversation is kept with the request.";
    if (state.status !== "succeeded") {
      const empty = document.getElementById("results-empty");
      empty.textContent = `No ideas: the request ${state.status}.`;
      empty.hidden = false;
      return;
    }
    try {
      const results = await InvestAI.api(`/api/v1/ideas/requests/${encodeURIComponent(requestId)}/results`);
      renderIdeas(results.ideas || []);
    } catch (error) {
      const empty = document.getElementById("results-empty");
      empty.textContent = `The results could not be loaded: ${error.message}`;
      empty.hidden = false;
    }
  }

  function follow(requestId) {
    stream = new EventSource(`/api/v1/ideas/requests/${encodeURIComponent(requestId)}/events`);
    stream.addEventListener("progress", (event) => renderState(JSON.parse(event.data)));
    stream.addEventListener("message", (event) => addMessage(JSON.parse(event.data)));
    stream.addEventListener("done", (event) => {
      stream.close();
      const state = JSON.parse(event.data);
      renderState(state);
      finished(requestId, state);
    });
    stream.addEventListener("error", () => {
      if (stream.readyState === EventSource.CLOSED) {
        document.getElementById("log-hint").textContent = "The live connection closed: reload the page to see the latest state.";
      }
    });
  }

  async function poll(requestId) {
    timer = null;
    const path = `/api/v1/ideas/requests/${encodeURIComponent(requestId)}`;
    const hint = document.getElementById("log-hint");
    let state;
    try {
      state = await InvestAI.api(path);
      /* message numbers start at 1, so the count shown is never past the newest one shown */
      const messages = await InvestAI.api(`${path}/messages?after=${seen.size}`);
      messages.forEach(addMessage);
    } catch (error) {
      hint.textContent = `The progress could not be read (${error.message}): trying again.`;
      timer = window.setTimeout(() => poll(requestId), POLL_MS);
      return;
    }
    hint.textContent = hint.dataset.waiting;
    renderState(state);
    if (FINISHED.has(state.status)) finished(requestId, state);
    else timer = window.setTimeout(() => poll(requestId), POLL_MS);
  }

  function transport() {
    const node = document.getElementById("request-data");
    return node && node.dataset.progressTransport === "poll" ? "poll" : "sse";
  }

  async function loadMessages(requestId) {
    try {
      const messages = await InvestAI.api(`/api/v1/ideas/requests/${encodeURIComponent(requestId)}/messages`);
      messages.forEach(addMessage);
    } catch (error) {
      document.getElementById("log-hint").textContent = `The messages could not be loaded: ${error.message}`;
    }
  }

  function setUpCancel(requestId) {
    const button = document.getElementById("cancel-request");
    if (!button) return;
    button.addEventListener("click", async () => {
      if (!window.confirm("Cancel this request? Work done so far is discarded.")) return;
      button.disabled = true;
      try {
        const state = await InvestAI.api(`/api/v1/ideas/requests/${encodeURIComponent(requestId)}`, { method: "DELETE" });
        renderState(state);
      } catch (error) {
        const message = document.getElementById("request-error");
        message.textContent = `Not cancelled: ${error.message}`;
        message.hidden = false;
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const data = InvestAI.data("request-data");
    if (!data) return;
    setUpCancel(data.request_id);
    const hint = document.getElementById("log-hint");
    hint.dataset.waiting = hint.textContent;
    if (FINISHED.has(data.state.status)) loadMessages(data.request_id);
    else if (transport() === "poll") poll(data.request_id);
    else follow(data.request_id);
  });
  window.addEventListener("pagehide", () => {
    if (stream) stream.close();
    if (timer) window.clearTimeout(timer);
  });
})();
