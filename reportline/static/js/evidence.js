/*
 * Evidence files sent ahead of their form (components/evidence.html). Without
 * this file each file travels in the form's own body, which is capped at a
 * few megabytes; with it:
 * - the reporter can add slots, up to the form's most files;
 * - a file over the per-file limit is refused in the page, before anything is sent;
 * - each chosen file is sent to the upload URL in chunks, each under a fresh
 *   random token (services/uploads.py seals every chunk on arrival), with a
 *   progress bar and a spoken status; the slot then carries the token, name
 *   and size instead of the file, and the form is sent as usual.
 * All texts come from the fieldset's data-* attributes, so they are translated.
 */
(function () {
  "use strict";

  var TOKEN_BYTES = 32;
  var SLOT_NAME = /^evidence-(\d+)-file$/;

  function fill(template, values) {
    return template.replace(/%([ntps])/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  // Unpadded base64url of 32 random bytes: what uploads.parse_token reads.
  function newToken() {
    var bytes = new Uint8Array(TOKEN_BYTES);
    window.crypto.getRandomValues(bytes);
    return window.btoa(String.fromCharCode.apply(null, bytes))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function supported() {
    return Boolean(window.fetch && window.Promise && window.crypto &&
      window.crypto.getRandomValues && window.Blob && Blob.prototype.slice);
  }

  function Evidence(fieldset) {
    this.fieldset = fieldset;
    this.form = fieldset.form || fieldset.closest("form");
    this.text = fieldset.dataset;
    this.maxFiles = parseInt(this.text.maxFiles, 10) || 1;
    this.chunkBytes = parseInt(this.text.chunkBytes, 10) || 0;
    this.status = fieldset.querySelector("[data-evidence-status]");
    this.sending = false;
  }

  Evidence.prototype.slots = function () {
    return Array.prototype.slice.call(this.fieldset.querySelectorAll("[data-evidence-slot]"));
  };

  Evidence.prototype.start = function () {
    var self = this;
    Array.prototype.forEach.call(this.fieldset.querySelectorAll("[data-evidence-limit-js]"),
      function (element) { element.hidden = false; });
    Array.prototype.forEach.call(this.fieldset.querySelectorAll("[data-evidence-limit-nojs]"),
      function (element) { element.hidden = true; });
    this.addButton();
    this.form.addEventListener("submit", function (event) { self.onSubmit(event); });
    // Back to a page kept in the browser's memory: it must be usable again.
    window.addEventListener("pageshow", function () { self.finish(); });
  };

  // ------------------------------------------------------------ more slots

  Evidence.prototype.addButton = function () {
    var self = this;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button--secondary evidence__add";
    button.textContent = this.text.addLabel;
    button.setAttribute("data-evidence-add", "");
    button.addEventListener("click", function () { self.addSlot(); });
    this.fieldset.insertBefore(button, this.status);
    this.addButtonElement = button;
    this.updateAddButton();
  };

  Evidence.prototype.updateAddButton = function () {
    this.addButtonElement.hidden = this.slots().length >= this.maxFiles ||
      this.nextIndex() >= this.maxFiles;
  };

  Evidence.prototype.nextIndex = function () {
    var highest = -1;
    this.slots().forEach(function (slot) {
      highest = Math.max(highest, slotIndex(slot));
    });
    return highest + 1;
  };

  function element(tag, attributes) {
    var made = document.createElement(tag);
    Object.keys(attributes).forEach(function (name) { made.setAttribute(name, attributes[name]); });
    return made;
  }

  Evidence.prototype.addSlot = function () {
    var index = this.nextIndex();
    var number = this.slots().length + 1;
    var base = "evidence-" + index;
    var slot = element("div", { "class": "evidence__slot form-group", "data-evidence-slot": "" });
    var fileLabel = element("label", { "class": "label", "for": base + "-file", id: base + "-label" });
    fileLabel.textContent = fill(this.text.fileLabel, { n: number });
    var describeLabel = element("label", { "class": "label", "for": base + "-description" });
    describeLabel.textContent = fill(this.text.descriptionLabel, { n: number });
    var progress = element("progress", {
      "class": "evidence__progress", max: "100", value: "0",
      "aria-labelledby": base + "-label", "data-evidence-progress": ""
    });
    progress.hidden = true;
    [
      fileLabel,
      element("input", { "class": "file-upload", type: "file", id: base + "-file", name: base + "-file" }),
      element("input", { type: "hidden", name: base + "-upload", value: "", "data-evidence-upload": "" }),
      element("input", { type: "hidden", name: base + "-name", value: "", "data-evidence-name": "" }),
      element("input", { type: "hidden", name: base + "-size", value: "", "data-evidence-size": "" }),
      describeLabel,
      element("input", {
        "class": "input", type: "text", id: base + "-description", name: base + "-description",
        maxlength: "500", autocomplete: "off"
      }),
      progress
    ].forEach(function (child) { slot.appendChild(child); });
    this.fieldset.insertBefore(slot, this.addButtonElement);
    this.updateAddButton();
    slot.querySelector("input[type=file]").focus();
  };

  function slotIndex(slot) {
    var match = SLOT_NAME.exec(slot.querySelector("input[type=file]").name);
    return match ? parseInt(match[1], 10) : -1;
  }

  function slotNumber(slot, slots) {
    return slots.indexOf(slot) + 1;
  }

  // ------------------------------------------------------------ messages

  Evidence.prototype.say = function (message) {
    if (this.status) { this.status.textContent = message; }
  };

  Evidence.prototype.clearProblems = function () {
    this.slots().forEach(function (slot) {
      var input = slot.querySelector("input[type=file]");
      var shown = slot.querySelector("#" + input.id.replace(/-file$/, "-error"));
      if (shown) { shown.parentNode.removeChild(shown); }
      slot.classList.remove("form-group--error");
      input.classList.remove("file-upload--error");
      input.removeAttribute("aria-describedby");
    });
    this.say("");
  };

  // The message goes next to the slot, as the server would put it, and is spoken.
  Evidence.prototype.markProblem = function (slot, message) {
    var input = slot.querySelector("input[type=file]");
    var id = input.id.replace(/-file$/, "-error");
    var shown = element("p", { "class": "error-message", id: id });
    var prefix = element("span", { "class": "visually-hidden" });
    prefix.textContent = this.text.errorPrefix + " ";
    shown.appendChild(prefix);
    shown.appendChild(document.createTextNode(message));
    slot.insertBefore(shown, input);
    slot.classList.add("form-group--error");
    input.classList.add("file-upload--error");
    input.setAttribute("aria-describedby", id);
    this.say(fill(this.text.slotProblem, { n: slotNumber(slot, this.slots()), s: message }));
  };

  Evidence.prototype.markSent = function (slot, name) {
    var input = slot.querySelector("input[type=file]");
    var id = input.id.replace(/-file$/, "-sent");
    var note = slot.querySelector("#" + id);
    if (!note) {
      note = element("p", { "class": "hint", id: id, "data-evidence-sent": "" });
      input.parentNode.insertBefore(note, input.nextSibling);
    }
    note.textContent = fill(this.text.sent, { s: name });
  };

  // ------------------------------------------------------------ sending

  // The fields that carry a file sent ahead: made here, so a form sent without this
  // script carries none (fewer parts in its multipart body).
  function hiddenField(slot, input, kind) {
    var found = slot.querySelector("[data-evidence-" + kind + "]");
    if (!found) {
      var attributes = { type: "hidden", name: input.name.replace(/-file$/, "-" + kind), value: "" };
      attributes["data-evidence-" + kind] = "";
      found = element("input", attributes);
      slot.appendChild(found);
    }
    return found;
  }

  function chosenFile(slot) {
    var input = slot.querySelector("input[type=file]");
    // An empty file stays in the form's body: the server says what is wrong with it.
    return input.files && input.files.length && input.files[0].size > 0 ? input.files[0] : null;
  }

  Evidence.prototype.onSubmit = function (event) {
    if (this.sending) { event.preventDefault(); return; }
    if (!supported() || !this.chunkBytes) { return; }
    var slots = this.slots().filter(chosenFile);
    if (!slots.length) {
      this.plainBodyWhenNoFile();
      return;
    }
    event.preventDefault();
    this.clearProblems();
    var limit = parseInt(this.text.fileBytes, 10) || 0;
    var tooLarge = slots.filter(function (slot) {
      return limit && chosenFile(slot).size > limit;
    });
    if (tooLarge.length) {
      tooLarge.forEach(function (slot) { this.markProblem(slot, this.text.tooLarge); }, this);
      tooLarge[0].querySelector("input[type=file]").focus();
      return;
    }
    this.sendAll(slots);
  };

  // With every file sent ahead (or none chosen), the form's body holds only text: send
  // it url-encoded, which the server reads faster than a multipart body.
  Evidence.prototype.plainBodyWhenNoFile = function () {
    var carriesFile = Array.prototype.some.call(
      this.form.querySelectorAll("input[type=file]"),
      function (input) { return input.files && input.files.length; }
    );
    if (!carriesFile) { this.form.enctype = "application/x-www-form-urlencoded"; }
  };

  Evidence.prototype.submitButtons = function () {
    return Array.prototype.slice.call(this.form.querySelectorAll("button[type=submit], input[type=submit]"));
  };

  Evidence.prototype.begin = function () {
    this.sending = true;
    this.submitButtons().forEach(function (button) { button.disabled = true; });
  };

  Evidence.prototype.finish = function () {
    this.sending = false;
    this.submitButtons().forEach(function (button) { button.disabled = false; });
  };

  Evidence.prototype.sendAll = function (slots) {
    var self = this;
    var done = Promise.resolve();
    this.begin();
    slots.forEach(function (slot, position) {
      done = done.then(function () { return self.sendSlot(slot, position + 1, slots.length); });
    });
    done.then(function () {
      self.say(self.text.sendingForm);
      self.plainBodyWhenNoFile();
      HTMLFormElement.prototype.submit.call(self.form);
    }, function (failure) {
      self.finish();
      self.markProblem(failure.slot, failure.message);
      failure.slot.querySelector("input[type=file]").focus();
    });
  };

  // Send one slot's file chunk by chunk; resolve once the slot carries its token.
  Evidence.prototype.sendSlot = function (slot, number, total) {
    var self = this;
    var file = chosenFile(slot);
    var token = newToken();
    var progress = slot.querySelector("[data-evidence-progress]");
    var lastPercent = -1;
    function show(sent) {
      var percent = file.size ? Math.floor(sent * 100 / file.size) : 100;
      if (percent === lastPercent) { return; }
      lastPercent = percent;
      progress.hidden = false;
      progress.value = percent;
      self.say(fill(self.text.sending, { n: number, t: total, p: percent }));
    }
    function chunk(index) {
      var start = index * self.chunkBytes;
      if (start >= file.size) { return Promise.resolve(); }
      return self.sendChunk(file.slice(start, start + self.chunkBytes), token, index)
        .then(function (received) {
          show(received);
          return chunk(index + 1);
        });
    }
    show(0);
    return chunk(0).then(function () {
      var input = slot.querySelector("input[type=file]");
      hiddenField(slot, input, "upload").value = token;
      hiddenField(slot, input, "name").value = file.name;
      hiddenField(slot, input, "size").value = String(file.size);
      // The file itself must not travel again in the form's body.
      slot.querySelector("input[type=file]").value = "";
      self.markSent(slot, file.name);
    }, function (message) {
      progress.hidden = true;
      throw { slot: slot, message: typeof message === "string" ? message : self.text.failed };
    });
  };

  // POST one chunk; resolve with the bytes received so far, reject with a sentence.
  Evidence.prototype.sendChunk = function (blob, token, index) {
    var failed = this.text.failed;
    var csrf = this.form.querySelector("input[name=csrf_token]");
    return window.fetch(this.text.uploadUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/octet-stream",
        "X-CSRFToken": csrf ? csrf.value : "",
        "X-Upload-Token": token,
        "X-Chunk-Index": String(index)
      },
      body: blob
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (response.ok && typeof answer.received === "number") { return answer.received; }
        throw (answer && answer.error) || failed;
      }, function () { throw failed; });
    }, function () { throw failed; });
  };

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-evidence]"), function (fieldset) {
      var evidence = new Evidence(fieldset);
      if (evidence.form) { evidence.start(); }
    });
  });
}());
