// MathJax 3 for the whole site, loaded before the vendored tex-chtml-full.js.
// Markdown pages (and the API reference) write $...$ / $$...$$, which pymdownx.arithmatex turns
// into <span|div class="arithmatex">\(...\) / \[...\]</span|div>; the notebook pages keep the
// $...$ of their Markdown cells inside .jp-RenderedMarkdown (and LaTeX outputs inside
// .jp-RenderedLatex). Only those elements are typeset, so a "$" anywhere else (code, prose)
// stays a dollar sign.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "none",
  },
  startup: {
    elements: [".arithmatex", ".jp-RenderedMarkdown", ".jp-RenderedLatex"],
  },
};
