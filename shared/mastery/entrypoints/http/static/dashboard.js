// The mastery dashboard: a teacher's class heat map and alerts, a student's view.
// Reads only the public API with the signed-in bearer token; no build step, no dependencies.
"use strict";

const TOKEN_KEY = "mastery.token";
const POLL_MS = 10000;
const LEVEL_SHORT = { Beginner: "B", Learning: "L", Proficient: "P", Mastered: "M" };

const meta = document.querySelector('meta[name="mastery-api"]');
const API = {
  query: "",
  predict: meta.dataset.predict || "",
  recommend: meta.dataset.recommend || "",
};

const held = new Map(); // url -> {etag, data}: conditional requests while polling
let pollTimer = null;
let expiryTimer = null;
let classState = { id: null, view: null, sortKey: "student", ascending: true };

class SignInNeeded extends Error {}

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

// --- session -------------------------------------------------------------------------------

function claimsOf(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims || (claims.exp && claims.exp * 1000 <= Date.now())) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return { token, claims };
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  held.clear();
  stopPolling();
  clearTimeout(expiryTimer);
  $("sign-in-message").textContent = message || "";
  if (location.hash !== "") history.replaceState(null, "", location.pathname);
  route();
}

function home(claims) {
  if (claims.role === "student") return `#/student/${encodeURIComponent(claims.sub)}`;
  if (claims.role === "teacher" && (claims.classes || []).length > 0) {
    return `#/class/${encodeURIComponent(claims.classes[0])}`;
  }
  return "#/classes";
}

function takeTokenFromFragment() {
  // `make run` prints a URL with the token in the fragment, which never reaches a server.
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  const current = session();
  history.replaceState(null, "", location.pathname + (current ? home(current.claims) : ""));
}

// --- API -----------------------------------------------------------------------------------

async function api(base, path, options = {}) {
  const current = session();
  if (!current) throw new SignInNeeded("Your session has expired. Please sign in again.");
  const url = API[base] + path;
  const headers = { Authorization: `Bearer ${current.token}` };
  const method = options.method || "GET";
  const kept = method === "GET" ? held.get(url) : undefined;
  if (kept) headers["If-None-Match"] = kept.etag;
  const response = await fetch(url, { method, headers, cache: "no-store" });
  if (response.status === 304 && kept) return { data: kept.data, changed: false };
  if (response.status === 401) {
    throw new SignInNeeded("Your session has expired or the token was refused. Please sign in again.");
  }
  if (!response.ok) {
    let title = response.statusText;
    try {
      title = (await response.json()).title || title;
    } catch {
      /* not problem+json */
    }
    const error = new Error(`${title} (${response.status})`);
    error.status = response.status;
    throw error;
  }
  const data = await response.json();
  const etag = response.headers.get("ETag");
  if (etag && method === "GET") held.set(url, { etag, data });
  return { data, changed: true };
}

function showError(error) {
  if (error instanceof SignInNeeded) {
    signOut(error.message);
    return;
  }
  const box = $("error");
  box.textContent = error.status === 403
    ? "This token may not see that page."
    : `Could not load: ${error.message}`;
  box.hidden = false;
}

// --- formatting ----------------------------------------------------------------------------

const percent = (p) => `${Math.round(p * 100)}%`;
const hundred = (x) => String(Math.round(x * 100));
const oneDecimal = (x) => x.toFixed(1);

function topicLabel(topicId) {
  return topicId.split(".").pop().replace(/_/g, " ");
}

function levelCell(tag, score, level, colour) {
  const cell = el(tag, { class: `level colour-${colour}`, "data-level": level, "data-colour": colour });
  cell.append(
    el("span", { class: "score" }, score),
    " ",
    el("span", { class: "level-short", "aria-hidden": "true" }, LEVEL_SHORT[level] || level),
    el("span", { class: "level-name visually-hidden" }, level),
  );
  return cell;
}

// --- teacher view --------------------------------------------------------------------------

function bandOf(levels, score) {
  return levels.find((band) => score >= band.min_score && score <= band.max_score);
}

function sortedRows(view) {
  const { sortKey, ascending } = classState;
  const value = (row) => {
    if (sortKey === "student") return row.student_id;
    if (sortKey === "overall") return row.score;
    return row.topics[sortKey] ?? -1;
  };
  const rows = [...view.students];
  rows.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    const order = x < y ? -1 : x > y ? 1 : a.student_id < b.student_id ? -1 : 1;
    return ascending ? order : -order;
  });
  return rows;
}

