/* The queue of diary answers kept on this phone while it has no network (IndexedDB),
   shared by the diary pages (offline.js) and the service worker (sw.js). An answer is
   {client_id, owner, day, answered_at, answers, status: "waiting" | "refused", message}. */
(function (scope) {
  "use strict";
  var DB_NAME = "pain-diary-offline";
  var STORE = "answers";

  function open() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "client_id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function pad(n) { return String(Math.floor(Math.abs(n))).padStart(2, "0"); }

  /* The moment with the phone's own UTC offset, e.g. 2026-03-10T23:50:00-08:00. */
  function momentWithOffset(d) {
    var offset = -d.getTimezoneOffset();
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (offset >= 0 ? "+" : "-") + pad(offset / 60) + ":" + pad(offset % 60);
  }

  function newId() {
    if (scope.crypto && scope.crypto.randomUUID) { return scope.crypto.randomUUID(); }
    var bytes = scope.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  var DAY_PATH = /^\/diary\/(\d{4}-\d{2}-\d{2})\/$/;

  /* A queued answer from the diary form's fields and the address it posts to. */
  function fromForm(pairs, path) {
    var match = DAY_PATH.exec(path);
    if (!match) { return null; }
    var answers = {};
    var owner = "";
    pairs.forEach(function (pair) {
      if (pair[0] === "csrfmiddlewaretoken") { return; }
      if (pair[0] === "offline_owner") { owner = String(pair[1]); return; }
      answers[pair[0]] = String(pair[1]);
    });
    return {
      client_id: newId(),
      owner: owner,
      day: match[1],
      answered_at: momentWithOffset(new Date()),
      answers: answers,
      status: "waiting",
      message: ""
    };
  }

  scope.DiaryQueue = {
    fromForm: fromForm,
    put: function (answer) { return run("readwrite", function (s) { s.put(answer); }); },
    remove: function (id) { return run("readwrite", function (s) { s["delete"](id); }); },
    all: function () { return run("readonly", function (s) { return s.getAll(); }); }
  };
})(self);
