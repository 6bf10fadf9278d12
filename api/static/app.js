// The makespan web page: submit an instance, watch its incumbents arrive over Server-Sent
// Events as a convergence chart, see the solution's picture, cancel. Plain JavaScript with no
// dependencies, so the page works offline; it uses only the public REST API.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const FINAL = new Set(["done", "failed", "cancelled"]);

const state = {
  key: localStorage.getItem("makespan.apiKey") || "",
  problems: [],
  examples: [],
  job: null, // {id, status, submittedAt, timeLimit}
  points: [], // incumbents: {time_s, objective, bound}
  stream: null, // AbortController of the event stream
  timer: null,
  objectUrls: [],
  result: null, // the finished job's Result
  textEdits: 0, // bumped whenever the instance text changes by hand or from a file
};

// --- talking to the API -------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

function describeError(status, body) {
  if (body && body.message) {
    const where = [];
    if (body.field) where.push(`field ${body.field}`);
    if (body.line) where.push(`line ${body.line}`);
    return where.length ? `${body.message} (${where.join(", ")})` : body.message;
  }
  return `HTTP ${status}`;
}

async function request(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    $("key-row").hidden = false;
    $("api-key").focus();
  }
  return response;
}

async function requestJson(path, options = {}) {
  const response = await request(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// POST ``body`` as JSON; the answer's JSON (an ApiError when refused).
function postJson(path, body) {
  return requestJson(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

// --- numbers ------------------------------------------------------------------------------

function formatNumber(value) {
  if (value === null || value === undefined) return "—";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Number(value.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

function formatGap(gap) {
  return gap === null || gap === undefined ? "—" : `${(gap * 100).toFixed(2)}%`;
}

function relativeGap(objective, bound) {
  if (objective === null || objective === undefined || bound === null || bound === undefined) {
    return null;
  }
  if (objective === bound) return 0;
  if (objective === 0) return null;
  return Math.max(0, (objective - bound) / Math.abs(objective));
}

// --- form ---------------------------------------------------------------------------------

function currentProblem() {
  return state.problems.find((p) => p.kind === $("problem").value);
}

function fillSelect(select, options, keepFirst) {
  while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
  for (const [value, label] of options) select.add(new Option(label, value));
}

function onProblemChange() {
  const problem = currentProblem();
  if (!problem) return;
  $("problem-summary").textContent = problem.summary;
  fillSelect($("format"), problem.formats.map((f) => [f, f]), true);
  const examples = state.examples.filter((e) => e.problem === problem.kind);
  fillSelect($("example"), examples.map((e) => [e.name, `${e.name}: ${e.description}`]), true);
  if (examples.length) {
    $("example").value = examples[0].name;
    loadExample(examples[0].name);
  } else {
    $("instance-text").value = "";
  }
}

async function loadExample(name) {
  if (!name) return;
  // An example that arrives after the text was typed, read from a file or replaced by another
  // example must not overwrite it.
  const edits = ++state.textEdits;
  try {
    const example = await requestJson(`/v1/examples/${encodeURIComponent(name)}`);
    if (edits !== state.textEdits) return;
    $("instance-text").value = example.text;
    $("format").value = example.format;
    hideError();
  } catch (error) {
    showError(error.message);
  }
}

function loadFile(file) {
  const reader = new FileReader();
  reader.onload = () => {
    state.textEdits += 1;
    $("instance-text").value = reader.result;
    $("example").value = "";
    $("format").value = "";
  };
  reader.onerror = () => showError(`cannot read ${file.name}`);
  reader.readAsText(file);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

async function onSubmit(event) {
  event.preventDefault();
  hideError();
  const timeLimit = Number($("time-limit").value);
  const body = {
    problem: $("problem").value,
    instance_text: $("instance-text").value,
    options: { time_limit_s: timeLimit, backend: $("backend").value },
  };
  $("submit").disabled = true;
  if (!(await submitJob(body, timeLimit))) $("submit").disabled = false;
}

// POST the job (the form's format added) and follow it; false when it was refused.
async function submitJob(body, timeLimit) {
  if ($("format").value) body.format = $("format").value;
  try {
    const accepted = await postJson("/v1/jobs", body);
    startJob(accepted.id, accepted.status, timeLimit);
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

async function onCancel() {
  if (!state.job) return;
  $("cancel").disabled = true;
  try {
    const document = await requestJson(`/v1/jobs/${state.job.id}`, { method: "DELETE" });
    setStatus(document.status);
  } catch (error) {
    showError(error.message);
  }
}

// --- one job ------------------------------------------------------------------------------

function resetJobView(id, status) {
  if (state.stream) state.stream.abort();
  state.job = null;
  clearInterval(state.timer);
  for (const url of state.objectUrls) URL.revokeObjectURL(url);
  state.objectUrls = [];
  state.points = [];
  $("job-id").textContent = id;
  for (const field of ["objective", "bound", "gap", "elapsed", "result-backend"]) {
    $(field).textContent = "—";
  }
  $("message").textContent = "";
  $("result").textContent = "";
  $("conflict-box").hidden = true;
  $("replan").hidden = true;
  $("check-result").replaceChildren();
  state.result = null;
  $("plot-links").hidden = true;
  $("plot-box").replaceChildren(note("The picture appears when the solve ends."));
  setStatus(status);
  drawChart();
}

function startJob(id, status, timeLimit) {
  resetJobView(id, status);
  state.job = { id, status, submittedAt: performance.now(), timeLimit };
  $("cancel").disabled = false;
  state.timer = setInterval(tick, 250);
  watch(id);
  refreshRecent();
}

function tick() {
  if (!state.job || FINAL.has(state.job.status)) return;
  const seconds = (performance.now() - state.job.submittedAt) / 1000;
  $("elapsed").textContent = `${seconds.toFixed(1)} s`;
  drawChart(seconds);
}

function setStatus(status) {
  if (state.job) state.job.status = status;
  const badge = $("status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
}

function onIncumbent(incumbent) {
  state.points.push(incumbent);
  if (incumbent.objective !== null) $("objective").textContent = formatNumber(incumbent.objective);
  if (incumbent.bound !== null) $("bound").textContent = formatNumber(incumbent.bound);
  const best = lastValue("objective");
  const bound = lastValue("bound");
  $("gap").textContent = formatGap(relativeGap(best, bound));
  drawChart();
}

function lastValue(series) {
  for (let i = state.points.length - 1; i >= 0; i -= 1) {
    if (state.points[i][series] !== null && state.points[i][series] !== undefined) {
      return state.points[i][series];
    }
  }
  return null;
}

function showResult(id, result, status) {
  clearInterval(state.timer);
  setStatus(status);
  $("cancel").disabled = true;
  $("submit").disabled = false;
  if (!result) return;
  if (result.incumbents && result.incumbents.length >= state.points.length) {
    state.points = result.incumbents.slice();
  }
  addFinalPoint(result);
  $("objective").textContent = formatNumber(result.objective);
  $("bound").textContent = formatNumber(result.bound);
  $("gap").textContent = formatGap(result.gap);
  $("elapsed").textContent = `${result.wall_time_s.toFixed(2)} s`;
  $("result-backend").textContent = result.backend;
  const deviation = result.solution && result.solution.deviation !== undefined
    ? ` · deviation ${formatNumber(result.solution.deviation)}` : "";
  $("message").textContent = `${result.status} (${result.termination})${deviation}${result.message ? ": " + result.message : ""}`;
  $("result").textContent = JSON.stringify(result, null, 2);
  state.result = result;
  showConflict(result.conflict);
  $("replan").hidden = !result.solution;
  if (result.solution) $("check-solution").value = JSON.stringify(result.solution, null, 2);
  drawChart(result.wall_time_s);
  if (result.solution) showPlot(id, result);
  else $("plot-box").replaceChildren(note(`No solution to draw: ${result.status}.`));
  refreshRecent();
}

function showConflict(conflict) {
  const items = (conflict || []).map((item) => {
    const li = document.createElement("li");
    li.textContent = item.message;
    li.dataset.constraint = item.constraint;
    return li;
  });
  $("conflict").replaceChildren(...items);
  $("conflict-box").hidden = items.length === 0;
}

// --- from a finished job: re-solve near it, check a solution ------------------------------

async function onResolve() {
  hideError();
  if (!state.result || !state.result.solution) return;
  const timeLimit = Number($("time-limit").value);
  const { deviation, ...reference } = state.result.solution;
  const options = {
    time_limit_s: timeLimit,
    backend: $("backend").value,
    reference,
    stability_weight: Number($("stability-weight").value || 0),
  };
  if ($("fix-before").value !== "") options.fix_before = Number($("fix-before").value);
  const body = { problem: $("problem").value, instance_text: $("instance-text").value, options };
  await submitJob(body, timeLimit);
}

function solutionIn(document) {
  if (document && typeof document.result === "object" && document.result) document = document.result;
  if (document && "solution" in document && "status" in document) document = document.solution;
  return document;
}

async function onCheck() {
  const box = $("check-result");
  let solution;
  try {
    solution = solutionIn(JSON.parse($("check-solution").value));
  } catch (error) {
    box.replaceChildren(note(`Not JSON: ${error.message}`));
    return;
  }
  const body = { problem: $("problem").value, instance_text: $("instance-text").value, solution };
  if ($("format").value) body.format = $("format").value;
  try {
    const verdict = await postJson("/v1/check", body);
    const head = document.createElement("p");
    head.className = verdict.feasible ? "verdict feasible" : "verdict infeasible";
    head.textContent = verdict.feasible
      ? `Feasible: objective ${formatNumber(verdict.objective)}`
      : `Infeasible: ${verdict.violations.length} violation(s)`;
    const list = document.createElement("ul");
    for (const violation of verdict.violations) {
      const li = document.createElement("li");
      li.textContent = violation.message;
      list.appendChild(li);
    }
    box.replaceChildren(head, list);
  } catch (error) {
    box.replaceChildren(note(error.message));
  }
}

// The proof of optimality usually raises the bound after the last incumbent: show where the
// solve ended up, not only the moments it improved.
function addFinalPoint(result) {
  const last = state.points[state.points.length - 1];
  if (result.objective === null && result.bound === null) return;
  if (last && last.objective === result.objective && last.bound === result.bound) return;
  const time = Math.max(result.wall_time_s, last ? last.time_s : 0);
  state.points.push({ time_s: time, objective: result.objective, bound: result.bound });
}

function note(text) {
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = text;
  return p;
}

async function showPlot(id, result) {
  $("plot-box").replaceChildren(note("Drawing…"));
  try {
    const response = await request(`/v1/jobs/${id}/plot.svg`);
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new ApiError(response.status, body);
    }
    const url = keepUrl(await response.blob());
    const image = new Image();
    image.id = "plot";
    image.alt = `picture of job ${id}`;
    image.src = url;
    $("plot-box").replaceChildren(image);
    $("plot-svg").href = url;
    $("plot-svg").download = `${id}.svg`;
    const png = await request(`/v1/jobs/${id}/plot.png`);
    if (png.ok) {
      $("plot-png").href = keepUrl(await png.blob());
      $("plot-png").download = `${id}.png`;
    }
    const json = new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
    $("result-json").href = keepUrl(json);
    $("result-json").download = `${id}.json`;
    $("plot-links").hidden = false;
  } catch (error) {
    $("plot-box").replaceChildren(note(`No picture: ${error.message}`));
  }
}

function keepUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.objectUrls.push(url);
  return url;
}

// --- Server-Sent Events over fetch, so the API key header can be sent ---------------------

async function watch(id) {
  const controller = new AbortController();
  state.stream = controller;
  let finished = false;
  try {
    const response = await request(`/v1/jobs/${id}/events`, { signal: controller.signal });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        finished = dispatch(id, parseEvent(block)) || finished;
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (!finished && !controller.signal.aborted) pollUntilFinal(id);
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return { name, data: data.length ? JSON.parse(data.join("\n")) : null };
}

function dispatch(id, event) {
  if (!state.job || state.job.id !== id) return false;
  if (event.name === "status") setStatus(event.data.status);
  else if (event.name === "incumbent") onIncumbent(event.data);
  else if (event.name === "done") {
    finishFromServer(id);
    return true;
  }
  return false;
}

async function finishFromServer(id) {
  try {
    const document = await requestJson(`/v1/jobs/${id}`);
    showResult(id, document.result, document.status);
    if (document.error) showError(document.error.message || "the solve failed");
  } catch (error) {
    showError(error.message);
  }
}

async function pollUntilFinal(id) {
  while (state.job && state.job.id === id) {
    try {
      const document = await requestJson(`/v1/jobs/${id}`);
      if (FINAL.has(document.status)) {
        showResult(id, document.result, document.status);
        return;
      }
      setStatus(document.status);
    } catch (error) {
      showError(error.message);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// --- convergence chart (hand-drawn SVG) ---------------------------------------------------

function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.appendChild(element);
  return element;
}

function niceTicks(low, high, count) {
  if (high <= low) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

function drawChart(now) {
  const chart = $("convergence");
  chart.replaceChildren();
  const width = 640;
  const height = 260;
  const margin = { left: 64, right: 16, top: 14, bottom: 34 };
  const points = state.points;
  chart.setAttribute("data-points", String(points.length));
  const values = points.flatMap((p) => [p.objective, p.bound]).filter((v) => v !== null);
  if (!values.length) {
    svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, chart).textContent =
      state.job ? "waiting for the first solution…" : "objective and bound over time";
    return;
  }
  const lastTime = Math.max(...points.map((p) => p.time_s), now || 0, 1e-3);
  let low = Math.min(...values);
  let high = Math.max(...values);
  const pad = (high - low) * 0.08 || Math.max(1, Math.abs(high) * 0.05);
  low -= pad;
  high += pad;
  const x = (t) => margin.left + (t / lastTime) * (width - margin.left - margin.right);
  const y = (v) => height - margin.bottom - ((v - low) / (high - low)) * (height - margin.top - margin.bottom);

  for (const tick of niceTicks(low, high, 5)) {
    svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }, chart);
    svg("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, chart).textContent =
      formatNumber(Number(tick.toPrecision(8)));
  }
  for (const tick of niceTicks(0, lastTime, 6)) {
    svg("text", { x: x(tick), y: height - margin.bottom + 16, "text-anchor": "middle" }, chart).textContent =
      `${Number(tick.toPrecision(4))}`;
  }
  svg("text", { x: width - margin.right, y: height - 4, "text-anchor": "end" }, chart).textContent = "seconds";
  svg("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top, y2: height - margin.bottom }, chart);
  svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: height - margin.bottom, y2: height - margin.bottom }, chart);

  for (const series of ["bound", "objective"]) {
    const steps = [];
    let previous = null;
    for (const point of points) {
      const value = point[series];
      if (value === null || value === undefined) continue;
      if (previous !== null) steps.push(`L${x(point.time_s)},${y(previous)}`);
      steps.push(`${steps.length ? "L" : "M"}${x(point.time_s)},${y(value)}`);
      previous = value;
    }
    if (previous === null) continue;
    steps.push(`L${x(lastTime)},${y(previous)}`);
    svg("path", { class: series, id: `${series}-line`, d: steps.join(" ") }, chart);
  }
  for (const point of points) {
    if (point.objective === null || point.objective === undefined) continue;
    const dot = svg("circle", { class: "objective", cx: x(point.time_s), cy: y(point.objective), r: 3 }, chart);
    svg("title", {}, dot).textContent = `${formatNumber(point.objective)} at ${point.time_s.toFixed(2)} s`;
  }
  const legend = svg("g", { transform: `translate(${width - margin.right - 170},${margin.top + 4})` }, chart);
  svg("line", { class: "objective", x1: 0, x2: 22, y1: 0, y2: 0 }, legend);
  svg("text", { x: 28, y: 4 }, legend).textContent = "objective";
  svg("line", { class: "bound", x1: 90, x2: 112, y1: 0, y2: 0 }, legend);
  svg("text", { x: 118, y: 4 }, legend).textContent = "bound";
}

// --- recent jobs --------------------------------------------------------------------------

async function refreshRecent() {
  let jobs;
  try {
    jobs = await requestJson("/v1/jobs?limit=10");
  } catch (error) {
    return;
  }
  const rows = jobs.map((job) => {
    const row = document.createElement("tr");
    row.dataset.id = job.id;
    const cells = [
      job.id.slice(0, 8),
      job.problem,
      job.status,
      formatNumber(job.objective),
      formatGap(job.gap),
      new Date(job.created_at).toLocaleString(),
    ];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (i === 3 || i === 4) cell.className = "num";
      row.appendChild(cell);
    });
    row.addEventListener("click", () => openJob(job.id));
    return row;
  });
  $("recent").tBodies[0].replaceChildren(...rows);
}

async function openJob(id) {
  try {
    const document = await requestJson(`/v1/jobs/${id}`);
    resetJobView(id, document.status);
    state.job = { id, status: document.status, submittedAt: performance.now(), timeLimit: null };
    if (FINAL.has(document.status)) {
      showResult(id, document.result, document.status);
    } else {
      $("cancel").disabled = false;
      watch(id);
    }
  } catch (error) {
    showError(error.message);
  }
}

// --- start --------------------------------------------------------------------------------

async function loadCatalogue() {
  const [problems, examples] = await Promise.all([
    requestJson("/v1/problems"),
    requestJson("/v1/examples"),
  ]);
  state.problems = problems.problems;
  state.examples = examples;
  fillSelect($("problem"), state.problems.map((p) => [p.kind, p.kind]), false);
  fillSelect($("backend"), ["auto", ...problems.backends].map((b) => [b, b]), false);
  $("problem").value = state.problems.some((p) => p.kind === "jssp") ? "jssp" : state.problems[0].kind;
  onProblemChange();
  refreshRecent();
}

async function checkHealth() {
  try {
    const health = await (await fetch("/healthz")).json();
    $("health").textContent = `service ok · ${health.slots} solve slots · ${health.queued} queued`;
  } catch (error) {
    $("health").textContent = "service unreachable";
  }
}

async function start() {
  $("problem").addEventListener("change", onProblemChange);
  $("example").addEventListener("change", (event) => loadExample(event.target.value));
  $("instance-text").addEventListener("input", () => {
    state.textEdits += 1;
  });
  $("file").addEventListener("change", (event) => {
    if (event.target.files.length) loadFile(event.target.files[0]);
  });
  $("job-form").addEventListener("submit", onSubmit);
  $("cancel").addEventListener("click", onCancel);
  $("refresh").addEventListener("click", refreshRecent);
  $("resolve").addEventListener("click", onResolve);
  $("check").addEventListener("click", onCheck);
  $("api-key").value = state.key;
  $("api-key").addEventListener("change", (event) => {
    state.key = event.target.value.trim();
    localStorage.setItem("makespan.apiKey", state.key);
    loadCatalogue().catch((error) => showError(error.message));
  });
  drawChart();
  checkHealth();
  try {
    await loadCatalogue();
  } catch (error) {
    showError(error.message);
  }
}

start();
