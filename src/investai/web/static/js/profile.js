/* Profile pages: a "Copy the codes" button for the one-time recovery codes (shown only where the clipboard
   is available; the codes stay selectable by hand either way). */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard || !window.isSecureContext) return;
  document.querySelectorAll("button[data-copy-list]").forEach((button) => {
    const list = document.getElementById(button.dataset.copyList);
    if (!list) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const codes = Array.from(list.querySelectorAll("li")).map((item) => item.textContent.trim());
      try {
        await navigator.clipboard.writeText(codes.join("\n") + "\n");
        button.textContent = "Copied";
      } catch (error) {
        button.textContent = "Copy failed: select the codes";
      }
    });
  });
});
