// RASP playground: the page's whole behaviour, plain ES2020, no dependencies.
//
// The server (rasp_toolkit/playground/app.py) authenticates by an HttpOnly cookie set when the
// page was opened with ?token=..., so every call here is a plain same-origin fetch.
// Sections: helpers · API · editor · program view · compile view · turing view · share · start.

"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
// How long the page waits after the last keystroke before it evaluates: an evaluation takes
// tens of milliseconds, and a newer one cancels the one in flight, so a short pause suffices.
const EVALUATE_DELAY_MS = 80;

// Timings the benchmark and the tests read (performance.now() counts from navigation start).
const timings = {
  firstValuesAt: null, // when the first values table was shown
  evalCount: 0,        // evaluations rendered so far
  pendingSince: null,  // the first edit of the burst not yet evaluated
  lastRequestedAt: null, lastSentAt: null, lastFetchMs: null, lastRenderedAt: null, lastServerMs: null,
};
window.__playground = timings;

// ------------------------------------------------------------------ helpers

/** Create an element with attributes/properties and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A value in one table cell: compact numbers, T/F for bools, JSON for anything structured. */
function formatValue(value) {
  if (value === null || value === undefined) return { text: "–", cls: "none" };
  if (typeof value === "boolean") return { text: value ? "T" : "F", cls: value ? "b-true" : "b-false" };
  if (typeof value === "number") {
    if (Number.isInteger(value)) return { text: String(value), cls: "num" };
    const rounded = Number(value.toPrecision(3));
    return { text: String(rounded), cls: "num" };
  }
  if (typeof value === "string") return { text: value === "" ? "\u00a0" : value, cls: "str" };
  return { text: JSON.stringify(value), cls: "obj" };
}

function tokenLabel(token) {
  if (typeof token === "string") return token;
  return JSON.stringify(token);
}

/** The visible status line (an aria-live region): kind is "", "error", "stopped" or "ok". */
function setStatus(message, kind = "") {
  const status = $("status");
  status.className = "status" + (kind ? " " + kind : "");
  status.textContent = message;
}

/** An API failure's message for the status line; runaway jobs get a prominent "Stopped:". */
function showApiError(error, what) {
  const info = error.info || { message: String(error.message || error) };
  if (info.stopped) {
    // The server's message may already start with "stopped:"; say it once, capitalised.
    const reason = String(info.message).replace(/^stopped:?\s*/i, "");
    setStatus(`Stopped: ${reason}${info.hint ? ` (${info.hint})` : ""}. The page still works: edit and try again.`, "stopped");
  } else {
    setStatus(`${what} failed: ${info.message}${info.hint ? ` (${info.hint})` : ""}`, "error");
  }
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, info) {
    super(info && info.message ? info.message : `HTTP ${status}`);
    this.status = status;
    this.info = info || { message: `HTTP ${status}` };
  }
}

async function readError(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON: fall through */ }
  return { message: `HTTP ${response.status} ${response.statusText}`.trim() };
}

async function api(path, body = undefined, signal = undefined) {
  const options = { signal };
  if (body !== undefined) {
    options.method = "POST";
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: "the server cannot be reached (is `rasp serve` still running?)" });
  }
  if (!response.ok) throw new ApiError(response.status, await readError(response));
  return response.json();
}

// ------------------------------------------------------------------ editor

const KEYWORDS = new Set(["def", "return", "if", "else", "for", "in", "and", "or", "not", "load", "draw",
  "True", "False", "set", "show", "example", "examples", "on", "off"]);
const BUILTINS = new Set(["select", "aggregate", "selector_width", "tokens", "indices", "length", "zipmap",
  "numerical", "categorical", "round", "indicator", "range", "zip", "len", "tokens_str", "tokens_int",
  "tokens_float", "tokens_bool", "tokens_asis", "full_s", "has_focus", "count", "contains", "max", "min",
  "average", "load_from_location", "shift", "mark_last_instance", "mark_first_instance",
  "select_from_last", "select_from_first", "sort", "select_next_identical"]);
