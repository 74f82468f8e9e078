/* CRM tracking snippet: page views, time on page, form emails. First-party cookie only;
   nothing is sent when the browser asks not to be tracked, or before consent when the
   tag says data-consent="required" (then call crmTrack('consent', true)). */
(function (w, d, n) {
  var s = d.currentScript, k = s && s.getAttribute("data-site");
  if (!k || n.doNotTrack == "1" || w.doNotTrack == "1" || n.globalPrivacyControl) return;
  var url = s.src.replace(/\/t\/s\.js.*$/, "/t/c");
  var ok = s.getAttribute("data-consent") != "required", v, shown = Date.now(), seen = 0;
  function id() {
    var m = /(?:^|; )_crmvid=([\w-]{8,64})/.exec(d.cookie);
    v = m ? m[1] : Math.random().toString(36).slice(2) + Date.now().toString(36);
    d.cookie = "_crmvid=" + v + ";path=/;max-age=34560000;SameSite=Lax";
  }
  function send(o) {
    if (!ok) return;
    o.k = k; o.v = v; o.u = location.href; o.c = true; o.w = !!n.webdriver;
    var b = JSON.stringify(o);
    if (!(n.sendBeacon && n.sendBeacon(url, b)))
      fetch(url, { method: "POST", body: b, keepalive: true, mode: "no-cors" });
  }
  function view() { id(); send({ t: "view", r: d.referrer, ti: d.title }); }
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState == "hidden") {
      seen += Date.now() - shown;
      send({ t: "leave", d: Math.round(seen / 1000) });
    } else shown = Date.now();
  });
  d.addEventListener("submit", function (e) {
    var f = e.target, i = f && f.querySelector && f.querySelector("input[type=email]");
    if (i && i.value) send({ t: "identify", e: i.value });
  }, true);
  w.crmTrack = function (cmd, val) {
    if (cmd == "consent" && val && !ok) { ok = true; view(); }
    if (cmd == "identify") send({ t: "identify", e: val });
  };
  if (ok) view();
})(window, document, navigator);
