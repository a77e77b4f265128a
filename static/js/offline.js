/* The offline diary on her pages: registers the service worker, keeps a save made
   without a network (when the page can see it is offline), sends the kept answers on
   every page load and when the network returns, and always says how many wait, which
   were sent and which were refused (with the reason, until she dismisses it).
   Without JavaScript none of this runs and the plain form works as before. */
(function () {
  "use strict";
  var box = document.getElementById("offline-status");
  if (!box || !window.indexedDB || !window.DiaryQueue) { return; }
  var owner = box.dataset.owner || "";
  var text = box.dataset;
  var sending = false;

  if ("serviceWorker" in navigator && owner) {
    navigator.serviceWorker.register(box.dataset.worker, { scope: "/diary/" }).catch(function () {});
  }

  function token() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function line(message, kind, answer) {
    var p = document.createElement("div");
    p.className = "alert alert-" + kind + " py-2 mb-2 offline-" + (answer ? answer.status : kind);
    p.setAttribute("role", "status");
    p.textContent = message;
    if (answer && answer.status === "refused") {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-sm btn-outline-secondary ms-2 offline-dismiss";
      button.textContent = text.dismiss;
      button.addEventListener("click", function () {
        window.DiaryQueue.remove(answer.client_id).then(show);
      });
      p.appendChild(button);
    }
    box.appendChild(p);
  }

  function mine(answer) { return !owner || answer.owner === owner; }

  function show() {
    return window.DiaryQueue.all().then(function (answers) {
      answers = (answers || []).filter(mine);
      box.textContent = "";
      var sent = sessionStorage.getItem("diary-sent");
      if (sent) { line(sent, "success"); sessionStorage.removeItem("diary-sent"); }
      var waiting = answers.filter(function (a) { return a.status === "waiting"; });
      if (waiting.length) {
        line((waiting.length === 1 ? text.waitingOne : text.waitingMany).replace("%(n)s", waiting.length) +
          (owner ? "" : " " + text.signin), "warning");
      }
      answers.filter(function (a) { return a.status === "refused"; }).forEach(function (a) {
        line(text.refused.replace("%(day)s", a.day) + " " + a.message, "danger", a);
      });
      markDays(waiting);
      return answers;
    });
  }

  /* Her strip and the day's page show the kept answers, marked as not sent yet. */
  function markDays(waiting) {
    waiting.forEach(function (a) {
      var day = document.querySelector('.week-day[data-day="' + a.day + '"]');
      if (day && !day.classList.contains("state-queued")) {
        day.classList.add("state-queued");
        var mark = document.createElement("span");
        mark.className = "week-queued small";
        mark.textContent = text.notSent;
        day.appendChild(mark);
      }
      var form = document.querySelector('form.diary-form[action="/diary/' + a.day + '/"]');
      if (form && !form.dataset.keptShown) {
        form.dataset.keptShown = "1";
        Object.keys(a.answers).forEach(function (name) {
          var fields = form.querySelectorAll('[name="' + name + '"]');
          Array.prototype.forEach.call(fields, function (field) {
            if (field.type === "radio") { field.checked = field.value === a.answers[name]; }
            else { field.value = a.answers[name]; }
          });
        });
        var note = document.createElement("p");
        note.className = "alert alert-warning offline-kept";
        note.textContent = text.keptNote;
        form.insertBefore(note, form.firstChild);
      }
    });
  }

  function sendOne(answer) {
    return fetch(box.dataset.sync, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token() },
      body: JSON.stringify({
        client_id: answer.client_id, answered_at: answer.answered_at,
        day: answer.day, answers: answer.answers
      })
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) { return "stop"; }
      return response.json().then(function (result) {
        if (result.result === "saved" || result.result === "unchanged" || result.result === "kept_later") {
          sessionStorage.setItem("diary-sent", text.sent.replace("%(day)s", result.day_label || answer.day) +
            (result.message ? " " + result.message : ""));
          return window.DiaryQueue.remove(answer.client_id).then(function () { return "sent"; });
        }
        answer.status = "refused";
        answer.message = result.message || "";
        return window.DiaryQueue.put(answer).then(function () { return "refused"; });
      });
    });
  }

  function sendAll() {
    if (sending || !owner || !navigator.onLine) { return show(); }
    sending = true;
    return window.DiaryQueue.all().then(function (answers) {
      var waiting = (answers || []).filter(function (a) { return mine(a) && a.status === "waiting"; });
      var sentAny = false;
      return waiting.reduce(function (chain, answer) {
        return chain.then(function (state) {
          if (state === "stop") { return state; }
          return sendOne(answer).then(function (result) {
            if (result === "sent") { sentAny = true; }
            return result;
          });
        });
      }, Promise.resolve("")).then(function () {
        sending = false;
        if (sentAny) { window.location.reload(); return; }
        return show();
      });
    }).catch(function () { sending = false; return show(); });
  }

  /* A save the page knows cannot reach the server is kept here (a save that fails on
     the way is kept by the service worker). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("diary-form") || navigator.onLine) { return; }
    var pairs = [];
    new FormData(form).forEach(function (value, key) { pairs.push([key, value]); });
    var answer = window.DiaryQueue.fromForm(pairs, new URL(form.action, location.href).pathname);
    if (!answer) { return; }
    event.preventDefault();
    window.DiaryQueue.put(answer).then(show);
  });

  /* Signing out clears her kept pages (the answers waiting to be sent stay). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("sign-out") || !window.caches || form.dataset.cleared) { return; }
    event.preventDefault();
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n.indexOf("diary-pages") === 0; })
        .map(function (n) { return caches.delete(n); }));
    }).then(function () { form.dataset.cleared = "1"; form.submit(); }, function () { form.submit(); });
  });

  window.addEventListener("online", sendAll);
  sendAll();
})();
