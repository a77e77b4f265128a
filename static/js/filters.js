/* The filter forms of the physician pages (<details data-filters>) are folded on a
   phone, where they would fill the screen, and open on wider screens. */
(function () {
  "use strict";
  if (!window.matchMedia || !window.matchMedia("(min-width: 768px)").matches) { return; }
  document.querySelectorAll("details[data-filters]").forEach(function (details) {
    details.open = true;
  });
})();
