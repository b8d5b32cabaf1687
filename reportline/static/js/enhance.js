/*
 * Optional enhancements. Every page works without this file:
 * - "Leave this site" replaces the current history entry instead of adding one;
 * - long text boxes say how many characters are left;
 * - the receipt page offers a print button.
 */
(function () {
  "use strict";

  function leave(event) {
    event.preventDefault();
    window.location.replace(event.currentTarget.getAttribute("href"));
  }

  function characterCount(textarea) {
    var limit = parseInt(textarea.getAttribute("data-maxlength"), 10);
    var message = document.getElementById(textarea.id + "-count");
    if (!limit || !message) { return; }
    var template = message.getAttribute("data-template") || "%n characters remaining";
    var overTemplate = message.getAttribute("data-template-over") || "%n characters too many";
    var timer = null;
    function update() {
      var left = limit - textarea.value.length;
      var over = left < 0;
      message.textContent = (over ? overTemplate : template)
        .replace("%n", Math.abs(left).toLocaleString());
      message.classList.toggle("character-count__message--over", over);
    }
    textarea.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(update, 300);
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-leave]"), function (link) {
      link.addEventListener("click", leave);
    });
    Array.prototype.forEach.call(document.querySelectorAll("textarea[data-maxlength]"), characterCount);
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  });
}());
