/*
 * Optional enhancements. Every page works without this file:
 * - "Leave this site" replaces the current history entry instead of adding one;
 * - long text boxes say how many characters are left;
 * - the receipt page offers a print button;
 * - the report form works out its proof of work, so that a report sent while
 *   the line is flooded is not held apart with the flood (services/flood.py).
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

  function leadingZeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i += 1) {
      if (bytes[i] === 0) { bits += 8; continue; }
      var b = bytes[i];
      while ((b & 0x80) === 0) { bits += 1; b <<= 1; }
      return bits;
    }
    return bits;
  }

  // Try counters until SHA-256(challenge ":" counter) starts with enough zero bits,
  // in batches so the page stays responsive. Sending the form early is fine: the
  // report is still stored (only, during a flood, held apart for a supervisor).
  function proofOfWork(answer) {
    var bits = parseInt(answer.getAttribute("data-proof-bits"), 10);
    var challengeField = answer.form && answer.form.querySelector("[data-proof-challenge]");
    if (!bits || !challengeField || !window.crypto || !window.crypto.subtle) { return; }
    var challenge = challengeField.value;
    var encoder = new TextEncoder();
    var counter = 0;
    function batch() {
      var tries = [];
      for (var i = 0; i < 256; i += 1, counter += 1) {
        tries.push((function (candidate) {
          return window.crypto.subtle.digest("SHA-256", encoder.encode(challenge + ":" + candidate))
            .then(function (digest) {
              return leadingZeroBits(new Uint8Array(digest)) >= bits ? candidate : null;
            });
        }(String(counter))));
      }
      Promise.all(tries).then(function (results) {
        var found = results.filter(function (value) { return value !== null; });
        if (found.length) { answer.value = found[0]; } else { window.setTimeout(batch, 0); }
      });
    }
    batch();
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
    Array.prototype.forEach.call(document.querySelectorAll("[data-proof-answer]"), proofOfWork);
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  });
}());
