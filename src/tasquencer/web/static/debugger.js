// The debugger's case view. Hovering a task that owns a cancellation region highlights the
// tasks and conditions its completion cancels. The work items' action buttons call the HTTP
// API; an action with a payload first opens a form with an example of it to edit. A refused
// action shows the problem the API answered; a done one reloads the page.
(function () {
  "use strict";
  const graph = document.getElementById("graph");
  if (graph) highlightRegions(graph);
  const form = document.getElementById("action-form");
  if (form) wireActions(form, document.getElementById("action-problem"));

  function highlightRegions(graph) {
    const regions = JSON.parse(graph.dataset.regions || "{}");
    const nodes = (names) =>
      names.map((name) => graph.querySelector(`.node[data-name="${CSS.escape(name)}"]`)).filter(Boolean);
    for (const owner of Object.keys(regions)) {
      const node = nodes([owner])[0];
      if (!node) continue;
      const members = nodes([...regions[owner].tasks, ...regions[owner].conditions]);
      node.addEventListener("mouseenter", () => members.forEach((m) => m.classList.add("highlight")));
      node.addEventListener("mouseleave", () => members.forEach((m) => m.classList.remove("highlight")));
    }
  }

  function wireActions(form, problem) {
    let pending = null;
    for (const button of document.querySelectorAll("button.action")) {
      button.addEventListener("click", () => {
        problem.hidden = true;
        if (button.dataset.example === undefined) return send(button.dataset.url, undefined);
        pending = button.dataset.url;
        form.querySelector(".what").textContent = `${button.dataset.action} ${button.closest("tr").dataset.id}`;
        form.elements.payload.value = JSON.stringify(JSON.parse(button.dataset.example), null, 2);
        form.hidden = false;
        form.elements.payload.focus();
      });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(pending, form.elements.payload.value);
    });
    form.querySelector(".dismiss").addEventListener("click", () => { form.hidden = true; });

    async function send(url, body) {
      const options = { method: "POST", headers: { accept: "application/json" } };
      if (body !== undefined) {
        options.headers["content-type"] = "application/json";
        options.body = body;
      }
      const response = await fetch(url, options);
      if (response.ok) return window.location.reload();
      let detail = `${response.status} ${response.statusText}`;
      try {
        const answer = await response.json();
        detail = `${answer.status} ${answer.title}: ${answer.detail}`;
      } catch (ignored) { /* not a problem document */ }
      problem.textContent = detail;
      problem.hidden = false;
    }
  }
})();