function sortButton(key, label, fullLabel) {
  const active = classState.sortKey === key;
  const th = el("th", { scope: "col", "data-key": key });
  if (active) th.setAttribute("aria-sort", classState.ascending ? "ascending" : "descending");
  const button = el("button", { type: "button", class: "sort", title: `Sort by ${fullLabel}` }, label);
  if (fullLabel !== label) button.setAttribute("aria-label", `Sort by ${fullLabel}`);
  button.addEventListener("click", () => {
    classState.ascending = classState.sortKey === key ? !classState.ascending : key === "student";
    classState.sortKey = key;
    renderHeatMap();
    document.querySelector(`#heat-map th[data-key="${CSS.escape(key)}"] button`).focus();
  });
  th.append(button);
  return th;
}

function renderLegend(levels) {
  const legend = $("legend");
  legend.replaceChildren(
    ...levels.map((band) =>
      el(
        "li",
        { class: `level colour-${band.colour}` },
        `${LEVEL_SHORT[band.level]} = ${band.level} (${band.min_score}–${band.max_score})`,
      ),
    ),
  );
}

function renderHeatMap() {
  const view = classState.view;
  const head = el(
    "tr",
    {},
    sortButton("student", "Student", "student"),
    sortButton("overall", "Overall", "overall score"),
    ...view.topics.map((topic) => sortButton(topic, topicLabel(topic), topic)),
  );
  $("heat-map").tHead.replaceChildren(head);
  const body = $("heat-map").tBodies[0];
  body.replaceChildren(
    ...sortedRows(view).map((row) => {
      const href = `#/student/${encodeURIComponent(row.student_id)}`;
      const tr = el("tr", { "data-student": row.student_id });
      tr.append(el("th", { scope: "row" }, el("a", { href }, row.student_id)));
      const overall = bandOf(view.levels, row.score);
      tr.append(levelCell("td", row.score, row.level, overall.colour));
      for (const topic of view.topics) {
        const score = row.topics[topic] ?? 0;
        const band = bandOf(view.levels, score);
        const cell = levelCell("td", score, band.level, band.colour);
        cell.dataset.topic = topic;
        tr.append(cell);
      }
      tr.addEventListener("click", (event) => {
        if (!(event.target instanceof HTMLAnchorElement)) location.hash = href;
      });
      return tr;
    }),
  );
}

let shownAlerts = "";

function alertItem(alert) {
  const trigger = alert.trigger.replace(/_/g, " ");
  const when = new Date(alert.raised_at).toLocaleString();
  const detail = alert.detail ? ` (${alert.detail})` : "";
  const item = el("li", { "data-alert": alert.id }, `${trigger}${detail} in ${alert.topic_name}, ${when} `);
  const button = el(
    "button",
    { type: "button", "aria-label": `Acknowledge ${trigger} alert for ${alert.student_id} in ${alert.topic_name}` },
    "Acknowledge",
  );
  button.addEventListener("click", () => acknowledge(alert, item, button));
  item.append(button);
  return item;
}

function renderAlerts(page) {
  const shown = JSON.stringify(page.alerts);
  if (shown === shownAlerts) return; // unchanged: keep the list (and the keyboard focus in it)
  shownAlerts = shown;
  const byStudent = new Map();
  for (const alert of page.alerts) {
    if (!byStudent.has(alert.student_id)) byStudent.set(alert.student_id, []);
    byStudent.get(alert.student_id).push(alert);
  }
  const students = [...byStudent.keys()].sort();
  $("alerts").replaceChildren(
    ...students.map((student) => {
      const alerts = byStudent.get(student);
      const href = `#/student/${encodeURIComponent(student)}`;
      return el(
        "li",
        { "data-student": student },
        el("a", { href }, student),
        el("span", { class: "count" }, ` — ${alerts.length} open`),
        el("ul", {}, ...alerts.map(alertItem)),
      );
    }),
  );
  $("alerts-empty").hidden = page.alerts.length > 0;
}

async function acknowledge(alert, item, button) {
  button.disabled = true;
  try {
    const path = `/v1/students/${encodeURIComponent(alert.student_id)}/alerts/${encodeURIComponent(alert.id)}/ack`;
    await api("recommend", path, { method: "POST" });
    const group = item.closest("li[data-student]");
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    shownAlerts = "";
    const left = group.querySelectorAll("li[data-alert]").length;
    if (left === 0) group.remove();
    else group.querySelector(".count").textContent = ` — ${left} open`;
    $("alerts-empty").hidden = $("alerts").children.length > 0;
    $("class-status").textContent = `Alert acknowledged for ${alert.student_id}.`;
    const focus = next ? next.querySelector("button") : $("alerts").querySelector("button");
    (focus || $("alerts-title")).focus();
  } catch (error) {
    button.disabled = false;
    showError(error);
  }
}

