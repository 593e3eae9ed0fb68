// Load the run list, set up every page, then follow the URL's #page.
"use strict";
(async function (G) {
  try {
    G.runs = (await G.api("/api/runs")).runs;
  } catch (e) {
    document.querySelector("main").textContent = `cannot list the runs: ${e.message}`;
    return;
  }
  for (const p of Object.values(G.pages)) if (p.init) p.init();
  window.addEventListener("hashchange", G.show);
  G.show();
  document.body.dataset.ready = "1";
})(window.genzoo);
