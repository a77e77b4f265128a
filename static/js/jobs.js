/* A job's page follows its progress: it asks the server every 1.5 s how far the job has
   got until it is over. Without JavaScript the page reloads itself instead. */
(function () {
  "use strict";
  var section = document.getElementById("job");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-status-url");
  var bar = document.getElementById("job-progress");

  function show(id, text) {
    var el = document.getElementById(id);
    el.textContent = text;
    return el;
  }

  function render(state) {
    show("job-status", state.status_label);
    show("job-stage", state.stage && !state.over ? ": " + state.stage : "");
    bar.value = state.percent;
    bar.textContent = state.percent + "%";
    show("job-count", state.percent + "%" + (state.total ? ": " + state.done + " of " + state.total : ""));
    var message = show("job-message", state.message);
    message.classList.toggle("d-none", !state.message);
    if (state.over && state.status === "failed") {
      message.classList.replace("alert-success", "alert-danger");
    }
    if (state.download) {
      var link = document.getElementById("job-download");
      link.querySelector("a").setAttribute("href", state.download);
      link.querySelector("a").textContent = "Download " + state.file_name;
      show("job-expires", state.expires);
      link.classList.remove("d-none");
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { return setTimeout(poll, 5000); }
        render(state);
        if (state.over) {
          /* The result's details (the problems found) come with the page itself. */
          window.location.reload();
          return;
        }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (section.getAttribute("data-over") !== "true") {
    setTimeout(poll, 1000);
  }
})();