async function loadClass(classId) {
  const path = `/v1/classes/${encodeURIComponent(classId)}/mastery`;
  const [mastery, alerts] = await Promise.all([
    api("query", path),
    api("recommend", `/v1/classes/${encodeURIComponent(classId)}/alerts?status=open&limit=200`),
  ]);
  if (mastery.changed || classState.id !== classId) {
    classState.view = mastery.data;
    classState.id = classId;
    renderLegend(mastery.data.levels);
    renderHeatMap();
  }
  renderAlerts(alerts.data);
  const time = new Date().toLocaleTimeString();
  $("class-status").textContent = `${mastery.data.students.length} students, as of ${mastery.data.as_of}; checked ${time}.`;
}

function showClass(classId) {
  $("class-title").textContent = `Class ${classId}`;
  show("class-view");
  const poll = async () => {
    try {
      if (!document.hidden) await loadClass(classId);
      pollTimer = setTimeout(poll, POLL_MS);
    } catch (error) {
      showError(error);
    }
  };
  poll();
}

// --- student view --------------------------------------------------------------------------

function renderHistoryChart(history) {
  const chart = $("history-chart");
  const width = 640;
  const height = 220;
  const pad = { left: 36, right: 12, top: 10, bottom: 28 };
  const days = history.days;
  const x = (i) => pad.left + (i * (width - pad.left - pad.right)) / Math.max(days.length - 1, 1);
  const y = (score) => pad.top + ((100 - score) * (height - pad.top - pad.bottom)) / 100;
  const parts = [];
  for (const tick of [0, 25, 50, 75, 100]) {
    parts.push(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }));
    parts.push(svg("text", { x: pad.left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, String(tick)));
  }
  if (days.length > 0) {
    const points = days.map((day, i) => `${x(i)},${y(day.score)}`).join(" ");
    parts.push(svg("polyline", { points, class: "line" }));
    days.forEach((day, i) => {
      const dot = svg("circle", { cx: x(i), cy: y(day.score), r: 3, class: "dot" });
      dot.append(svg("title", {}, `${day.date}: ${day.score} (${day.level})`));
      parts.push(dot);
    });
    parts.push(svg("text", { x: pad.left, y: height - 8, class: "axis" }, days[0].date));
    parts.push(svg("text", { x: width - pad.right, y: height - 8, class: "axis", "text-anchor": "end" }, days[days.length - 1].date));
  }
  chart.replaceChildren(...parts);
  const scores = days.map((day) => day.score);
  $("history-text").textContent = days.length === 0
    ? "No history yet."
    : `Overall score from ${days[0].date} (${scores[0]}) to ${days[days.length - 1].date} ` +
      `(${scores[scores.length - 1]}); lowest ${Math.min(...scores)}, highest ${Math.max(...scores)}.`;
  $("history-table").tBodies[0].replaceChildren(
    ...days.map((day) => el("tr", {}, el("th", { scope: "row" }, day.date), el("td", {}, day.score), el("td", {}, day.level))),
  );
}

function forecastText(forecast, horizon) {
  if (forecast.status !== "ok") {
    return `Not enough history for a forecast (${forecast.history_days} days); current score ${oneDecimal(forecast.current_score)}.`;
  }
  const next = forecast.next_level
    ? forecast.days_to_next_level === null
      ? ` ${forecast.next_level} is not in reach at this pace.`
      : ` ${forecast.next_level} in about ${forecast.days_to_next_level} days.`
    : "";
  const risk = forecast.at_risk ? " At risk." : "";
  return `In ${horizon} days: ${oneDecimal(forecast.forecast)} (interval ${oneDecimal(forecast.interval.lower)}–${oneDecimal(forecast.interval.upper)}), trend ${forecast.trend}.${next}${risk}`;
}

