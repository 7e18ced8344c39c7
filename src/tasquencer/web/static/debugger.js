// The debugger's case view: hovering a task that owns a cancellation region highlights the
// tasks and conditions its completion cancels.
(function () {
  "use strict";
  const graph = document.getElementById("graph");
  if (!graph) return;
  const regions = JSON.parse(graph.dataset.regions || "{}");
  function nodes(names) {
    return names.map((name) => graph.querySelector(`.node[data-name="${CSS.escape(name)}"]`)).filter(Boolean);
  }
  for (const owner of Object.keys(regions)) {
    const node = nodes([owner])[0];
    if (!node) continue;
    const members = nodes([...regions[owner].tasks, ...regions[owner].conditions]);
    node.addEventListener("mouseenter", () => members.forEach((m) => m.classList.add("highlight")));
    node.addEventListener("mouseleave", () => members.forEach((m) => m.classList.remove("highlight")));
  }
})();
