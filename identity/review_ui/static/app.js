// Keyboard shortcuts: a key named on a button (data-key) presses it, unless typing in a field.
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
  var button = document.querySelector('button[data-key="' + event.key + '"]');
  if (button) { event.preventDefault(); button.click(); }
});
