/* The web community's one script: keep the newest message in view when one arrives, unless the
   reader scrolled up to read older ones; drop the "no messages yet" line once there is one. */
(function () {
  "use strict";
  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }
  var follow = true;
  window.addEventListener("scroll", function () { follow = nearBottom(); }, { passive: true });
  document.addEventListener("htmx:sseBeforeMessage", function () { follow = nearBottom(); });
  document.addEventListener("htmx:sseMessage", function () {
    var empty = document.getElementById("empty");
    if (empty && document.querySelector(".msg")) { empty.remove(); }
    if (follow) { window.scrollTo(0, document.body.scrollHeight); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    window.scrollTo(0, document.body.scrollHeight);
  });
})();