// One alternation, tried left to right at each position: comment, string, number, word, operator.
const TOKEN_RE = /(#[^\n]*)|("[^"\n]*"?)|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z_0-9]*)|(==|!=|<=|>=|<|>|[-+*/%=])/g;

const editor = {
  errors: [], // [{line, column, message, hint}] of the last evaluation, 1-based line and column
  lastSource: null,
};

function escapeHtml(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

/** One line of source as highlighted HTML; `errorColumn` (1-based) marks the character there. */
function highlightLine(line, errorColumn) {
  let html = "";
  let last = 0;
  const pieces = []; // [start, end, class]
  TOKEN_RE.lastIndex = 0;
  let match;
  let previousWord = null;
  while ((match = TOKEN_RE.exec(line)) !== null) {
    let cls = null;
    if (match[1] !== undefined) cls = "tok-com";
    else if (match[2] !== undefined) cls = "tok-str";
    else if (match[3] !== undefined) cls = "tok-num";
    else if (match[4] !== undefined) {
      const word = match[4];
      if (previousWord === "def") cls = "tok-def";
      else if (KEYWORDS.has(word)) cls = "tok-kw";
      else if (BUILTINS.has(word)) cls = "tok-builtin";
      previousWord = word;
    } else if (match[5] !== undefined) cls = "tok-op";
    if (match[4] === undefined) previousWord = null;
    if (cls) pieces.push([match.index, match.index + match[0].length, cls]);
  }
  // Split the pieces around the error column so the marked character gets its own span.
  const col = errorColumn ? Math.min(Math.max(errorColumn - 1, 0), line.length) : -1;
  const emit = (start, end, cls) => {
    if (start >= end) return;
    const text = line.slice(start, end);
    if (col >= start && col < end) {
      emit(start, col, cls);
      html += `<span class="col-err">${wrap(line.slice(col, col + 1), cls)}</span>`;
      emit(col + 1, end, cls);
      return;
    }
    html += wrap(text, cls);
  };
  const wrap = (text, cls) => (cls ? `<span class="${cls}">${escapeHtml(text)}</span>` : escapeHtml(text));
  for (const [start, end, cls] of pieces) {
    emit(last, start, null);
    emit(start, end, cls);
    last = end;
  }
  emit(last, line.length, null);
  // An error at the end of the line (e.g. a missing ";") marks an extra space there.
  if (col >= 0 && col >= line.length) html += '<span class="col-err"> </span>';
  return html;
}

/** Repaint the highlighted copy and the gutter from the textarea and the current errors. */
function renderEditor() {
  const source = $("source").value;
  const lines = source.split("\n");
  const errorColumns = new Map(); // line -> first error's column (or 0 for "whole line")
  for (const error of editor.errors) {
    if (error.line && !errorColumns.has(error.line)) errorColumns.set(error.line, error.column || 0);
  }
  const html = lines.map((line, index) => {
    const number = index + 1;
    if (!errorColumns.has(number)) return highlightLine(line, 0);
    return `<span class="line-err">${highlightLine(line, errorColumns.get(number))}</span>`;
  });
  // A trailing newline needs a line of its own in the <pre>, as the textarea shows one.
  $("highlight").innerHTML = html.join("\n") + "\n";
  const gutter = $("gutter");
  const rows = [];
  for (let number = 1; number <= lines.length; number++) {
    const cls = errorColumns.has(number) ? ' class="err"' : "";
    rows.push(`<div data-line="${number}"${cls}>${number}</div>`);
  }
  gutter.innerHTML = rows.join("");
  syncScroll();
}

function syncScroll() {
  const area = $("source");
  const pre = $("highlight");
  pre.scrollTop = area.scrollTop;
  pre.scrollLeft = area.scrollLeft;
  $("gutter").scrollTop = area.scrollTop;
}

/** Move the caret to a line and column (1-based) and focus the editor. */
function goToLine(line, column) {
  const area = $("source");
  const lines = area.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max((column || 1) - 1, 0);
  area.focus();
  area.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
  area.scrollTop = Math.max(0, (line - 3) * lineHeight);
  syncScroll();
}

function renderErrors(errors) {
  const list = $("errors");
  list.replaceChildren();
  for (const error of errors) {
    const where = error.line ? `line ${error.line}${error.column ? `, column ${error.column}` : ""}` : null;
    const item = el("li", { "data-line": error.line || "" });
    if (where) {
      item.append(el("button", { type: "button", onclick: () => goToLine(error.line, error.column) }, where), ": ");
    }
    // an error inside a loaded file: the server names that file's place, not a line of ours
    if (error.where) item.append(`${error.where}: `);
    item.append(error.message);
    if (error.hint) item.append(el("span", { class: "hint-text" }, error.hint));
    list.append(item);
  }
}

/** Keep the tab key inside the editor as indentation (Escape then Tab leaves it, for keyboard users). */
let escapePressed = false;
function onEditorKey(event) {
  if (event.key === "Escape") { escapePressed = true; return; }
  if (event.key === "Tab" && !event.shiftKey && !escapePressed && !event.ctrlKey && !event.altKey) {
    event.preventDefault();
    const area = event.target;
    const { selectionStart: start, selectionEnd: end } = area;
    area.setRangeText("    ", start, end, "end");
    area.dispatchEvent(new Event("input"));
  }
  escapePressed = false;
}

// ------------------------------------------------------------------ program view

const program = {
  controller: null, // AbortController of the evaluation in flight
  sequence: 0,      // responses older than the latest request are dropped
  result: null,     // the last successful /api/evaluate answer
  drawSequence: 0,
};

function programRequest() {
  return { source: $("source").value, input: $("input").value, causal: $("causal").checked };
}

async function evaluate() {
  const request = programRequest();
  const sequence = ++program.sequence;
  if (program.controller) program.controller.abort();
  program.controller = new AbortController();
  const requestedAt = performance.now();
  timings.lastRequestedAt = timings.pendingSince ?? requestedAt;
  timings.lastSentAt = requestedAt;
  timings.pendingSince = null;
  let result;
  try {
    result = await api("/api/evaluate", request, program.controller.signal);
  } catch (error) {
    if (error.name === "AbortError" || sequence !== program.sequence) return;
    $("values-table").classList.add("stale"); // the values shown are the last good program's
    showApiError(error, "Evaluation");
    if (error.info && error.info.line) {
      editor.errors = [error.info];
      renderErrors(editor.errors);
      renderEditor();
    }
    return;
  }
  if (sequence !== program.sequence) return;
  timings.lastFetchMs = performance.now() - requestedAt;
  showEvaluation(result);
}

/** Show an evaluation's values, selectors and errors (from /api/evaluate, or with /api/initial). */
function showEvaluation(result) {
  program.result = result;
  $("values-table").classList.remove("stale");
  editor.errors = result.errors || [];
  renderErrors(editor.errors);
  renderEditor();
  renderValues(result);
  updateSopPickers(result);
  const count = editor.errors.length;
  setStatus(count ? `${count} error${count > 1 ? "s" : ""}; the other statements were evaluated.` : "", count ? "error" : "");
  $("eval-ms").textContent = typeof result.ms === "number" ? `(${result.ms.toFixed(1)} ms on the server)` : "";
  timings.evalCount += 1;
  timings.lastRenderedAt = performance.now();
  timings.lastServerMs = result.ms;
  if (timings.firstValuesAt === null) timings.firstValuesAt = timings.lastRenderedAt;
  document.body.dataset.evalCount = String(timings.evalCount);
  if ($("layers-panel").open) drawLayersSoon();
}

const evaluateSoon = debounce(evaluate, EVALUATE_DELAY_MS);

/** Note the time of the first edit of a burst, so the measured delay includes the debounce. */
function scheduleEvaluate() {
  if (timings.pendingSince === null || timings.pendingSince === undefined) timings.pendingSince = performance.now();
  evaluateSoon();
}

function renderValues(result) {
  const table = $("values-table");
  const tokens = result.input || [];
  const head = el("tr", {}, el("th", { scope: "col" }, "s-op"));
  tokens.forEach((token) => head.append(el("th", { scope: "col" }, tokenLabel(token))));
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  body.replaceChildren();
  const selectors = [];
  for (const value of result.values || []) {
    if (value.kind === "selector") { selectors.push(value); continue; }
    const row = el("tr", { "data-name": value.name }, el("th", { scope: "row" }, value.name));
    for (const item of value.values || []) {
      const { text, cls } = formatValue(item);
      row.append(el("td", { class: cls }, text));
    }
    body.append(row);
  }
  if (!body.rows.length) body.append(el("tr", {}, el("td", { class: "empty", colSpan: tokens.length + 1 }, "No s-ops yet.")));
  const box = $("selectors");
  box.replaceChildren(...selectors.map((value) => selectorFigure(value.name, value.matrix, tokens, tokens)));
  if (!selectors.length) box.append(el("p", { class: "empty" }, "No selectors."));
}

/**
 * A selector as the RASP paper draws it: queries as rows, keys as columns, a filled cell where
 * the query selects the key; the tokens label both sides.
 */
function selectorFigure(name, matrix, queryTokens, keyTokens) {
  const figure = el("figure", { class: "matrix", "data-name": name });
  figure.append(el("figcaption", {}, name));
  figure.append(matrixSvg(matrix, queryTokens, keyTokens, (v) => (v ? "#1f2933" : "#ffffff"), name));
  return figure;
}

/** A grid picture of `matrix` (rows × columns); `colour(value)` fills each cell. */
function matrixSvg(matrix, rowLabels, columnLabels, colour, title, cellSize = null) {
  const rows = matrix.length;
  const columns = rows ? matrix[0].length : 0;
  const size = cellSize || Math.max(8, Math.min(22, Math.floor(260 / Math.max(rows, columns, 1))));
  const showLabels = size >= 12;
  const labelWidth = showLabels ? Math.min(60, 8 + 7 * Math.max(1, ...rowLabels.map((t) => tokenLabel(t).length))) : 0;
  const labelHeight = showLabels ? 16 : 0;
  const width = labelWidth + columns * size + 1;
  const height = labelHeight + rows * size + 1;
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  picture.append(svg("title", {}, title));
  const font = Math.max(9, Math.min(12, size - 6));
  if (showLabels) {
    columnLabels.slice(0, columns).forEach((token, j) => {
      picture.append(svg("text", { x: labelWidth + j * size + size / 2, y: 12, "text-anchor": "middle",
        "font-size": font, "font-family": "monospace", fill: "#5c6166" }, shorten(tokenLabel(token), 3)));
    });
    rowLabels.slice(0, rows).forEach((token, i) => {
      picture.append(svg("text", { x: labelWidth - 4, y: labelHeight + i * size + size / 2 + font / 3, "text-anchor": "end",
        "font-size": font, "font-family": "monospace", fill: "#5c6166" }, shorten(tokenLabel(token), 6)));
    });
  }
  matrix.forEach((row, i) => row.forEach((value, j) => {
    picture.append(svg("rect", { x: labelWidth + j * size + 0.5, y: labelHeight + i * size + 0.5, width: size, height: size,
      fill: colour(value), stroke: "#c4c8cc", "stroke-width": 1 }));
  }));
  return picture;
}

function shorten(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** A white-to-blue fill for attention weights in [0, 1]. */
function heat(weight) {
  const w = Math.max(0, Math.min(1, Number(weight) || 0));
  const r = Math.round(255 - w * (255 - 18));
  const g = Math.round(255 - w * (255 - 62));
  const b = Math.round(255 - w * (255 - 138));
  return `rgb(${r},${g},${b})`;
}

function updateSopPickers(result) {
  const names = result.sops || [];
  for (const id of ["draw-name", "compile-name"]) {
    const picker = $(id);
    const previous = picker.value;
    const same = picker.options.length === names.length && names.every((n, i) => picker.options[i].value === n);
    if (!same) picker.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
    // Keep the user's choice while it still exists; otherwise follow the program's default.
    if (previous && names.includes(previous) && picker.dataset.userChosen === "1") picker.value = previous;
    else if (result.default && names.includes(result.default)) picker.value = result.default;
  }
}

async function drawLayers() {
  const name = $("draw-name").value;
  const box = $("layers");
  if (!name) { box.replaceChildren(el("p", { class: "empty" }, "No s-op to draw.")); return; }
  const sequence = ++program.drawSequence;
  box.setAttribute("aria-busy", "true");
  try {
    const result = await api("/api/draw", { ...programRequest(), name });
    if (sequence !== program.drawSequence) return;
    // Our own server's SVG, shown as an image so no script or style in it reaches the page.
    const url = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(result.svg);
    box.replaceChildren(el("img", { src: url, alt: `Layer drawing of ${name}`, id: "layers-img" }));
  } catch (error) {
    if (sequence !== program.drawSequence) return;
    box.replaceChildren(el("p", { class: "empty" }, `No drawing: ${error.info ? error.info.message : error}`));
  } finally {
    box.removeAttribute("aria-busy");
  }
}

// The drawing is slow (matplotlib on the server): redraw only once typing has paused.
const drawLayersSoon = debounce(() => drawLayers(), 600);

async function loadLibrary() {
  let result;
  try {
    result = await api("/api/library");
  } catch (error) {
    showApiError(error, "Loading the library list");
    return;
  }
  const picker = $("library");
  const groups = new Map();
  for (const item of result.programs || []) {
    if (!groups.has(item.group)) groups.set(item.group, el("optgroup", { label: item.group }));
    groups.get(item.group).append(el("option", { value: item.name }, item.name));
  }
  picker.append(...groups.values());
}

async function openProgram(name) {
  if (!name) return;
  try {
    const result = await api(`/api/program?name=${encodeURIComponent(name)}`);
    setProgram(result);
    evaluate();
  } catch (error) {
    showApiError(error, `Opening ${name}`);
  }
}

function setProgram({ name, source, input }) {
  $("source").value = source || "";
  $("input").value = input || "";
  $("program-name").textContent = name || "";
  $("source").scrollTop = 0;
  editor.errors = [];
  renderEditor();
}

// ------------------------------------------------------------------ compile view

async function compileProgram(event) {
  event.preventDefault();
  const button = $("compile-btn");
  const request = {
    source: $("source").value,
    name: $("compile-name").value,
    vocab: $("vocab").value,
    max_len: Number($("max-len").value),
    causal: $("compile-causal").checked,
    attention: $("attention").value,
    input: $("compile-input").value || $("input").value,
    check: Number($("check-count").value),
  };
  button.disabled = true;
  $("compile-busy").hidden = false;
  $("compile-out").setAttribute("aria-busy", "true");
  setStatus(`Compiling ${request.name || "the program"}…`);
  try {
    const result = await api("/api/compile", request);
    renderCompile(result);
    const skipped = result.program_errors
      ? ` The program has ${result.program_errors} error${result.program_errors > 1 ? "s" : ""} elsewhere: ` +
        `${request.name} was compiled as the Program view shows it, those statements skipped.`
      : "";
    setStatus(`Compiled in ${Number(result.seconds || 0).toFixed(1)} s.${skipped}`, result.check && result.check.passed === false ? "error" : "ok");
  } catch (error) {
    showApiError(error, "Compiling");
  } finally {
    button.disabled = false;
    $("compile-busy").hidden = true;
    $("compile-out").removeAttribute("aria-busy");
  }
}

function renderCompile(result) {
  $("compile-out").hidden = false;
  const check = result.check || {};
  const badge = $("compile-check");
  if (check.passed === true) {
    badge.className = "badge pass";
    badge.textContent = `✓ model = interpreter on ${check.inputs} inputs`;
  } else if (check.passed === false) {
    badge.className = "badge fail";
    badge.textContent = "✗ the model differs from the interpreter: a compiler bug, please report it";
  } else {
    badge.className = "badge info";
    badge.textContent = "Not checked.";
  }
  if (check.report && check.passed === false) badge.after(el("pre", { class: "report" }, check.report));

  const summary = $("compile-summary");
  summary.replaceChildren();
  for (const [key, value] of Object.entries(result.summary || {})) {
    const shown = typeof value === "number" ? value.toLocaleString("en") : typeof value === "object" ? JSON.stringify(value) : String(value);
    summary.append(el("dt", {}, key.replace(/_/g, " ")), el("dd", { "data-key": key }, shown));
  }

  const downloads = $("compile-downloads");
  downloads.replaceChildren();
  for (const [kind, url] of Object.entries(result.downloads || {})) {
    downloads.append(el("a", { href: url, download: "", "data-kind": kind }, `model.${kind}`));
  }

  const outputs = result.outputs || {};
  const tokens = result.input || [];
  const outTable = el("table", { class: "values" });
  outTable.append(el("thead", {}, el("tr", {}, el("th", { scope: "col" }, ""), tokens.map((t) => el("th", { scope: "col" }, tokenLabel(t))))));
  const outBody = el("tbody");
  for (const who of ["model", "interpreter"]) {
    if (!outputs[who]) continue;
    outBody.append(el("tr", {}, el("th", { scope: "row" }, who), outputs[who].map((v) => {
      const { text, cls } = formatValue(v);
      return el("td", { class: cls }, text);
    })));
  }
  outTable.append(outBody);
  const outBox = $("compile-outputs");
  outBox.replaceChildren(el("div", { class: "table-wrap" }, outTable));
  if (outputs.equal === true) outBox.append(el("p", { class: "hint" }, "The model's output equals the interpreter's."));
  else if (outputs.equal === false) outBox.append(el("p", { class: "hint", style: "color: var(--bad)" }, "The model's output differs from the interpreter's."));
  if (outputs.note) outBox.append(el("p", { class: "hint muted" }, outputs.note));

  const layoutBody = $("compile-layout").tBodies[0];
  layoutBody.replaceChildren(...(result.layout || []).map((row) => el("tr", {},
    el("td", {}, row.layer), el("td", {}, row.block), el("td", {}, row.sop), el("td", {}, row.reads), el("td", {}, row.writes))));

  const heads = $("compile-heads");
  heads.replaceChildren();
  for (const head of result.heads || []) {
    const card = el("div", { class: "head-card", "data-layer": head.layer, "data-head": head.head });
    card.append(el("h3", {}, `layer ${head.layer}, head ${head.head}: ${head.sop}`));
    const pair = el("div", { class: "pair" });
    const pattern = head.pattern || [];
    pair.append(el("figure", { class: "matrix" }, el("figcaption", {}, "attention"),
      matrixSvg(pattern, tokens, ["BOS", ...tokens], heat, `attention of layer ${head.layer} head ${head.head}`)));
    if (head.selector) {
      pair.append(el("figure", { class: "matrix" }, el("figcaption", {}, "selector"),
        matrixSvg(head.selector, tokens, tokens, (v) => (v ? "#1f2933" : "#ffffff"), `selector of ${head.sop}`)));
    }
    card.append(pair);
    if (head.note) card.append(el("p", { class: "note" }, head.note));
    heads.append(card);
  }
  if (!heads.children.length) heads.append(el("p", { class: "empty" }, "No attention heads."));
}

// ------------------------------------------------------------------ turing view

const turing = { result: null, sequence: 0 };
const SYMBOL_COLOURS = ["#ffffff", "#1f2933", "#e07a1f", "#2e8b57", "#7b4fc9", "#c23b7a", "#2a7fbf", "#b59b00", "#6b8e23", "#8b4513"];

async function loadFamous() {
  try {
    const result = await api("/api/famous");
    const picker = $("famous");
    for (const machine of result.machines || []) {
      const option = el("option", { value: machine.spec }, machine.name);
      option.dataset.tape = machine.tape || "";
      option.dataset.maxSteps = String(machine.max_steps ?? 100);
      option.dataset.note = machine.note || "";
      picker.append(option);
    }
  } catch (error) {
    showApiError(error, "Loading the famous machines");
  }
}

function pickFamous() {
  const option = $("famous").selectedOptions[0];
  if (!option || !option.value) return;
  $("tm-spec").value = option.value;
  $("tm-tape").value = option.dataset.tape;
  $("tm-max-steps").value = option.dataset.maxSteps;
  $("tm-note").textContent = option.dataset.note || option.textContent;
}

async function runMachine(event) {
  if (event) event.preventDefault();
  const request = {
    spec: $("tm-spec").value.trim(),
    tape: $("tm-tape").value,
    max_steps: Number($("tm-max-steps").value),
    engine: $("tm-engine").value,
  };
  const sequence = ++turing.sequence;
  $("tm-run").disabled = true;
  $("tm-busy").hidden = false;
  setStatus(`Running ${request.spec} with the ${request.engine} engine…`);
  try {
    const result = await api("/api/turing/run", request);
    if (sequence !== turing.sequence) return;
    turing.result = { ...result, request };
    renderMachine(result);
    setStatus(`${result.machine}: ${result.steps} steps${result.halted ? ", halted" : ""}.`, result.matches === false ? "error" : "ok");
  } catch (error) {
    if (sequence === turing.sequence) showApiError(error, "Running the machine");
  } finally {
    $("tm-run").disabled = false;
    $("tm-busy").hidden = true;
  }
}

function renderMachine(result) {
  $("tm-out").hidden = false;
  const summary = $("tm-summary");
  const verdict = result.matches
    ? el("span", { class: "ok", "data-matches": "true" }, "✓ matches the reference")
    : el("span", { class: "bad", "data-matches": "false" }, "✗ differs from the reference");
  summary.replaceChildren(
    el("strong", {}, result.machine), ` · engine: ${result.engine} · ${result.steps} steps · `,
    result.halted ? "halted" : "did not halt", " · ", verdict,
    result.tokens_per_step ? ` · ${result.trace_tokens} trace tokens (${Number(result.tokens_per_step).toFixed(1)} per step)` : "",
    ` · ${Number(result.seconds || 0).toFixed(2)} s`,
  );
  if (result.report) summary.append(el("pre", { class: "report" }, result.report));
  const rows = result.spacetime ? result.spacetime.cells.length : 0;
  const slider = $("tm-step");
  slider.max = String(Math.max(rows - 1, 0));
  slider.value = String(Math.max(rows - 1, 0));
  $("tm-diagram").replaceChildren(spacetimeSvg(result.spacetime));
  $("tm-attention").replaceChildren();
  showStep();
}

/** The space-time diagram: one row per step, one column per tape cell, the head outlined. */
function spacetimeSvg(spacetime) {
  const { cells, heads, states, symbols, blank } = spacetime;
  const rows = cells.length;
  const columns = rows ? Math.max(...cells.map((r) => r.length)) : 0;
  const size = Math.max(6, Math.min(22, Math.floor(640 / Math.max(columns, 1)), Math.floor(2400 / Math.max(rows, 1))));
  const left = 44;
  const width = left + columns * size + 2;
  const height = rows * size + 2;
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `space-time diagram: ${rows} configurations over ${columns} cells` });
  const colourOf = new Map();
  const ordered = [blank, ...symbols.filter((s) => s !== blank)];
  ordered.forEach((symbol, i) => colourOf.set(symbol, SYMBOL_COLOURS[i % SYMBOL_COLOURS.length]));
  const font = Math.min(12, size - 4);
  cells.forEach((row, step) => {
    if (size >= 10 && (rows <= 60 || step % 5 === 0)) {
      picture.append(svg("text", { x: left - 6, y: step * size + size / 2 + 4, "text-anchor": "end", "font-size": 10,
        "font-family": "monospace", fill: "#5c6166" }, String(step)));
    }
    row.forEach((symbol, column) => {
      const fill = symbol === null ? "#eceff1" : colourOf.get(symbol) || "#999";
      picture.append(svg("rect", { x: left + column * size + 1, y: step * size + 1, width: size, height: size, fill,
        stroke: "#d0d4d8", "stroke-width": size >= 10 ? 0.5 : 0 }));
    });
    const head = heads[step];
    if (head !== null && head !== undefined) {
      picture.append(svg("rect", { x: left + head * size + 1.5, y: step * size + 1.5, width: size - 1, height: size - 1,
        fill: "none", stroke: "#d62d20", "stroke-width": 2 }));
      if (size >= 14 && states[step] !== null && states[step] !== undefined) {
        const dark = (colourOf.get(row[head]) || "#fff") === "#1f2933";
        picture.append(svg("text", { x: left + head * size + 1 + size / 2, y: step * size + 1 + size / 2 + font / 3,
          "text-anchor": "middle", "font-size": font, "font-family": "monospace", "font-weight": "bold",
          fill: dark ? "#ffd166" : "#d62d20" }, String(states[step])));
      }
    }
  });
  // The row the slider points at; moved by showStep.
  picture.append(svg("rect", { id: "tm-row-highlight", x: 1, y: 1, width: width - 2, height: size, fill: "rgba(31,95,191,0.12)",
    stroke: "#1f5fbf", "stroke-width": 1.5, "pointer-events": "none" }));
  picture.dataset.cell = String(size);
  return picture;
}

/** Show configuration `step` of the last run: tape cells, the head, the state, the trace line. */
function showStep() {
  const result = turing.result;
  if (!result || !result.spacetime) return;
  const step = Number($("tm-step").value);
  const { cells, heads, states, first, blank } = result.spacetime;
  $("tm-step-label").textContent = `${step} / ${cells.length - 1}`;
  const tape = $("tm-config");
  tape.replaceChildren();
  tape.dataset.step = String(step);
  const row = cells[step] || [];
  row.forEach((symbol, column) => {
    // a cell the head has not reached yet holds the blank, but is not part of the trace's tape
    const kind = column === heads[step] ? " head" : symbol === null ? " unvisited" : "";
    const cell = el("span", { class: "cell" + kind, title: `cell ${first + column}` }, symbol === null ? blank : symbol);
    if (column === heads[step]) cell.append(el("span", { class: "state" }, String(states[step])));
    tape.append(cell);
  });
  tape.setAttribute("aria-label", `step ${step}: state ${states[step]}, head on cell ${first + heads[step]}`);
  $("tm-trace-line").textContent = result.trace && result.trace[step] !== undefined ? result.trace[step] : "";
  const highlight = document.getElementById("tm-row-highlight");
  if (highlight) {
    const size = Number(highlight.ownerSVGElement.dataset.cell);
    highlight.setAttribute("y", String(step * size + 1));
    // Keep the highlighted row in view on long runs.
    const box = $("tm-diagram");
    const top = step * size;
    if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - size) box.scrollTop = Math.max(0, top - box.clientHeight / 2);
  }
  $("tm-attend").disabled = step < 1;
}

