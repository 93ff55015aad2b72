// Reloads a page that asks for it (data-refresh, in seconds) unless the
// reader is typing in a form or switched the refresh off.
(function () {
  var s = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var box = document.getElementById("autorefresh");
  if (!s || !box) { return; }
  box.hidden = false;
  var input = box.querySelector("input");
  input.checked = sessionStorage.getItem("scaworker-refresh") !== "off";
  input.addEventListener("change", function () {
    sessionStorage.setItem("scaworker-refresh", input.checked ? "on" : "off");
  });
  setInterval(function () {
    var a = document.activeElement;
    if (input.checked && !(a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA"))) { location.reload(); }
  }, s * 1000);
})();
