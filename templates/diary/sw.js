/* The diary's service worker (scope /diary/): her diary pages and their static files open
   without a network, and a diary save that cannot reach the server is kept on the phone
   (offline-store.js) and sent by the page once the network is back. Nothing outside
   /diary/ is cached: staff pages never are. */
"use strict";
var VERSION = "{{ version }}";
var ASSETS = {{ assets_json|safe }};
var PAGES = "diary-pages-" + VERSION;
var STATIC = "diary-static-" + VERSION;
importScripts("{{ store_url }}");

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(STATIC).then(function (cache) { return cache.addAll(ASSETS); }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("diary-") === 0 && name !== PAGES && name !== STATIC;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

var DAY_PATH = /^\/diary\/\d{4}-\d{2}-\d{2}\/$/;
var SKIP = /^\/diary\/(sync|sw\.js)/;

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && request.mode === "navigate" && DAY_PATH.test(url.pathname)) {
    event.respondWith(saveOrKeep(request, url));
    return;
  }
  if (request.method !== "GET") { return; }
  if (ASSETS.indexOf(url.pathname) !== -1) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
    return;
  }
  if (request.mode === "navigate" && url.pathname.indexOf("/diary/") === 0 && !SKIP.test(url.pathname)) {
    event.respondWith(page(request, url));
  }
});

/* Her page from the network, kept for later; without a network the kept one. */
function page(request, url) {
  return fetch(request).then(function (response) {
    var final = new URL(response.url || request.url);
    if (response.ok && final.pathname.indexOf("/diary/") === 0 && final.search === "") {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { cache.put(final.pathname, copy); });
    } else if (response.redirected && final.pathname.indexOf("/diary/") !== 0) {
      // Signed out (her session ended): her kept pages go; kept answers stay.
      caches.delete(PAGES);
    }
    return response;
  }, function () {
    return caches.open(PAGES).then(function (cache) {
      return cache.match(url.pathname).then(function (hit) {
        return hit || cache.match("/diary/");
      });
    }).then(function (hit) {
      return hit || new Response("", { status: 503, statusText: "Offline" });
    });
  });
}

/* A diary save: to the server if it can be reached, else kept on the phone. */
function saveOrKeep(request, url) {
  var kept = request.clone();
  return fetch(request).catch(function () {
    return kept.formData().then(function (data) {
      var pairs = [];
      data.forEach(function (value, key) { pairs.push([key, value]); });
      var answer = self.DiaryQueue.fromForm(pairs, url.pathname);
      return self.DiaryQueue.put(answer).then(function () {
        return Response.redirect(url.origin + "/diary/?kept=" + answer.day, 303);
      });
    });
  });
}
