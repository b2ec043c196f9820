/* Documents: uploads with progress (XMLHttpRequest to the REST API), the sharing fields that follow the
   visibility choice, and status badges that follow processing until a document is indexed or failed. */
"use strict";

(function () {
  const POLL_MS = 1000;
  const FINAL = new Set(["indexed", "failed"]);
  const watched = new Set();

  function label(value) { return InvestAI.text(value).replace(/_/g, " "); }

  function when(iso) {
    const moment = new Date(iso);
    if (isNaN(moment.getTime())) return InvestAI.text(iso);
    return moment.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function apiMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (ignored) { /* not JSON: fall through */ }
    return "The upload failed (HTTP " + xhr.status + ").";
  }

  /* POST multipart form data to the API with the session cookie and CSRF header, reporting upload progress
     (0..1); resolves with the created document, rejects with the API's message. */
  function send(path, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", InvestAI.csrfToken());
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 401) {
          window.location.assign("/login?notice=session_expired&next=" + encodeURIComponent(location.pathname));
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText));
        else reject(new Error(apiMessage(xhr)));
      });
      xhr.addEventListener("error", () => reject(new Error("The connection failed during the upload. Try again.")));
      xhr.addEventListener("abort", () => reject(new Error("The upload was cancelled.")));
      xhr.send(body);
    });
  }

  function listValues(input) {
    if (!input) return [];
    return input.value.split(/[,\n]/).map((item) => item.trim()).filter((item) => item.length > 0);
  }

  /* The multipart body of the upload form: the file, title, sharing, tags and publication date as the API takes them. */
  function uploadBody(form) {
    const body = new FormData();
    const file = form.querySelector('input[type="file"]').files[0];
    body.append("file", file, file.name);
    const title = form.querySelector('[name="title"]');
    if (title && title.value.trim()) body.append("title", title.value.trim());
    const visibility = form.querySelector('[name="visibility"]');
    if (visibility) {
      body.append("visibility", visibility.value);
      if (visibility.value === "roles") {
        Array.from(form.querySelector('[name="allowed_roles"]').selectedOptions)
          .forEach((option) => body.append("allowed_roles", option.value));
      }
      if (visibility.value === "users") {
        listValues(form.querySelector('[name="allowed_users"]')).forEach((user) => body.append("allowed_users", user));
      }
    }
    listValues(form.querySelector('[name="tags"]')).forEach((tag) => body.append("tags", tag));
    const published = form.querySelector('[name="published_at"]');
    if (published && published.value) body.append("published_at", published.value);
    return body;
  }

  function setupUpload(form, onDone) {
    const progress = form.querySelector("progress");
    const status = form.querySelector('[role="status"]');
    const alert = form.querySelector('[role="alert"]');
    const button = form.querySelector('button[type="submit"]');
    const fileInput = form.querySelector('input[type="file"]');
    function fail(message) {
      alert.textContent = message;
      alert.hidden = false;
      status.textContent = "";
      progress.hidden = true;
      button.disabled = false;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      alert.hidden = true;
      alert.textContent = "";
      if (!fileInput.files || fileInput.files.length === 0) {
        fail("Choose a file to upload.");
        fileInput.focus();
        return;
      }
      button.disabled = true;
      progress.value = 0;
      progress.hidden = false;
      status.textContent = "Uploading " + fileInput.files[0].name + "…";
      try {
        const doc = await send(form.dataset.uploadTo, uploadBody(form), (fraction) => {
          progress.value = Math.round(fraction * 100);
          status.textContent = fraction < 1 ? "Uploading… " + Math.round(fraction * 100) + "%" : "Checking the file…";
        });
        progress.value = 100;
        status.textContent = "Uploaded “" + doc.title + "”: it is being indexed.";
        button.disabled = false;
        onDone(doc, form);
      } catch (error) {
        fail(error.message);
      }
    });
  }

  /* --- status badges ------------------------------------------------------------------------------------ */

  function updateBadges(doc) {
    const id = doc.id;
    document.querySelectorAll('[data-status-for="' + CSS.escape(id) + '"]').forEach((badge) => {
      badge.textContent = label(doc.status);
      badge.className = "badge status-" + doc.status;
      badge.dataset.status = doc.status;
    });
    document.querySelectorAll('[data-reason-for="' + CSS.escape(id) + '"]').forEach((reason) => {
      reason.textContent = doc.status_reason || "";
    });
  }

  async function poll(id) {
    try {
      const doc = await InvestAI.api("/api/v1/documents/" + encodeURIComponent(id));
      updateBadges(doc);
      if (FINAL.has(doc.status)) { watched.delete(id); return; }
    } catch (error) {
      if (error instanceof InvestAI.ApiError && error.status === 404) { watched.delete(id); return; }
      /* a network hiccup: try again on the next tick */
    }
    window.setTimeout(() => poll(id), POLL_MS);
  }

  function watch(id) {
    if (watched.has(id)) return;
    watched.add(id);
    window.setTimeout(() => poll(id), POLL_MS);
  }

  function watchPending() {
    document.querySelectorAll("[data-status-for]").forEach((badge) => {
      if (!FINAL.has(badge.dataset.status)) watch(badge.dataset.statusFor);
    });
  }

  /* --- the list ------------------------------------------------------------------------------------------ */

  function cell(row, content) {
    const td = document.createElement("td");
    if (typeof content === "string") td.textContent = content;
    else if (content) td.appendChild(content);
    row.appendChild(td);
    return td;
  }

  function statusCell(doc) {
    const wrap = document.createElement("span");
    const badge = document.createElement("span");
    badge.className = "badge status-" + doc.status;
    badge.dataset.statusFor = doc.id;
    badge.dataset.status = doc.status;
    badge.textContent = label(doc.status);
    const reason = document.createElement("span");
    reason.className = "status-reason hint";
    reason.dataset.reasonFor = doc.id;
    reason.textContent = doc.status_reason || "";
    wrap.append(badge, " ", reason);
    return wrap;
  }

  function addRow(doc) {
    const table = document.getElementById("documents-table");
    if (!table) return;
    const existing = table.querySelector('tr[data-document-id="' + CSS.escape(doc.id) + '"]');
    if (existing) existing.remove();
    const row = document.createElement("tr");
    row.dataset.documentId = doc.id;
    const link = document.createElement("a");
    link.href = "/documents/" + encodeURIComponent(doc.id);
    link.textContent = doc.title;
    const titleCell = cell(row, link);
    if (doc.tags && doc.tags.length) {
      const tags = document.createElement("div");
      tags.className = "tags";
      doc.tags.forEach((tag) => {
        const chip = document.createElement("span");
        chip.className = "tag";
        chip.textContent = tag;
        tags.appendChild(chip);
      });
      titleCell.appendChild(tags);
    }
    cell(row, InvestAI.text(doc.doc_type).toUpperCase());
    cell(row, statusCell(doc));
    cell(row, "you");
    cell(row, label(doc.visibility));
    cell(row, InvestAI.text(doc.current_version)).className = "num";
    cell(row, when(doc.updated_at));
    table.tBodies[0].prepend(row);
    document.getElementById("documents-table-wrap").hidden = false;
    document.getElementById("documents-empty").hidden = true;
    watch(doc.id);
  }

  /* --- sharing fields ------------------------------------------------------------------------------------ */

  function setupVisibility(select) {
    const form = select.form;
    function sync() {
      form.querySelectorAll("[data-visibility-field]").forEach((field) => {
        field.hidden = field.dataset.visibilityField !== select.value;
      });
    }
    select.addEventListener("change", sync);
    sync();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("select[data-visibility-select]").forEach(setupVisibility);
    const upload = document.getElementById("upload-form");
    if (upload) {
      setupUpload(upload, (created, form) => {
        addRow(created);
        form.reset();
        form.querySelectorAll("select[data-visibility-select]").forEach((select) => select.dispatchEvent(new Event("change")));
      });
    }
    const version = document.getElementById("version-form");
    if (version) {
      setupUpload(version, (updated) => {
        window.location.assign("/documents/" + encodeURIComponent(updated.id) + "?notice=version_uploaded");
      });
    }
    watchPending();
  });
})();
