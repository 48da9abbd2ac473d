// flexopt workbench: edit, check, change by form, run, read results, compare. Every number shown comes from the
// server, which calls the same functions as the `flexopt` command line. Drafts stay in this tab (sessionStorage).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { path: null, saved: "", cases: [], runId: null, run: null, results: null, checkTimer: null, checkSeq: 0 };
const escapeHtml = (s) => String(s ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const problems = data.problems || [{ message: `the server answered ${response.status}` }];
    const error = new Error(problems.map((p) => p.message + (p.hint ? ` (hint: ${p.hint})` : "")).join("; "));
    error.problems = problems;
    throw error;
  }
  return data;
}

const editor = new ScenarioEditor($("source"), $("highlight"), $("gutter"), (text) => {
  if (state.path) sessionStorage.setItem("draft:" + state.path, text);
  showFileState();
  scheduleCheck();
});

function showFileState() {
  const dirty = editor.value !== state.saved;
  $("file-state").textContent = state.path ? (dirty ? "unsaved changes" : "saved") : "";
}

// ---- opening and saving -------------------------------------------------------------------------------
async function start() {
  const info = await api("/api/state");
  editor.setKeywords(info.keywords);
  const select = $("scenario-select");
  select.innerHTML = info.scenarios.map((s) => `<option value="${escapeHtml(s.path)}">${escapeHtml(s.path)}</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("file") || sessionStorage.getItem("path") || info.opened
    || (info.scenarios[0] && info.scenarios[0].path);
  select.addEventListener("change", () => openScenario(select.value));
  state.runId = sessionStorage.getItem("run");
  if (wanted) await openScenario(wanted);
  else $("check-status").textContent = "No scenario (.flex) in this folder: create one with Save as…";
  if (state.runId) pollRun();
  refreshRunList();
}

// This tab now works on `path`, whose saved text is `saved`.
function adopt(path, saved) {
  state.path = path;
  state.saved = saved;
  sessionStorage.setItem("path", path);
  const select = $("scenario-select");
  if (![...select.options].some((o) => o.value === path)) select.add(new Option(path, path));
  select.value = path;
}

async function openScenario(path) {
  const data = await api("/api/scenario?path=" + encodeURIComponent(path));
  adopt(path, data.text);
  const draft = sessionStorage.getItem("draft:" + path);
  editor.setValue(draft !== null ? draft : data.text);
}

async function save(asNew) {
  let path = state.path;
  if (asNew) {
    path = prompt("Save as (a new .flex file inside the workbench's folder):", path.replace(/\.flex$/, "_variant.flex"));
    if (!path) return;
  }
  try {
    let answer = await api("/api/save", { path, text: editor.value, overwrite: false });
    if (answer.exists) {
      if (!confirm(`${path} exists. Overwrite it?`)) return;
      answer = await api("/api/save", { path, text: editor.value, overwrite: true });
    }
    sessionStorage.removeItem("draft:" + state.path);
    adopt(path, editor.value);
    showFileState();
    $("check-status").textContent = `saved ${path}`;
  } catch (error) {
    alert(error.message);
  }
}

async function newCase() {
  const name = prompt("Name of the new case (letters, digits, _):", "A_variant");
  if (!name) return;
  const base = prompt(`It starts from which case? (${state.cases.map((c) => c.name).join(", ")}; empty: none)`,
    state.cases.length ? state.cases[0].name : "");
  if (base === null) return;
  const title = prompt("Title of the case:", "") || "";
  try {
    const answer = await api("/api/case", { text: editor.value, name, extends: base, title });
    editor.setValue(answer.text);
    $("form-scope").dataset.want = name;
  } catch (error) {
    alert(error.message);
  }
}

// ---- checking ------------------------------------------------------------------------------------------
function scheduleCheck() {
  clearTimeout(state.checkTimer);
  state.checkTimer = setTimeout(check, 250);
}

async function check() {
  const seq = ++state.checkSeq;
  $("check-status").className = "status";
  $("check-status").textContent = "checking…";
  let data;
  try {
    data = await api("/api/check", { path: state.path, text: editor.value });
  } catch (error) {
    data = { ok: false, problems: error.problems || [{ message: error.message }] };
  }
  if (seq !== state.checkSeq) return;  // a newer check is under way
  editor.setProblems(data.problems, state.path);
  const errors = data.problems.filter((p) => p.severity !== "warning");
  const status = $("check-status");
  if (data.ok) {
    status.className = "status good";
    const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    status.textContent = `OK: ${count(data.cases.length, "case")}` + (data.problems.length ? `, ${count(data.problems.length, "warning")}` : "");
    state.cases = data.cases;
    renderRunCases();
  } else {
    status.className = "status bad";
    status.textContent = `${errors.length} problem${errors.length === 1 ? "" : "s"} found`;
  }
  $("problems").innerHTML = data.problems.map((p, i) =>
    `<li class="${p.severity === "warning" ? "warning" : "error"}" data-index="${i}">${escapeHtml(p.text)}</li>`).join("");
  [...$("problems").children].forEach((li) => li.addEventListener("click", () => {
    const p = data.problems[Number(li.dataset.index)];
    if (p.line) editor.goTo(p.line, p.column);
  }));
  $("run-button").disabled = !data.ok;
  if (data.ok || $("tab-form").classList.contains("active")) loadForm();
}

// ---- the form ------------------------------------------------------------------------------------------
async function loadForm() {
  let data;
  try {
    data = await api("/api/form", { path: state.path, text: editor.value });
  } catch (error) {
    $("form-message").className = "status bad";
    $("form-message").textContent = "The form needs a text that parses: " + error.message;
    return;
  }
  $("form-message").textContent = "";
  const scopes = [...new Set(data.fields.map((f) => f.scope))];
  const select = $("form-scope");
  const keep = select.dataset.want || select.value;
  delete select.dataset.want;
  select.innerHTML = scopes.map((s) => `<option value="${escapeHtml(s)}">${s ? "case " + escapeHtml(s) : "top level (every case)"}</option>`).join("");
  if (scopes.includes(keep)) select.value = keep;
  state.fields = data.fields;
  renderForm();
}

function renderForm() {
  const scope = $("form-scope").value;
  const groups = new Map();
  for (const field of state.fields.filter((f) => f.scope === scope)) {
    if (!groups.has(field.group)) groups.set(field.group, []);
    groups.get(field.group).push(field);
  }
  const html = [];
  for (const [group, fields] of groups) {
    html.push(`<div class="group"><h4>${escapeHtml(group)}</h4>`);
    for (const f of fields) {
      const id = "field-" + f.key.replace(/[^A-Za-z0-9]/g, "_");
      const input = f.choices.length
        ? `<select id="${id}" data-key="${escapeHtml(f.key)}">${f.choices.map((c) => `<option${c === f.value ? " selected" : ""}>${escapeHtml(c)}</option>`).join("")}</select>`
        : `<input id="${id}" data-key="${escapeHtml(f.key)}" value="${escapeHtml(f.value)}">`;
      html.push(`<div class="field${f.inherited ? " inherited" : ""}"><label for="${id}">${escapeHtml(f.label)}` +
        `${f.inherited ? " <small>(inherited)</small>" : ""}</label>${input}<span class="unit">${escapeHtml(f.unit)}` +
        ` <a href="#" data-line="${f.line}">line ${f.line}</a></span></div>`);
    }
    html.push("</div>");
  }
  $("form-fields").innerHTML = html.join("") || "<p class=\"muted\">Nothing to change in this scope.</p>";
  $("form-fields").querySelectorAll("[data-key]").forEach((input) => input.addEventListener("change", () => applyField(input)));
  $("form-fields").querySelectorAll("a[data-line]").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    editor.goTo(Number(a.dataset.line), 1);
  }));
}

async function applyField(input) {
  try {
    const answer = await api("/api/form/apply", { path: state.path, text: editor.value, key: input.dataset.key, value: input.value });
    editor.setValue(answer.text);
    $("form-message").className = "status good";
    $("form-message").textContent = "written into the text";
  } catch (error) {
    $("form-message").className = "status bad";
    $("form-message").textContent = error.message;
  }
}

// ---- running -------------------------------------------------------------------------------------------
function renderRunCases() {
  const box = $("run-cases");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const first = box.querySelectorAll("input").length === 0;
  box.innerHTML = "<legend>Cases to run</legend>" + state.cases.map((c, i) =>
    `<label title="${escapeHtml(c.title)}"><input type="checkbox" name="case" value="${escapeHtml(c.name)}"` +
    `${(first ? i === 0 : checked.has(c.name)) ? " checked" : ""}> ${escapeHtml(c.name)}</label>`).join("");
}

async function submitRun() {
  const cases = [...$("run-cases").querySelectorAll("input:checked")].map((i) => i.value);
  if (!cases.length) { $("run-status").textContent = "choose at least one case"; return; }
  try {
    const run = await api("/api/runs", { path: state.path, text: editor.value, cases, figures: $("run-figures").checked });
    state.runId = run.id;
    sessionStorage.setItem("run", run.id);
    showRun(run);
    pollRun();
  } catch (error) {
    $("run-status").className = "status bad";
    $("run-status").textContent = error.message;
  }
}

async function pollRun() {
  if (!state.runId) return;
  let run;
  try {
    run = await api("/api/runs/" + state.runId);
  } catch (error) {  // the server restarted: its runs are gone
    sessionStorage.removeItem("run");
    state.runId = null;
    return;
  }
  showRun(run);
  refreshRunList();
  if (run.state === "queued" || run.state === "running") setTimeout(pollRun, 600);
  else if (run.state === "done" && (!state.results || state.results.runId !== run.id)) loadResults(run);
}

function showRun(run) {
  state.run = run;
  const status = $("run-status");
  status.className = "status" + (run.state === "failed" ? " bad" : run.state === "done" ? " good" : "");
  status.textContent = `run ${run.id}: ${run.state}` + (run.message && run.state !== "running" ? ` — ${run.message}` : "");
  $("cancel-button").disabled = !(run.state === "queued" || run.state === "running");
  $("run-progress").innerHTML = run.cases.map((c) => {
    const feeders = run.feeders[c] || [];
    const done = new Set(run.feeders_done[c] || []);
    const finished = run.cases_done.includes(c);
    const share = finished ? 100 : feeders.length ? (100 * done.size) / feeders.length : 0;
    return `<div class="progress-case" data-case="${escapeHtml(c)}"><strong>case ${escapeHtml(c)}</strong> ` +
      `${finished ? "done" : `${done.size}/${feeders.length} feeders`}<div class="bar"><div style="width:${share}%"></div></div>` +
      `<div class="feeders">${feeders.map((f) => `<span class="feeder-chip${finished || done.has(f) ? " done" : ""}">${escapeHtml(f)}</span>`).join("")}</div></div>`;
  }).join("");
}

async function refreshRunList() {
  const data = await api("/api/runs").catch(() => ({ runs: [] }));
  $("run-list").innerHTML = data.runs.slice().reverse().map((r) =>
    `<li>${escapeHtml(r.id)}: ${escapeHtml(r.cases.join(", "))} — ${escapeHtml(r.state)}` +
    `${r.id === state.runId ? " (this tab)" : ` <a href="#" data-run="${escapeHtml(r.id)}">show</a>`}</li>`).join("");
  $("run-list").querySelectorAll("a[data-run]").forEach((a) => a.addEventListener("click", (e) => {
    e.preventDefault();
    state.runId = a.dataset.run;
    sessionStorage.setItem("run", state.runId);
    state.results = null;
    pollRun();
  }));
}

async function cancelRun() {
  if (state.runId) await api(`/api/runs/${state.runId}/cancel`, {}).catch((e) => alert(e.message));
}

// ---- results -------------------------------------------------------------------------------------------
const number = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

async function loadResults(run) {
  const data = await api(`/api/runs/${run.id}/results`);
  state.results = { runId: run.id, ...data };
  $("results-empty").hidden = true;
  $("results-body").hidden = false;
  $("downloads").innerHTML = "Download: " + data.downloads.map((d) =>
    `<a href="/files/${d.path}" download="${escapeHtml(d.name)}">${escapeHtml(d.name)}</a>`).join("");
  $("table3").innerHTML = table3Html(data.table3);
  $("table4").innerHTML = table4Html(data, false);
  $("figures").innerHTML = data.figures.map((f) =>
    `<figure><img src="/files/${f.path}" alt="${escapeHtml(f.title)}" loading="lazy"><figcaption>${escapeHtml(f.caption)}</figcaption></figure>`).join("");
  $("chart-case").innerHTML = data.cases.map((c) => `<option>${escapeHtml(c)}</option>`).join("");
  renderCompareCases(data.cases);
  await loadChart();
}

function table3Html(rows) {
  const head = "<tr><th class=\"label\">case</th><th class=\"label\">feeder</th><th>points</th><th>green %</th><th>orange %</th><th>red %</th><th>working point violations</th></tr>";
  const body = rows.map((r) => `<tr data-case="${escapeHtml(r.case)}" data-feeder="${escapeHtml(r.feeder)}"><td class="label">${escapeHtml(r.case)}</td>` +
    `<td class="label">${escapeHtml(r.feeder)}</td><td>${number(r.points, 0)}</td><td>${number(r.green_percent, 1)}</td>` +
    `<td>${number(r.orange_percent, 1)}</td><td>${number(r.red_percent, 1)}</td><td>${number(r.working_point_violations, 0)}</td></tr>`).join("");
  return `<table id="table3-table">${head}${body}</table>`;
}

function table4Html(data, highlight) {
  const cases = data.cases;
  const parts = [];
  for (const direction of ["up", "down"]) {
    const rows = data.table4.filter((r) => r.direction === direction);
    const head = `<tr><th class="label">${direction === "up" ? "upward" : "downward"} offers</th><th>unit</th>` +
      cases.map((c) => `<th title="${escapeHtml(data.titles[c] || "")}">${escapeHtml(c)}</th>`).join("") + "</tr>";
    const body = rows.map((r) => {
      const base = r.values[cases[0]];
      const cells = cases.map((c, i) => {
        const v = r.values[c];
        const differs = highlight && i > 0 && r.differs[c];
        const delta = highlight && i > 0 && v !== null && base !== null
          ? `<span class="delta">${v - base >= 0 ? "+" : ""}${number(v - base, 3)}</span>` : "";
        return `<td data-metric="${r.metric}" data-direction="${direction}" data-case="${escapeHtml(c)}"` +
          ` data-value="${v === null ? "" : v}" class="${differs ? "differs" : ""}">${number(v, 3)}${delta}</td>`;
      }).join("");
      return `<tr><td class="label">${escapeHtml(r.label)}</td><td>${escapeHtml(r.unit)}</td>${cells}</tr>`;
    }).join("");
    parts.push(`<table class="table4">${head}${body}</table>`);
  }
  return parts.join("");
}

async function loadChart() {
  const run = state.results;
  if (!run) return;
  const caseName = $("chart-case").value || run.cases[0];
  const feeder = $("chart-feeder").value && $("chart-feeder").dataset.case === caseName ? $("chart-feeder").value : "";
  const data = await api(`/api/runs/${run.runId}/chart?case=${encodeURIComponent(caseName)}&feeder=${encodeURIComponent(feeder)}`);
  const select = $("chart-feeder");
  select.innerHTML = data.feeders.map((f) => `<option${f === data.feeder ? " selected" : ""}>${escapeHtml(f)}</option>`).join("");
  select.dataset.case = caseName;
  state.chart = data;
  drawChart();
}

function drawChart() {
  const d = state.chart;
  const onlyBad = $("chart-filter").value === "orange";
  const index = d.p_mw.map((_, i) => i).filter((i) => d.p_mw[i] !== null && d.q_mvar[i] !== null && (!onlyBad || d.status[i] !== "green"));
  const width = 720, height = 460, left = 64, right = 16, top = 16, bottom = 48;
  const ps = index.map((i) => d.p_mw[i]), qs = index.map((i) => d.q_mvar[i]);
  const span = (values) => {
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!isFinite(lo)) { lo = -1; hi = 1; }
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    const pad = 0.05 * (hi - lo);
    return [lo - pad, hi + pad];
  };
  const [p0, p1] = span(ps), [q0, q1] = span(qs);
  const x = (p) => left + ((p - p0) / (p1 - p0)) * (width - left - right);
  const y = (q) => height - bottom - ((q - q0) / (q1 - q0)) * (height - top - bottom);
  const ticks = (lo, hi) => { const step = niceStep((hi - lo) / 6); const out = []; for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(+t.toFixed(6)); return out; };
  const colours = { green: "#1b9e4b", orange: "#e08a00", red: "#c62828" };
  const order = ["green", "orange", "red"];
  const sorted = index.slice().sort((a, b) => order.indexOf(d.status[a]) - order.indexOf(d.status[b]));
  const counts = { green: 0, orange: 0, red: 0 };
  index.forEach((i) => counts[d.status[i]]++);
  let svg = `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="bid points of feeder ${escapeHtml(d.feeder)} in the P-Q plane">`;
  for (const t of ticks(p0, p1)) svg += `<line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${height - bottom}" stroke="#eef0f4"/><text x="${x(t)}" y="${height - bottom + 16}" font-size="11" text-anchor="middle">${t}</text>`;
  for (const t of ticks(q0, q1)) svg += `<line x1="${left}" x2="${width - right}" y1="${y(t)}" y2="${y(t)}" stroke="#eef0f4"/><text x="${left - 6}" y="${y(t) + 4}" font-size="11" text-anchor="end">${t}</text>`;
  svg += `<text x="${(left + width - right) / 2}" y="${height - 10}" font-size="12" text-anchor="middle">P at the PCC (MW, positive: imported from the TSO)</text>`;
  svg += `<text transform="translate(16 ${(top + height - bottom) / 2}) rotate(-90)" font-size="12" text-anchor="middle">Q at the PCC (Mvar)</text>`;
  for (const i of sorted) svg += `<circle cx="${x(d.p_mw[i]).toFixed(1)}" cy="${y(d.q_mvar[i]).toFixed(1)}" r="${d.status[i] === "green" ? 2.2 : 3.4}" fill="${colours[d.status[i]]}" fill-opacity="${d.status[i] === "green" ? 0.45 : 0.9}" data-i="${i}"/>`;
  svg += `<g font-size="12">${order.map((s, k) => `<circle cx="${left + 14 + k * 110}" cy="${top + 8}" r="5" fill="${colours[s]}"/><text x="${left + 24 + k * 110}" y="${top + 12}">${s} ${counts[s]}</text>`).join("")}</g>`;
  svg += "</svg>";
  $("chart").innerHTML = svg;
  const tip = $("tooltip");
  $("chart").querySelectorAll("circle[data-i]").forEach((c) => {
    c.addEventListener("mouseenter", (event) => {
      const i = Number(c.dataset.i);
      tip.textContent = `interval ${d.interval[i]}: ${d.season[i]}, ${d.day_type[i]}, hour ${d.hour[i]}\n` +
        `bid point ${d.bid_point[i]}  (offer ${number(d.quantity_mw[i], 3)} MW)\nP ${number(d.p_mw[i], 3)} MW   Q ${number(d.q_mvar[i], 3)} Mvar\n` +
        `${d.status[i]}${d.status[i] === "red" ? ": " + d.red_reason[i].replace(/_/g, " ") : ""}`;
      tip.hidden = false;
      tip.style.left = event.clientX + 14 + "px";
      tip.style.top = event.clientY + 10 + "px";
    });
    c.addEventListener("mouseleave", () => { tip.hidden = true; });
  });
}

function niceStep(raw) {
  const power = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const fraction = raw / power;
  return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
}

// ---- compare -------------------------------------------------------------------------------------------
function renderCompareCases(cases) {
  $("compare-cases").innerHTML = "<legend>Cases</legend>" + cases.map((c) =>
    `<label><input type="checkbox" value="${escapeHtml(c)}" checked> ${escapeHtml(c)}</label>`).join("");
  $("compare-cases").querySelectorAll("input").forEach((i) => i.addEventListener("change", loadCompare));
  loadCompare();
}

async function loadCompare() {
  const run = state.results;
  const cases = [...$("compare-cases").querySelectorAll("input:checked")].map((i) => i.value);
  if (!run || cases.length < 2) {
    $("compare-table").innerHTML = "<p class=\"muted\">Choose two or more cases of a run (run them together in the Run tab).</p>";
    return;
  }
  const data = await api(`/api/runs/${run.runId}/results?cases=${encodeURIComponent(cases.join(","))}`);
  $("compare-table").innerHTML = table4Html(data, true);
}

// ---- wiring --------------------------------------------------------------------------------------------
function showTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === "tab-" + name));
  sessionStorage.setItem("tab", name);
  if (name === "form" && state.path) loadForm();
}
document.querySelectorAll("#tabs button").forEach((button) => button.addEventListener("click", () => showTab(button.dataset.tab)));
showTab(sessionStorage.getItem("tab") || "form");
$("form-scope").addEventListener("change", renderForm);
$("save-button").addEventListener("click", () => save(false));
$("save-as-button").addEventListener("click", () => save(true));
$("new-case-button").addEventListener("click", newCase);
$("run-button").addEventListener("click", submitRun);
$("cancel-button").addEventListener("click", cancelRun);
$("chart-case").addEventListener("change", loadChart);
$("chart-feeder").addEventListener("change", loadChart);
$("chart-filter").addEventListener("change", drawChart);
window.addEventListener("beforeunload", (event) => {
  if (state.path && editor.value !== state.saved && !sessionStorage.getItem("draft:" + state.path)) event.preventDefault();
});
start().catch((error) => { $("check-status").className = "status bad"; $("check-status").textContent = error.message; });
