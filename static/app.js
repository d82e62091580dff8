// reagent web interface: small progressive enhancements. Every page works without it.
(function () {
  "use strict";
  var csrf = document.body ? document.body.dataset.csrf : "";

  // htmx requests carry the session's CSRF token as a header too.
  document.addEventListener("htmx:configRequest", function (e) {
    if (csrf) { e.detail.headers["X-CSRF-Token"] = csrf; }
  });

  // After htmx loads evidence, move focus there so keyboard users land on it.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.target && e.target.id === "evidence") {
      var h = e.target.querySelector("h3");
      if (h) { h.setAttribute("tabindex", "-1"); h.focus(); }
    }
  });

  // Upload with a progress bar; without script the form posts normally.
  var form = document.getElementById("upload-form");
  if (form && window.XMLHttpRequest && window.FormData) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var bar = document.getElementById("upload-progress");
      var status = document.getElementById("upload-status");
      var button = form.querySelector("button[type=submit]");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.addEventListener("progress", function (p) {
        if (p.lengthComputable) {
          bar.hidden = false;
          bar.value = Math.round((100 * p.loaded) / p.total);
          status.textContent = "Uploading… " + bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL && xhr.responseURL.indexOf("/documents/upload") === -1) {
          status.textContent = "Uploaded. Ingesting…";
          window.location.assign(xhr.responseURL);
          return;
        }
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var main = doc.getElementById("main");
        if (main) { document.getElementById("main").replaceWith(main); }
        else { status.textContent = "Upload failed (" + xhr.status + ")."; }
        if (button) { button.disabled = false; }
      });
      xhr.addEventListener("error", function () {
        status.textContent = "Upload failed: the connection was lost.";
        if (button) { button.disabled = false; }
      });
      if (button) { button.disabled = true; }
      bar.hidden = false;
      bar.value = 0;
      status.textContent = "Uploading…";
      xhr.send(new FormData(form));
    });
  }
})();
