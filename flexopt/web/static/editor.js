// The scenario editor: a plain textarea over a highlighted copy of its text, with line numbers and the
// problems of `flexopt check` marked at their lines. No library: the page must work offline.
"use strict";

class ScenarioEditor {
  constructor(textarea, highlight, gutter, onInput) {
    this.textarea = textarea;
    this.highlight = highlight;
    this.gutter = gutter;
    this.onInput = onInput;
    this.keywords = new Set();
    this.problems = [];
    this.file = "";
    textarea.addEventListener("input", () => { this.render(); this.onInput(this.value); });
    textarea.addEventListener("scroll", () => this.syncScroll());
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !event.shiftKey) {
        event.preventDefault();
        document.execCommand("insertText", false, "  ");
      }
    });
  }

  get value() { return this.textarea.value; }

  setValue(text, notify = true) {
    const top = this.textarea.scrollTop;
    this.textarea.value = text;
    this.textarea.scrollTop = top;
    this.render();
    if (notify) this.onInput(text);
  }

  setKeywords(words) { this.keywords = new Set(words); this.render(); }

  setProblems(problems, file) {
    this.file = file;
    this.problems = problems.filter((p) => p.line && (!p.file || p.file === file));
    this.render();
  }

  syncScroll() {
    this.highlight.scrollTop = this.textarea.scrollTop;
    this.highlight.scrollLeft = this.textarea.scrollLeft;
    this.gutter.scrollTop = this.textarea.scrollTop;
  }

  goTo(line, column) {
    const lines = this.value.split(/\r\n|\r|\n/);
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    offset += Math.max(0, (column || 1) - 1);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
    const lineHeight = 20;
    this.textarea.scrollTop = Math.max(0, (line - 5) * lineHeight);
    this.syncScroll();
  }

  // Token classes per character of one line: comments, strings, numbers, keywords, units.
  classesOf(line) {
    const classes = new Array(line.length).fill("");
    const mark = (from, to, cls) => { for (let i = from; i < to; i++) classes[i] = cls; };
    const pattern = /#.*$|"(?:[^"\\]|\\.)*"?|[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z]+)?|%/g;
    let match;
    let previousNumber = false;
    while ((match = pattern.exec(line)) !== null) {
      const text = match[0];
      const end = match.index + text.length;
      if (text.startsWith("#")) { mark(match.index, end, "tok-comment"); break; }
      if (text.startsWith("\"")) { mark(match.index, end, "tok-string"); previousNumber = false; continue; }
      if (/^[+-]?\d/.test(text)) { mark(match.index, end, "tok-number"); previousNumber = true; continue; }
      if (this.keywords.has(text)) mark(match.index, end, "tok-keyword");
      else if (previousNumber) mark(match.index, end, "tok-unit");
      previousNumber = false;
    }
    return classes;
  }

  render() {
    const lines = this.value.split(/\r\n|\r|\n/);
    const byLine = new Map();
    for (const problem of this.problems) {
      const list = byLine.get(problem.line) || [];
      list.push(problem);
      byLine.set(problem.line, list);
    }
    const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const html = [];
    const gutter = [];
    lines.forEach((line, index) => {
      const number = index + 1;
      const classes = this.classesOf(line);
      const marked = new Array(line.length).fill(false);
      const problems = byLine.get(number) || [];
      for (const p of problems) {
        const from = Math.max(0, (p.column || 1) - 1);
        let to = p.end_line === number && p.end_column ? p.end_column - 1 : line.length;
        if (to <= from) to = Math.min(line.length, from + 1);
        for (let i = from; i < to; i++) marked[i] = true;
      }
      let out = "";
      let i = 0;
      while (i < line.length) {
        let j = i;
        while (j < line.length && classes[j] === classes[i] && marked[j] === marked[i]) j++;
        const cls = [classes[i], marked[i] ? "squiggle" : ""].filter(Boolean).join(" ");
        const chunk = escape(line.slice(i, j));
        out += cls ? `<span class="${cls}">${chunk}</span>` : chunk;
        i = j;
      }
      if (problems.length && !line.length) out = "<span class=\"squiggle\"> </span>";
      const severity = problems.some((p) => p.severity === "error") ? "error" : problems.length ? "warning" : "";
      html.push(severity === "error" ? `<span class="line-error">${out}</span>` : out);
      const title = problems.map((p) => p.message + (p.hint ? ` (${p.hint})` : "")).join("\n");
      gutter.push(`<div class="${severity}" data-line="${number}" title="${escape(title).replace(/"/g, "&quot;")}">${number}</div>`);
    });
    this.highlight.innerHTML = html.join("\n") + "\n";
    this.gutter.innerHTML = gutter.join("") + "<div>&nbsp;</div>";
    this.syncScroll();
  }
}

window.ScenarioEditor = ScenarioEditor;