async function showAttention() {
  const result = turing.result;
  if (!result) return;
  const step = Number($("tm-step").value);
  const request = { spec: result.request.spec, tape: result.request.tape, max_steps: result.request.max_steps, step };
  const box = $("tm-attention");
  $("tm-attend").disabled = true;
  $("tm-attention-busy").hidden = false;
  setStatus(`Compiling the machine to see where it attends at step ${step}…`);
  try {
    const answer = await api("/api/turing/attention", request);
    const [q0, q1] = answer.queries;
    const [k0, k1] = answer.keys;
    const queryTokens = answer.tokens.slice(q0, q1);
    const keyTokens = answer.tokens.slice(k0, k1);
    box.replaceChildren(el("p", { class: "hint" }, `Step ${step}: tokens ${q0}–${q1 - 1} attending to tokens ${k0}–${k1 - 1}.`));
    for (const head of answer.heads) {
      const cell = Math.max(6, Math.min(16, Math.floor(520 / Math.max(keyTokens.length, 1))));
      box.append(el("figure", { class: "matrix", "data-name": head.name }, el("figcaption", {}, head.name),
        matrixSvg(head.weights, queryTokens, keyTokens, heat, head.name, cell)));
    }
    setStatus(`Attention at step ${step}: ${answer.heads.length} heads.`, "ok");
  } catch (error) {
    showApiError(error, "The attention");
  } finally {
    $("tm-attend").disabled = Number($("tm-step").value) < 1;
    $("tm-attention-busy").hidden = true;
  }
}

