/* The ideas list: the Compare button is enabled while 2 to 6 ideas are ticked (the server checks it too). */
"use strict";

(function () {
  const MIN = 2;
  const MAX = 6;

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const button = document.getElementById("compare-button");
    const hint = document.getElementById("compare-hint");
    const update = () => {
      const count = form.querySelectorAll("input.pick:checked").length;
      button.disabled = count < MIN || count > MAX;
      if (count === 0) hint.textContent = `Tick ${MIN} to ${MAX} ideas to compare them side by side.`;
      else if (count < MIN) hint.textContent = `${count} ticked: tick at least ${MIN}.`;
      else if (count > MAX) hint.textContent = `${count} ticked: at most ${MAX} can be compared.`;
      else hint.textContent = `${count} ticked.`;
    };
    form.addEventListener("change", update);
    update();
  });
})();
