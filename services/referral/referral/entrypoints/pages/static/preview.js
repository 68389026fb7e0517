// The live preview of what the employer will and will not see. The words and the rules
// come from the server (data-previews: every combination of ticked scopes), so this file
// only looks up what to show; without it, the "Update the preview" button asks the server.
(function () {
  "use strict";

  function fill(list, texts, indexes, nothing) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var lines = indexes.length ? indexes.map(function (i) { return texts[i]; }) : [nothing];
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
  }

  function start() {
    var preview = document.getElementById("preview");
    var form = document.getElementById("consent-form");
    if (!preview || !form) { return; }
    var data = JSON.parse(preview.getAttribute("data-previews"));
    var nothing = preview.getAttribute("data-nothing");
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="scopes"]'));
    var willSee = document.getElementById("will-see");
    var willNotSee = document.getElementById("will-not-see");

    function update() {
      var key = boxes.filter(function (b) { return b.checked; })
        .map(function (b) { return b.value; }).join(",");
      var shown = data.previews[key];
      if (!shown) { return; }
      fill(willSee, data.texts, shown[0], nothing);
      fill(willNotSee, data.texts, shown[1], nothing);
    }

    boxes.forEach(function (b) { b.addEventListener("change", update); });
    ["preview-button", "preview-hint"].forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.hidden = true; }
    });
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