function renderStudent(mastery, forecast, recommendations) {
  $("student-title").textContent = `Student ${mastery.student_id}`;
  $("student-summary").replaceChildren(
    "Overall ",
    levelCell("span", mastery.score, mastery.level, mastery.colour),
    ` as of ${mastery.as_of}.`,
  );
  const level = Math.round(forecast.interval_level * 100);
  $("forecast-overall").textContent = `${forecastText(forecast.overall, forecast.horizon_days)} (${level}% interval.)`;
  const byTopic = new Map(forecast.topics.map((topic) => [topic.topic, topic]));
  $("topics").tBodies[0].replaceChildren(
    ...mastery.topics.map((topic) => {
      const outlook = byTopic.get(topic.topic);
      const ok = outlook && outlook.status === "ok";
      const c = topic.components;
      return el(
        "tr",
        { "data-topic": topic.topic },
        el("th", { scope: "row" }, topic.name),
        el("td", { "data-field": "score" }, topic.score),
        el("td", { class: `level colour-${topic.colour}`, "data-field": "level", "data-colour": topic.colour }, topic.level),
        el("td", { "data-field": "completion" }, hundred(c.completion)),
        el("td", { "data-field": "quiz" }, hundred(c.quiz)),
        el("td", { "data-field": "quality" }, hundred(c.quality)),
        el("td", { "data-field": "consistency" }, hundred(c.consistency)),
        el("td", { "data-field": "forecast" }, ok ? oneDecimal(outlook.forecast) : "—"),
        el("td", { "data-field": "interval" }, ok ? `${oneDecimal(outlook.interval.lower)}–${oneDecimal(outlook.interval.upper)}` : "—"),
        el("td", { "data-field": "trend" }, ok ? outlook.trend : "not enough history"),
        el("td", { "data-field": "p_next_correct" }, outlook ? percent(outlook.learner.p_next_correct) : "—"),
        el("td", { "data-field": "p_mastered" }, outlook ? percent(outlook.learner.p_mastered) : "—"),
      );
    }),
  );
  $("recommendations").replaceChildren(
    ...recommendations.recommendations.map((item) =>
      el(
        "li",
        { "data-topic": item.topic },
        el("strong", {}, `${item.topic_name}: ${item.kind.replace(/_/g, " ")}`),
        ` (about ${item.estimated_minutes} min) — `,
        el("span", { class: "reason" }, item.reason),
      ),
    ),
  );
}

async function showStudent(studentId, claims) {
  show("student-view");
  const back = $("back");
  const classes = claims.classes || [];
  back.parentElement.hidden = claims.role === "student";
  back.href = classes.length ? `#/class/${encodeURIComponent(classes[0])}` : "#/classes";
  const id = encodeURIComponent(studentId);
  const [mastery, history, forecast, recommendations] = await Promise.all([
    api("query", `/v1/students/${id}/mastery`),
    api("query", `/v1/students/${id}/history?days=30`),
    api("predict", `/v1/students/${id}/forecast?horizon_days=7`),
    api("recommend", `/v1/students/${id}/recommendations?limit=10`),
  ]);
  renderStudent(mastery.data, forecast.data, recommendations.data);
  renderHistoryChart(history.data);
  $("main").focus();
}

// --- navigation ----------------------------------------------------------------------------

const SECTIONS = ["sign-in", "class-picker", "class-view", "student-view"];

function show(id) {
  for (const section of SECTIONS) $(section).hidden = section !== id;
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

async function route() {
  stopPolling();
  $("error").hidden = true;
  const current = session();
  $("nav").hidden = !current;
  if (!current) {
    show("sign-in");
    $("token").focus();
    return;
  }
  const { claims } = current;
  $("who").textContent = `Signed in as ${claims.sub} (${claims.role})`;
  clearTimeout(expiryTimer);
  if (claims.exp) {
    const left = claims.exp * 1000 - Date.now();
    expiryTimer = setTimeout(() => signOut("Your session has expired. Please sign in again."), Math.min(left, 2 ** 31 - 1));
  }
  const [, kind, id] = location.hash.match(/^#\/(class|student|classes)\/?([^/]*)$/) || [];
  try {
    if (kind === "class" && id) showClass(decodeURIComponent(id));
    else if (kind === "student" && id) await showStudent(decodeURIComponent(id), claims);
    else if (kind === "classes") show("class-picker");
    else location.replace(home(claims));
  } catch (error) {
    showError(error);
  }
}

function start() {
  takeTokenFromFragment();
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    const current = session();
    if (!current) {
      signOut("That token cannot be read or has expired.");
      return;
    }
    $("sign-in-message").textContent = "";
    if (location.hash === home(current.claims)) route();
    else location.hash = home(current.claims);
  });
  $("class-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/class/${encodeURIComponent($("class-id").value.trim())}`;
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", route);
  route();
}

start();
