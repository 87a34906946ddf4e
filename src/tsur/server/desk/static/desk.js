// The desk's few enhancements; every page works without them.
(function () {
  "use strict";
  // a filter's select submits its form when changed
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) {
        select.form.submit();
      }
    });
  });
  // forms that reach the citizen ask first
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
  // a form is sent once: its buttons are disabled while the next page loads
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) {
        return;
      }
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
  // a refused answer: show its form
  var problem = document.querySelector("#actions .alert.error");
  if (problem) {
    problem.scrollIntoView({ block: "center" });
  }
  document.documentElement.setAttribute("data-ready", "yes");
})();
