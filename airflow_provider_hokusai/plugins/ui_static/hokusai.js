// The Hokusai page: model versions, queue health, "Reconcile now" and "Retry announcement".
// Data comes from this app (api/...) and from GET /hokusai/health; DAG runs are triggered through Airflow's own REST
// API with the user's session, so Airflow checks the user's permissions. Every value is written with textContent.
"use strict";

const ROOT = location.pathname.replace(/hokusai\/ui\/.*$/, ""); // where Airflow is served ("/" by default)
const state = { tokens: [null], page: 0, actions: null, polling: false };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const badge = (text) => el("span", { class: `badge s-${String(text).replace(/\s+/g, "-")}`, text });
const fmt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString(undefined, { maximumFractionDigits: 6 }));

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  return { status: response.status, ok: response.ok, body };
}

function explain(result, what) {
  if (result.status === 401) return `Your Airflow session has expired: log in to Airflow again to see ${what}.`;
  if (result.status === 403) return `You are not allowed to see ${what}` + (result.body && result.body.error ? ` (${result.body.error}).` : ".");
  if (result.body && result.body.error) return result.body.error;
  return `Could not load ${what} (HTTP ${result.status}).`;
}

// Queue health: the answer of GET /hokusai/health, as it is.
async function loadHealth() {
  const box = $("queues");
  let result;
  try { result = await getJson(`${ROOT}hokusai/health`); } catch (e) { result = { status: 0, body: null }; }
  box.replaceChildren();
  const body = result.body;
  if (!body || !Array.isArray(body.queues)) {
    box.append(el("p", { class: "state error", text: explain(result, "the queues' health") }));
    return;
  }
  if (body.queues.length === 0) {
    box.append(el("p", { class: "state", text: "No queue configured: list the queue connections in [hokusai] health_queue_conn_ids to see their health here." }));
    return;
  }
  for (const q of body.queues) {
    const status = q.healthy ? (q.warning ? "degraded" : "healthy") : "unhealthy";
    const dl = el("dl", {},
      el("dt", { text: "Backend" }), el("dd", { text: `${q.backend || "—"} ${q.queue || ""}` }),
      el("dt", { text: "Depth" }), el("dd", { text: fmt(q.depth) }),
      el("dt", { text: "Processing" }), el("dd", { text: fmt(q.processing_depth) }),
      el("dt", { text: "Dead letters" }), el("dd", { text: fmt(q.dead_letter_depth) }),
      el("dt", { text: "Latency" }), el("dd", { text: q.latency_ms === null ? "—" : `${fmt(q.latency_ms)} ms` }),
      el("dt", { text: "Last announcement" }), el("dd", { text: q.last_announcement_at || "—" }));
    box.append(el("div", { class: "card", "data-conn-id": q.conn_id },
      el("strong", { text: q.conn_id }), " ", badge(status), dl,
      q.error ? el("p", { class: "reason", text: q.error }) : null,
      q.warning ? el("p", { class: "s-degraded", text: q.warning }) : null));
  }
}

async function loadActions() {
  const result = await getJson("api/actions");
  state.actions = result.ok ? result.body : null;
  const button = $("reconcile");
  const note = $("reconcile-note");
  const r = state.actions && state.actions.reconcile;
  if (!r) { button.disabled = true; note.textContent = explain(result, "the actions"); return; }
  button.disabled = !(r.exists && r.can_trigger);
  if (!r.can_trigger) note.textContent = `You may not trigger DAG ${r.dag_id}.`;
  else if (!r.exists) note.textContent = r.note;
  else if (r.is_paused) note.textContent = `DAG ${r.dag_id} is paused: a run waits until it is unpaused.`;
  else note.textContent = `Runs DAG ${r.dag_id}: announces every pending or failed version.`;
  button.title = note.textContent;
  const retry = state.actions.retry;
  // "Retry announcement" sits on each row; when its DAG is missing, the reason is said once, here.
  if (retry && !retry.exists) note.textContent += ` ${retry.note}`;
}

function receiptCell(row) {
  const cell = el("td", { class: "receipt" });
  if (row.receipt) {
    const r = row.receipt;
    const parts = [el("div", {}, "message ", el("code", { text: r.message_id || "—" })),
      el("div", { text: `${r.backend || "?"} · ${r.queue || "?"}` }),
      r.broker_message_id ? el("div", {}, "broker id ", el("code", { text: r.broker_message_id })) : null,
      el("div", { class: "muted", text: r.published_at || "" })];
    cell.append(...parts.filter(Boolean));
  } else if (row.failure_reason) {
    cell.append(el("div", { class: "reason", text: row.failure_reason }));
  } else if (row.validation_error) {
    cell.append(el("div", { class: "reason", text: row.validation_error }));
  } else {
    cell.append(el("span", { class: "muted", text: "—" }));
  }
  return cell;
}

