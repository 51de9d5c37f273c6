// The try-it page: classify a text with /v1/predict, highlight its words with /v1/explain.
// Plain DOM, no framework, no network beyond this server. User text only ever goes through
// textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let payload = null;
  try { payload = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const message = payload && payload.error ? payload.error.message : `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return payload;
}

function percent(x) { return `${(100 * x).toFixed(1)}%`; }

// A label or model name as the page shows it: each character that is not printable (a
// right-to-left override, a zero-width or non-breaking space, a line break) written as its escape,
// as the command line shows it (Python's isprintable): a label holding U+202E reversed the
// probability shown after it ("17.0%" read "%0.71"), and labels differing only in such a
// character looked the same.
function visible(name) {
  const named = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };
  return String(name).replace(/(?! )[\p{C}\p{Z}]/gu, (ch) => {
    if (named[ch]) return named[ch];
    const code = ch.codePointAt(0);
    const [prefix, width] = code < 0x100 ? ["x", 2] : code < 0x10000 ? ["u", 4] : ["U", 8];
    return `\\${prefix}${code.toString(16).padStart(width, "0")}`;
  });
}

function currentModel() { return models.find((m) => m.name === $("model").value) || models[0]; }

function showModelInfo() {
  const model = currentModel();
  if (!model) return;
  const test = model.metrics && model.metrics.test;
  const bits = [visible(model.recipe || model.kind)];
  if (test && typeof test.accuracy === "number") bits.push(`test accuracy ${percent(test.accuracy)}`);
  $("model-info").textContent = bits.join(" · ");
}

async function loadModels() {
  try {
    models = (await api("/v1/models")).models;
  } catch (error) {
    showError(`cannot list models: ${error.message}`);
    return;
  }
  const select = $("model");
  for (const model of models) {
    const option = document.createElement("option");
    option.value = model.name;
    option.textContent = visible(model.name) + (model.default ? " (default)" : "");
    select.appendChild(option);
  }
  showModelInfo();
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// The prediction as `predict` decides it: the best label, or for a multi-label model the labels
// at or over their thresholds with each one's probability ("no label" where none reaches its
// own). The best-scoring label alone named, for a multi-label model, a label predict does not give.
function decided(prediction) {
  if (!Array.isArray(prediction.labels)) {
    const text = visible(prediction.label);
    return { labels: [prediction.label], text, score: percent(prediction.score) };
  }
  const chosen = prediction.labels;
  if (!chosen.length) return { labels: [], text: "no label", score: "none reaches its threshold" };
  const scores = chosen.map((label) => percent(prediction.scores[label]));
  return { labels: chosen, text: chosen.map(visible).join(", "), score: scores.join(", ") };
}

// The most bars drawn: past it, the most probable labels and every label given, then a line
// counting the rest (2,000 labels drew 2,000 bars in the run's order, the predicted one far
// down the page).
const PAGE_BARS = 20;

function renderBars(ranked, labels, chosen) {
  const scores = Object.fromEntries(ranked.map((r) => [r.label, r.score]));
  const container = $("probs");
  container.replaceChildren();
  let shown = labels;
  if (labels.length > PAGE_BARS) {
    const order = [...labels].sort((a, b) => (scores[b] || 0) - (scores[a] || 0));
    shown = order.filter((label, i) => i < PAGE_BARS || chosen.includes(label));
  }
  for (const label of shown) {
    const score = scores[label] || 0;
    const name = document.createElement("span");
    name.className = "bar-name";
    name.textContent = name.title = visible(label);
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill" + (chosen.includes(label) ? " best" : "");
    fill.style.width = percent(score);
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = percent(score);
    container.append(name, track, value);
  }
  if (shown.length < labels.length) {
    const kept = new Set(shown);
    const highest = Math.max(...labels.filter((l) => !kept.has(l)).map((l) => scores[l] || 0));
    const more = document.createElement("span");
    more.className = "bar-more";
    more.textContent = `${labels.length - shown.length} more labels, each at most ${percent(highest)}`;
    container.append(more);
  }
}

function renderTokens(explanation) {
  const container = $("tokens");
  container.replaceChildren();
  // Shade relative to an even share (1/n): a word with 3x its share or more is fully coloured,
  // so evenly spread attention reads as pale rather than as everything being important.
  const n = Math.max(explanation.tokens.length, 1);
  explanation.tokens.forEach((token, i) => {
    const span = document.createElement("span");
    span.className = "token";
    const weight = explanation.importances[i];
    span.style.setProperty("--alpha", (0.9 * Math.min(1, (weight * n) / 3)).toFixed(3));
    span.title = `importance ${percent(weight)}`;
    span.textContent = token;
    container.append(span, " ");
  });
  const strongest = explanation.tokens
    .map((t, i) => [t, explanation.importances[i]])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([t, w]) => `${t} (${percent(w)})`);
  const most = explanation.method.startsWith("occlusion") ? "Most decisive" : "Most attended";
  const notes = [`${most}: ${strongest.join(", ")}. Method: ${explanation.method}`];
  // truncated: the server's cut (--max-chars); partly_read: the model's own limit
  if (explanation.truncated) notes.push("the server cut the text to its character limit");
  if (explanation.partly_read) notes.push("the model read only part of the text");
  $("tokens-note").textContent = notes.join("; ") + ".";
}

async function classify() {
  const text = $("text").value;
  const model = currentModel();
  if (!text.trim()) { showError("Type or paste a text first."); return; }
  showError("");
  $("submit").disabled = true;
  $("status").textContent = "Classifying…";
  try {
    const labels = model ? model.labels : [];
    const predicted = api("/v1/predict", { texts: [text], top_k: Math.max(labels.length, 1), model: model && model.name });
    // attention: what the model read; occlusion: asks it which words decide (any model)
    const method = $("method").value || "attention";
    const explained = model && (model.explainable || method === "occlusion")
      ? api("/v1/explain", { text, model: model.name, method }).catch((error) => error)
      : Promise.resolve(null);
    const prediction = (await predicted).predictions[0];
    const shown = decided(prediction);
    $("label").textContent = $("label").title = shown.text;
    $("score").textContent = shown.score;
    renderBars(
      prediction.top_k, labels.length ? labels : prediction.top_k.map((r) => r.label), shown.labels);
    $("result").hidden = false;
    const explanation = await explained;
    if (explanation && !(explanation instanceof Error)) {
      renderTokens(explanation.explanations[0]);
    } else {
      $("tokens").replaceChildren();
      $("tokens-note").textContent = explanation instanceof Error
        ? `Word importances unavailable: ${explanation.message}`
        : "This model has no attention to show; choose occlusion to ask it which words decide.";
    }
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
  } finally {
    $("submit").disabled = false;
  }
}

$("submit").addEventListener("click", classify);
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) classify();
});
$("model").addEventListener("change", showModelInfo);
$("method").addEventListener("change", () => { if (!$("result").hidden) classify(); });
loadModels();
