/* Members' campaign pages. A flash sale: follow the live state (server-sent events), count
   down, buy (a flash token, then one purchase request) and pay the reservation. A group-buy
   team: join or open a team, pay, copy the share link. Texts come translated from the page's
   data-t-* attributes. */
(function () {
  "use strict";

  function text(root, key) { return root.getAttribute("data-t-" + key) || key; }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" : "") + two(m) + ":" + two(s);
  }

  async function api(method, url, body, headers) {
    var response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data: data };
  }

  function pay(root, url, key, answer) {
    return api("POST", url, { provider: "manual" }, { "Idempotency-Key": key }).then(function (r) {
      if (r.status === 201 && r.data) {
        if (r.data.redirect_url) { window.location.assign(r.data.redirect_url); return; }
        document.getElementById("instructions").textContent =
          text(root, "paid") + (r.data.instructions ? ": " + r.data.instructions : "");
        return;
      }
      answer.textContent = (r.data && r.data.detail) || text(root, "failed");
    });
  }

  function flash(root) {
    var state = JSON.parse(root.getAttribute("data-live"));
    var saleId = root.getAttribute("data-flash");
    var statusEl = document.getElementById("status");
    var countdown = document.getElementById("countdown");
    var left = document.getElementById("left");
    var buy = document.getElementById("buy");
    var answer = document.getElementById("answer");
    var seen = Date.now();
    var reservation = null;

    function show() {
      var passed = (Date.now() - seen) / 1000;
      var status = state.status;
      if (status === "scheduled" && state.seconds_to_start - passed <= 0) { status = "live"; }
      statusEl.textContent = text(root, status);
      root.setAttribute("data-status", status);
      if (status === "scheduled") {
        countdown.textContent = text(root, "starts") + " " + clock(state.seconds_to_start - passed);
      } else if (status === "live") {
        countdown.textContent = text(root, "ends") + " " + clock(state.seconds_to_end - passed);
      } else { countdown.textContent = ""; }
      left.textContent = String(state.left);
      if (buy) { buy.disabled = status !== "live" || state.left <= 0; }
      if (reservation) {
        var rest = (reservation.expires - Date.now()) / 1000;
        document.getElementById("reserved-left").textContent = clock(rest);
        if (rest <= 0) {
          document.getElementById("reserved-text").textContent = text(root, "expired");
          document.getElementById("pay").disabled = true;
        }
      }
    }

    var source = new EventSource("/m/flash/" + saleId + "/stream");
    source.addEventListener("state", function (event) {
      state = JSON.parse(event.data);
      seen = Date.now();
      show();
      if (state.status === "ended" || state.status === "cancelled") { source.close(); }
    });
    window.setInterval(show, 250);
    show();

    if (!buy) { return; }
    buy.addEventListener("click", async function () {
      buy.disabled = true;
      answer.textContent = "";
      var token = await api("POST", "/api/v1/me/flash-token");
      if (token.status !== 200 || !token.data) {
        answer.textContent = (token.data && token.data.detail) || text(root, "failed");
        return;
      }
      var bought = await api("POST", "/api/v1/flash-sales/" + saleId + "/purchase",
        { quantity: 1, channel: "web" }, { Authorization: "Bearer " + token.data.token });
      if (bought.status === 201) {
        reservation = { id: bought.data.reservation_id, url: bought.data.pay_url,
                        expires: Date.parse(bought.data.expires_at) };
        state.left = bought.data.left;
        document.getElementById("reserved-text").textContent = text(root, "reserved");
        document.getElementById("reservation").hidden = false;
        root.setAttribute("data-outcome", "reserved");
        show();
        return;
      }
      var code = bought.data && bought.data.code;
      root.setAttribute("data-outcome", code || "failed");
      answer.textContent = code ? text(root, code) : text(root, "failed");
      if (code === "sold_out") { state.left = 0; state.status = "sold_out"; seen = Date.now(); }
      show();
    });
    document.getElementById("pay").addEventListener("click", function () {
      if (reservation) { pay(root, reservation.url, "flash-" + reservation.id, answer); }
    });
  }

  function team(root) {
    var answer = document.getElementById("answer");
    var join = document.getElementById("join");
    var share = document.getElementById("share");
    var countdown = document.getElementById("countdown");
    var ends = Date.now() + 1000 * Number(root.getAttribute("data-seconds-left"));
    function tick() {
      var rest = (ends - Date.now()) / 1000;
      if (rest > 0 && countdown) { countdown.textContent = text(root, "ends") + " " + clock(rest); }
    }
    window.setInterval(tick, 500);
    tick();
    if (share) {
      share.addEventListener("click", function () {
        var link = new URL(root.getAttribute("data-share"), window.location.href).href;
        if (navigator.clipboard) { navigator.clipboard.writeText(link).catch(function () {}); }
        share.textContent = text(root, "copied") + ": " + link;
      });
    }
    if (!join) { return; }
    join.addEventListener("click", async function () {
      var body = {};
      var code = root.getAttribute("data-team-code");
      if (code) { body.code = code; }
      var form = document.getElementById("address");
      if (form) {
        if (!form.reportValidity()) { return; }
        var address = {};
        new FormData(form).forEach(function (value, name) { if (value) { address[name] = value; } });
        body.fulfilment = "delivery";
        body.address = address;
      }
      join.disabled = true;
      answer.textContent = "";
      var key = "join-" + root.getAttribute("data-group-buy") + "-" + (code || "new") + "-" + Date.now();
      var joined = await api("POST", root.getAttribute("data-join-url"), body, { "Idempotency-Key": key });
      if (joined.status === 201 && joined.data) {
        root.setAttribute("data-outcome", "joined");
        root.setAttribute("data-share", joined.data.team.share_path);
        root.setAttribute("data-order", joined.data.order_id);
        answer.textContent = text(root, "joined");
        var url = root.getAttribute("data-pay-url").replace("ORDER", joined.data.order_id);
        await pay(root, url, "pay-" + joined.data.order_id, answer);
        return;
      }
      join.disabled = false;
      root.setAttribute("data-outcome", (joined.data && joined.data.code) || "failed");
      answer.textContent = (joined.data && joined.data.detail) || text(root, "failed");
    });
  }

  function coupon(root) {
    var claim = document.getElementById("claim");
    var answer = document.getElementById("answer");
    if (!claim) { return; }
    claim.addEventListener("click", async function () {
      claim.disabled = true;
      var claimed = await api("POST", "/api/v1/me/coupons/claim", { token: root.getAttribute("data-token") });
      root.setAttribute("data-outcome", claimed.status === 201 ? "claimed" : ((claimed.data && claimed.data.code) || "failed"));
      if (claimed.status === 201) {
        answer.classList.add("done");
        answer.textContent = text(root, "claimed");
        return;
      }
      answer.textContent = (claimed.data && claimed.data.detail) || text(root, "failed");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var offer = document.getElementById("coupon");
    if (offer) { coupon(offer); }
    var root = document.getElementById("flash");
    if (root) { flash(root); }
    var group = document.getElementById("team");
    if (group) { team(group); }
  });
})();