function row(v) {
  const links = el("td", {},
    v.mlflow_url ? el("a", { href: v.mlflow_url, target: "_blank", rel: "noopener", text: "MLflow" }) : null,
    v.mlflow_url && v.task_path ? " · " : null,
    v.task_path ? el("a", { href: ROOT + v.task_path.replace(/^\//, ""), target: "_top", text: "Task" }) : null);
  const retry = state.actions && state.actions.retry;
  const canRetry = v.retryable && retry && retry.exists && retry.can_trigger;
  const action = el("td", {}, v.retryable ? el("button", {
    type: "button", class: "retry", disabled: !canRetry,
    title: canRetry ? `Run ${retry.dag_id} for this version`
      : (retry && !retry.exists ? retry.note : "You may not trigger the retry DAG"),
    onclick: () => trigger(retry.dag_id, { model_name: v.model, model_version: v.version }, `${v.model} v${v.version}`),
    text: "Retry announcement",
  }) : null);
  const improvement = v.improvement_percentage === null ? "—" : `${v.improvement_percentage >= 0 ? "+" : ""}${fmt(v.improvement_percentage)} %`;
  return el("tr", { "data-model": v.model, "data-version": v.version, "data-announcement": v.announcement },
    el("td", { text: v.model }), el("td", { text: v.version }), el("td", { text: v.token_symbol || "—" }),
    el("td", { text: v.metric || "—" }), el("td", { text: `${fmt(v.baseline)} → ${fmt(v.current)}` }),
    el("td", { text: improvement }), el("td", {}, badge(v.validation)), el("td", {}, badge(v.announcement)),
    receiptCell(v), links, action);
}

async function loadVersions() {
  const params = new URLSearchParams({ status: $("status").value, page_size: $("page-size").value });
  if ($("model").value) params.set("model", $("model").value);
  const token = state.tokens[state.page];
  if (token) params.set("page_token", token);
  const box = $("versions-state");
  box.className = "state"; box.textContent = "Loading model versions…"; box.hidden = false;
  let result;
  try { result = await getJson(`api/versions?${params}`); } catch (e) { result = { status: 0, body: null }; }
  const table = $("versions");
  if (!result.ok) {
    table.hidden = true; box.className = "state error";
    box.textContent = result.status === 0 ? "The Airflow API server did not answer." : explain(result, "the model versions");
    $("next").disabled = true;
    return;
  }
  const rows = result.body.versions;
  table.tBodies[0].replaceChildren(...rows.map(row));
  table.hidden = rows.length === 0;
  box.hidden = rows.length !== 0;
  if (rows.length === 0) box.textContent = "No model version matches these filters.";
  state.tokens[state.page + 1] = result.body.next_page_token;
  $("next").disabled = !result.body.next_page_token;
  $("prev").disabled = state.page === 0;
  $("page-label").textContent = `Page ${state.page + 1}`;
}

async function loadModels() {
  const result = await getJson("api/models");
  if (!result.ok) return; // the versions table explains why
  const select = $("model");
  for (const name of result.body.models) select.append(el("option", { value: name, text: name }));
}

async function trigger(dagId, conf, what) {
  const status = $("action-status");
  status.className = ""; status.textContent = `Triggering ${dagId} for ${what}…`;
  const response = await fetch(`${ROOT}api/v2/dags/${encodeURIComponent(dagId)}/dagRuns`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ logical_date: null, conf, note: "Triggered from the Hokusai page" }),
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    status.className = "reason";
    status.textContent = response.status === 403 ? `Airflow refused: you may not trigger ${dagId}.` : `Airflow refused the run (HTTP ${response.status}).`;
    return;
  }
  await follow(dagId, body.dag_run_id, what);
}

async function follow(dagId, runId, what) {
  const status = $("action-status");
  const link = el("a", { href: `${ROOT}dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(runId)}`, target: "_top", text: runId });
  for (;;) {
    const result = await getJson(`${ROOT}api/v2/dags/${encodeURIComponent(dagId)}/dagRuns/${encodeURIComponent(runId)}`);
    const runState = result.ok ? result.body.state : "unknown";
    status.replaceChildren(`${dagId} for ${what}: run `, link, " ", badge(runState));
    status.dataset.state = runState;
    if (["success", "failed"].includes(runState)) break;
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  await Promise.all([loadVersions(), loadHealth()]);
}

function restart() { state.tokens = [null]; state.page = 0; loadVersions(); }

document.addEventListener("DOMContentLoaded", async () => {
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); restart(); loadHealth(); });
  $("model").addEventListener("change", restart);
  $("status").addEventListener("change", restart);
  $("page-size").addEventListener("change", restart);
  $("next").addEventListener("click", () => { state.page += 1; loadVersions(); });
  $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); loadVersions(); });
  $("reconcile").addEventListener("click", () => {
    const r = state.actions.reconcile;
    trigger(r.dag_id, {}, "every pending or failed version");
  });
  loadHealth();
  loadModels();
  await loadActions();
  await loadVersions();
  document.body.dataset.ready = "true";
});
