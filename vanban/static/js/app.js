// Keeps CSRF tokens fresh for htmx and plain forms, and checks file sizes early.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.getElementById("csrf-token");
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    event.detail.headers["X-CSRFToken"] = token;
    if (event.detail.parameters && "csrf_token" in event.detail.parameters) {
      event.detail.parameters["csrf_token"] = token;
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var token = csrfToken();
    form.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
      input.value = token;
    });
    var limit = parseInt(document.body.dataset.maxUpload || "0", 10);
    if (!limit) {
      return;
    }
    var tooBig = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (file) {
        if (file.size > limit) {
          tooBig.push(file.name);
        }
      });
    });
    if (tooBig.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      var message = "Tệp vượt quá dung lượng cho phép (" +
        Math.floor(limit / 1048576) + " MB): " + tooBig.join(", ");
      var box = form.querySelector(".upload-error");
      if (!box) {
        box = document.createElement("p");
        box.className = "error upload-error";
        box.setAttribute("role", "alert");
        form.prepend(box);
      }
      box.textContent = message;
    }
  }, true);
})();
