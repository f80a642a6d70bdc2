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

  // Typed text of an htmx form survives a login in between: it is kept in
  // sessionStorage until the server accepts the form, then put back into the
  // same form when the page is shown again.
  var SAVED_PREFIX = "vanban:form:";
  var SKIPPED_FIELDS = ["csrf_token", "password", "token"];

  function savedKey(form) {
    return SAVED_PREFIX + (form.getAttribute("hx-post") || form.getAttribute("action"));
  }

  function saveForm(form) {
    var values = [];
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || SKIPPED_FIELDS.indexOf(input.name) !== -1 ||
          input.type === "file" || input.type === "submit") {
        return;
      }
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) {
        return;
      }
      values.push([input.name, input.value]);
    });
    try {
      sessionStorage.setItem(savedKey(form), JSON.stringify(values));
    } catch (error) {
      // Storage may be full or disabled; the form still submits.
    }
  }

  function restoreForms() {
    document.querySelectorAll("form[hx-post]").forEach(function (form) {
      var raw = sessionStorage.getItem(savedKey(form));
      if (!raw) {
        return;
      }
      sessionStorage.removeItem(savedKey(form));
      var values = JSON.parse(raw);
      Array.prototype.forEach.call(form.elements, function (input) {
        if (!input.name || SKIPPED_FIELDS.indexOf(input.name) !== -1 ||
            input.type === "file") {
          return;
        }
        var mine = values.filter(function (pair) { return pair[0] === input.name; });
        if (input.type === "checkbox" || input.type === "radio") {
          input.checked = mine.some(function (pair) { return pair[1] === input.value; });
        } else if (mine.length) {
          input.value = mine[0][1];
        }
      });
      var details = form.closest("details");
      if (details) {
        details.open = true;
      }
      var note = document.createElement("p");
      note.className = "restored";
      note.setAttribute("role", "status");
      note.textContent = "Đã khôi phục nội dung bạn nhập trước khi đăng nhập lại. " +
        "Hãy kiểm tra rồi bấm gửi.";
      form.prepend(note);
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && form.hasAttribute("hx-post")) {
      saveForm(form);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && event.detail.xhr &&
        event.detail.xhr.status !== 401) {
      sessionStorage.removeItem(savedKey(form));
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", restoreForms);
  } else {
    restoreForms();
  }

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