/** Run a verification, reading the server's NDJSON stream line by line to move the progress bar. */
async function verifyMachines(event) {
  event.preventDefault();
  const request = {
    states: Number($("vf-states").value),
    symbols: Number($("vf-symbols").value),
    count: Number($("vf-count").value),
    seed: Number($("vf-seed").value),
    max_steps: Number($("vf-max-steps").value),
    engine: $("vf-engine").value,
  };
  const bar = $("verify-progress");
  const out = $("verify-result");
  bar.max = request.count || 1;
  bar.value = 0;
  out.replaceChildren();
  $("verify-btn").disabled = true;
  $("verify-count").textContent = `0 / ${request.count}`;
  setStatus(`Verifying ${request.count} random machines…`);
  try {
    const response = await fetch("/api/turing/verify", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request),
    });
    if (!response.ok) throw new ApiError(response.status, await readError(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let finished = false;
    const handle = (line) => {
      if (!line.trim()) return;
      const message = JSON.parse(line);
      if ("progress" in message) {
        bar.max = message.total || 1;
        bar.value = message.progress;
        $("verify-count").textContent = `${message.progress} / ${message.total}`;
      } else if (message.result) {
        finished = true;
        renderVerify(message.result);
      } else if (message.error) {
        finished = true;
        throw new ApiError(500, message.error);
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        handle(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    }
    handle(buffer + decoder.decode());
    if (!finished) throw new ApiError(0, { message: "the verification stream ended early" });
  } catch (error) {
    showApiError(error instanceof ApiError ? error : new ApiError(0, { message: String(error.message || error) }), "Verifying");
  } finally {
    $("verify-btn").disabled = false;
  }
}

function renderVerify(result) {
  const bar = $("verify-progress");
  bar.value = bar.max;
  const all = result.matching === result.machines;
  const out = $("verify-result");
  out.replaceChildren(
    el("p", { class: `badge ${all ? "pass" : "fail"}`, "data-matching": result.matching, "data-machines": result.machines },
      `${all ? "✓" : "✗"} ${result.engine}: ${result.matching} / ${result.machines} machines match the reference`),
    el("p", { class: "hint" }, `${result.halted} halted · ${Number(result.tokens || 0).toLocaleString("en")} tokens · ${Number(result.seconds || 0).toFixed(1)} s`),
  );
  for (const mismatch of result.mismatches || []) {
    out.append(el("div", { class: "mismatch" }, el("strong", {}, mismatch.machine), el("pre", { class: "report" }, mismatch.report)));
  }
  setStatus(`Verified ${result.machines} machines: ${result.matching} match.`, all ? "ok" : "error");
}

// ------------------------------------------------------------------ tabs

const TABS = ["program", "compile", "turing"];

function showTab(name, focus = false) {
  if (!TABS.includes(name)) name = "program";
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  document.body.dataset.tab = name;
  if (name === "turing" && $("famous").options.length <= 1) loadFamous();
}

/** Arrow keys move between tabs, as the WAI-ARIA tabs pattern expects. */
function onTabKey(event) {
  const index = TABS.indexOf(document.body.dataset.tab);
  if (event.key === "ArrowRight") showTab(TABS[(index + 1) % TABS.length], true);
  else if (event.key === "ArrowLeft") showTab(TABS[(index + TABS.length - 1) % TABS.length], true);
  else return;
  event.preventDefault();
}

// ------------------------------------------------------------------ share links

function toBase64Url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const binary = atob(padded);
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function shareUrl() {
  const params = new URLSearchParams();
  params.set("src", toBase64Url($("source").value));
  params.set("input", $("input").value);
  const tab = document.body.dataset.tab;
  if (tab && tab !== "program") params.set("tab", tab);
  if (tab === "turing") {
    params.set("tm", $("tm-spec").value);
    if ($("tm-tape").value) params.set("tape", $("tm-tape").value);
    params.set("steps", $("tm-max-steps").value);
  }
  return `${location.origin}${location.pathname}#${params.toString()}`;
}

async function share() {
  const url = shareUrl();
  history.replaceState(null, "", url);
  const box = $("share-url");
  box.hidden = false;
  box.value = url;
  box.select();
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(url);
      copied = true;
    }
  } catch (_) { /* the browser refused: the link is shown and selected instead */ }
  setStatus(copied ? "Share link copied to the clipboard." : "Share link shown above: copy it from the box.", "ok");
}

