// Loaded between vendor/requirejs/require.js and vendor/html-manager/embed-amd.js
// on pages that embed Jupyter widgets (see nb_ipywidgets_js in _config.yml).
//
// embed-amd.js defines its modules (@jupyter-widgets/base, controls, output,
// html-manager) by name and finds its bundled icon fonts relative to where
// RequireJS believes those modules live. Map those names to the copy served
// with the book, so the fonts load from this site, including from file://.
(function () {
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var base = script.src.replace(/[^\/]*$/, "") + "vendor/html-manager";
  window.__jupyter_widgets_assets_path__ = base + "/";
  if (window.require && window.require.config) {
    window.require.config({
      paths: {
        "@jupyter-widgets/html-manager/dist": base,
        "@jupyter-widgets": base
      }
    });
  }
})();
