// The debugger's case view. Hovering a task that owns a cancellation region highlights the
// tasks and conditions its completion cancels. The work items' action buttons call the HTTP
// API; an action with a payload first opens a form with an example of it to edit. A refused
// action shows the problem the API answered; a done one reloads the page. The timeline shows
// the case as it was after each step of its history: the page at `?at=` is fetched and its
// graph and work items replace the ones shown.
(function () {
  "use strict";
  wireState();
  const timeline = document.getElementById("timeline");
  if (timeline) wireTimeline(timeline);

  function wireState() {
    const graph = document.getElementById("graph");
    if (graph) highlightRegions(graph);
    const form = document.getElementById("action-form");
    if (form) wireActions(form, document.getElementById("action-problem"));
  }

  function wireTimeline(timeline) {
    const steps = JSON.parse(timeline.dataset.steps);
    const slider = document.getElementById("tl-slider");
    const label = document.getElementById("tl-label");
    const play = document.getElementById("tl-play");
    let shown = Number(timeline.dataset.current);
    let player = null;
    let loading = Promise.resolve();

    slider.addEventListener("change", () => show(Number(slider.value)));
    document.getElementById("tl-prev").addEventListener("click", () => show(shown - 1));
    document.getElementById("tl-next").addEventListener("click", () => show(shown + 1));
    for (const link of document.querySelectorAll("#history a.step-link")) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        show(Number(link.dataset.step));
      });
    }
    play.addEventListener("click", () => {
      if (player) return stop();
      if (shown === steps.length - 1) show(0);
      play.textContent = "pause";
      player = setInterval(() => (shown < steps.length - 1 ? show(shown + 1) : stop()), 900);
    });

    function stop() {
      clearInterval(player);
      player = null;
      play.textContent = "play";
    }

    function show(index) {
      if (index < 0 || index >= steps.length) return;
      shown = index;
      slider.value = String(index);
      const last = index === steps.length - 1;
      const url = last ? timeline.dataset.caseUrl : `${timeline.dataset.caseUrl}?at=${encodeURIComponent(steps[index])}`;
      loading = loading.then(() => load(url, index));
    }

    async function load(url, index) {
      if (index !== shown) return; // a later step was asked for meanwhile
      const response = await fetch(url, { headers: { accept: "text/html" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      if (index !== shown) return;
      document.getElementById("state").replaceWith(page.getElementById("state"));
      document.getElementById("case-state").replaceWith(page.getElementById("case-state"));
      label.textContent = page.getElementById("tl-label").textContent;
      for (const row of document.querySelectorAll("#history tr[data-step]")) {
        row.classList.toggle("later", Number(row.dataset.step) > index);
      }
      window.history.replaceState(null, "", url);
      wireState();
    }
  }

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