/** The program in the URL fragment, if any: {source, input, tab, ...} or null. */
function programFromFragment() {
  if (!location.hash || location.hash.length < 2) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has("src")) return null;
  try {
    return {
      source: fromBase64Url(params.get("src")),
      input: params.get("input") || "",
      tab: params.get("tab"),
      tm: params.get("tm"),
      tape: params.get("tape"),
      steps: params.get("steps"),
    };
  } catch (_) {
    setStatus("The link's program could not be read (damaged link?); showing the default program.", "error");
    return null;
  }
}

// ------------------------------------------------------------------ start

function wire() {
  const area = $("source");
  area.addEventListener("input", () => { renderEditor(); scheduleEvaluate(); });
  area.addEventListener("scroll", syncScroll);
  area.addEventListener("keydown", onEditorKey);
  $("input").addEventListener("input", scheduleEvaluate);
  $("causal").addEventListener("change", evaluate);
  $("library").addEventListener("change", (event) => {
    const name = event.target.value;
    event.target.value = "";
    openProgram(name);
  });
  $("layers-panel").addEventListener("toggle", () => { if ($("layers-panel").open) drawLayers(); });
  $("draw-btn").addEventListener("click", drawLayers);
  for (const id of ["draw-name", "compile-name"]) {
    $(id).addEventListener("change", () => { $(id).dataset.userChosen = "1"; });
  }
  $("draw-name").addEventListener("change", drawLayers);
  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));
  document.querySelector(".tabs").addEventListener("keydown", onTabKey);
  $("share-btn").addEventListener("click", share);
  $("compile-form").addEventListener("submit", compileProgram);
  $("famous").addEventListener("change", pickFamous);
  $("tm-form").addEventListener("submit", runMachine);
  $("tm-step").addEventListener("input", showStep);
  $("tm-attend").addEventListener("click", showAttention);
  $("verify-form").addEventListener("submit", verifyMachines);
}

async function start() {
  // the token came in the address (the server has set its cookie): keep it out of the address
  // bar, the history and any link copied from there
  if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", "/" + location.hash);
  wire();
  const shared = programFromFragment();
  showTab(shared && shared.tab ? shared.tab : "program");
  loadLibrary();
  if (shared) {
    setProgram({ name: "shared link", source: shared.source, input: shared.input });
    if (shared.tm) $("tm-spec").value = shared.tm;
    if (shared.tape) $("tm-tape").value = shared.tape;
    if (shared.steps) $("tm-max-steps").value = shared.steps;
  } else {
    try {
      // the first program comes evaluated, inside the page itself: no round trip to its values
      const embedded = document.getElementById("initial-program");
      const initial = embedded ? JSON.parse(embedded.textContent) : await api("/api/initial");
      if (initial.error) throw new ApiError(422, initial.error);
      setProgram(initial);
      showEvaluation(initial.evaluation);
      document.body.dataset.ready = "1";
      return;
    } catch (error) {
      showApiError(error, "Loading the program");
      renderEditor();
    }
  }
  await evaluate();
  document.body.dataset.ready = "1";
}

start();
