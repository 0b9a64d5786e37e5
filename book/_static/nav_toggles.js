// Make every sidebar button of the page work, on a phone and on a desktop.
//
// sphinx-book-theme 1.3.0 puts its own "☰" (.primary-toggle) and "contents"
// (.secondary-toggle) buttons in the article header, while pydata-sphinx-theme
// 0.17.1 puts buttons with the same classes in its site header, which this book
// hides (book/_static/book.css). Both themes attach their click handlers to the
// first match of document.querySelector(".primary-toggle") and
// (".secondary-toggle"): the hidden header buttons. The visible buttons got no
// handler, so on a phone the table of contents could not be opened.
//
// Each later button of a kind passes its click on to the first one, which runs
// the themes' own handlers: on a narrow screen they open the sidebar as a
// dialog; on a wide one sphinx-book-theme shows or hides the left sidebar.
(function () {
  function forwardClicks() {
    ["primary", "secondary"].forEach(function (kind) {
      var buttons = document.querySelectorAll("." + kind + "-toggle");
      var first = buttons[0];
      Array.prototype.slice.call(buttons, 1).forEach(function (button) {
        button.addEventListener("click", function (event) {
          event.preventDefault();
          event.stopImmediatePropagation();
          first.click();
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", forwardClicks);
  } else {
    forwardClicks();
  }
  // Printing: open every collapsed block (derivations in dropdowns) first.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.dropdown, details.sd-dropdown").forEach(function (d) {
      d.setAttribute("open", "");
    });
  });
})();
