// The tradenode dashboard: the node's state from /api/state, /api/orders and /api/nav, kept
// live from the event stream /api/events (read with fetch, because EventSource cannot send the
// bearer header). Plain DOM, no build step, nothing loaded from elsewhere. Every value shown
// is set as text, never as HTML: parent ids and reasons come from whoever submitted them.
"use strict";

const TOKEN_KEY = "tradenode.token";
const KEEP_FILLS = 50;
const KEEP_FINISHED = 12;

const model = { state: null, orders: new Map(), fills: [], nav: [] };
let token = sessionStorage.getItem(TOKEN_KEY);

const $ = (id) => document.getElementById(id);

// -- talking to the node ---------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    await askToken(token ? "That token was refused." : "");
    return api(path, options);
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON: keep the status text */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function askToken(why) {
  const dialog = $("token-dialog");
  if (why) dialog.querySelector("p").textContent = why;
  return new Promise((resolve) => {
    $("token-ok").onclick = () => {
      token = $("token-input").value.trim();
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token-input").value = "";
      dialog.close();
      resolve();
    };
    if (!dialog.open) dialog.showModal();
  });
}

async function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function refreshState() {
  model.state = await (await api("/api/state")).json();
  model.fills = model.state.recent_fills.slice(-KEEP_FILLS);
  renderHeader();
  renderVenues();
  renderPositions();
  renderFills();
}

async function refreshOrders() {
  const list = await (await api("/api/orders")).json();
  model.orders = new Map(list.map((o) => [o.parent_id, o]));
  renderOrders();
}

async function refreshNav() {
  model.nav = (await (await api("/api/nav")).json()).map(([ts, nav]) => ({ ts, nav: Number(nav) }));
  renderNav();
}

// Refreshes asked for by events, at most one of each kind in flight and a few per second.
const pending = new Map();
function later(kind) {
  if (pending.has(kind)) return;
  const run = { state: refreshState, orders: refreshOrders }[kind];
  pending.set(kind, setTimeout(async () => {
    try {
      await run();
    } catch (error) {
      showMessage(`refreshing ${kind}: ${error.message}`);
    } finally {
      pending.delete(kind);
    }
  }, 250));
}

// -- the event stream ------------------------------------------------------------------------

async function stream() {
  for (;;) {
    try {
      const response = await api("/api/events", { headers: { Accept: "text/event-stream" } });
      setLink(true);
      await Promise.all([refreshState(), refreshOrders(), refreshNav()]);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      showMessage(`event stream: ${error.message}`);
    }
    setLink(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function dispatch(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length || !data.join("")) return; // a comment: the node is alive
  try {
    onEvent(type, JSON.parse(data.join("\n")));
  } catch (error) {
    showMessage(`event ${type}: ${error.message}`);
  }
}

function onEvent(type, m) {
  switch (type) {
    case "ParentOrderProgressed": {
      const o = model.orders.get(m.parent_id);
      if (!o) return later("orders");
      Object.assign(o, {
        filled_quantity: m.filled_quantity,
        remaining_quantity: m.remaining_quantity,
        average_price: m.average_price,
        scheduled_quantity: m.scheduled_quantity,
        open_quantity: m.open_quantity,
        open_children: m.open_children,
        progress: m.state,
      });
      return renderOrders();
    }
    case "ParentOrderCompleted": {
      const o = model.orders.get(m.parent_id);
      if (o) {
        Object.assign(o, {
          state: "completed",
          status: m.status,
          reason: m.reason,
          filled_quantity: m.report.filled_quantity,
          average_price: m.report.average_price,
          progress: m.status,
        });
        renderOrders();
      }
      later("orders");
      return later("state");
    }
    case "ParentOrderAccepted":
    case "ParentOrderWaiting":
    case "ParentOrderRejected":
      later("orders");
      return later("state");
    case "OrderFilled":
    case "OrderPartiallyFilled":
      model.fills.push(m);
      model.fills = model.fills.slice(-KEEP_FILLS);
      renderFills();
      return later("state");
    case "AccountValued":
      if (m.valuation) addNav(m.valuation);
      return;
    case "NavRecorded":
      addNav(m);
      return later("state");
    case "TradingStateChanged":
      if (model.state) {
        model.state.trading_state = m.state;
        model.state.trading_reason = m.reason;
        renderHeader();
      }
      return later("state");
    default:
      return later("state");
  }
}

function addNav(valuation) {
  model.nav.push({ ts: valuation.ts, nav: Number(valuation.nav) });
  if (model.nav.length > 1800) model.nav.shift();
  if (model.state) {
    model.state.nav = valuation;
    renderHeader();
  }
  renderNav();
}

// -- rendering -------------------------------------------------------------------------------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function num(text, className) {
  return el("td", text, "num" + (className ? " " + className : ""));
}

function qty(value) {
  if (value === null || value === undefined) return "–";
  const text = String(value);
  return text.includes(".") && !/e/i.test(text) ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

function money(value, currency) {
  if (value === null || value === undefined) return "–";
  const text = Number(value).toLocaleString("en-US", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  });
  return currency ? `${text} ${currency}` : text;
}

function price(value) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

function amount(value) {
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 8 });
}

function time(ns) {
  return new Date(ns / 1e6).toISOString().slice(11, 19);
}

function renderHeader() {
  const s = model.state;
  if (!s) return;
  $("node-name").textContent = s.node;
  const badge = $("trading");
  badge.textContent = s.trading_state || "starting";
  badge.dataset.state = s.trading_state || "";
  $("trading-reason").textContent = [s.trading_reason, s.ready ? "" : "waiting for venues"]
    .filter(Boolean)
    .join(" · ");
  $("halt").disabled = s.trading_state === "halted";
  $("reduce").disabled = s.trading_state !== "active";
  $("resume").disabled = s.trading_state === "active";
  if (s.nav) {
    $("nav-value").textContent = money(s.nav.nav, s.nav.currency);
    $("nav-pnl").textContent =
      `realised ${money(s.nav.realized_pnl)} · unrealised ${money(s.nav.unrealized_pnl)} · ` +
      `fees ${money(s.nav.fees)}`;
  }
  document.title = `tradenode ${s.node} · ${s.trading_state || "starting"}`;
}

function renderVenues() {
  const body = $("venues").tBodies[0];
  body.replaceChildren();
  for (const v of model.state.venues) {
    const status = el("td");
    status.append(el("span", null, "dot " + (v.connected ? "up" : "down")));
    let text = v.connected ? "connected" : `down${v.reason ? ": " + v.reason : ""}`;
    if (v.status) text += ` (${v.status}${v.detail ? ": " + v.detail : ""})`;
    status.append(text);
    const balances = el("td", null, "balances");
    for (const [currency, b] of Object.entries(v.balances).sort()) {
      const item = el("div");
      item.append(el("b", `${amount(b.total)} ${currency}`));
      if (Number(b.free) !== Number(b.total)) item.append(` (free ${amount(b.free)})`);
      balances.append(item);
    }
    const tr = row([el("td", v.name), status, balances]);
    tr.dataset.venue = v.name;
    body.append(tr);
  }
}

function renderPositions() {
  const body = $("positions").tBodies[0];
  body.replaceChildren();
  const open = model.state.positions.filter((p) => Number(p.quantity) !== 0);
  for (const p of open) {
    const unrealised = Number(p.unrealized_pnl);
    const tr = row([
      el("td", p.symbol),
      el("td", p.venue),
      num(qty(p.quantity), Number(p.quantity) > 0 ? "buy" : "sell"),
      num(price(p.average_price)),
      num(price(p.mark)),
      num(money(p.unrealized_pnl), unrealised >= 0 ? "buy" : "sell"),
    ]);
    tr.dataset.position = `${p.symbol}@${p.venue}`;
    body.append(tr);
  }
  $("positions-empty").hidden = open.length > 0;
}

function renderOrders() {
  const body = $("orders").tBodies[0];
  body.replaceChildren();
  const all = [...model.orders.values()].sort((a, b) => b.updated_ts - a.updated_ts);
  const open = all.filter((o) => !["completed", "rejected"].includes(o.state));
  const finished = all.filter((o) => ["completed", "rejected"].includes(o.state));
  for (const o of [...open, ...finished.slice(0, KEEP_FINISHED)]) body.append(orderRow(o));
  $("orders-empty").hidden = model.orders.size > 0;
}

function orderRow(o) {
  const quantity = Number(o.quantity);
  const fraction = quantity > 0 ? Math.min(1, Number(o.filled_quantity) / quantity) : 0;
  const bar = el("div", null, "bar");
  bar.dataset.state = o.state;
  bar.dataset.status = o.status || "";
  const fill = el("div", null, "fill");
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  bar.append(fill);
  if (o.scheduled_quantity !== null && o.scheduled_quantity !== undefined && quantity > 0) {
    const mark = el("div", null, "scheduled");
    mark.style.left = `${Math.min(100, (Number(o.scheduled_quantity) / quantity) * 100)}%`;
    mark.title = `scheduled by now: ${qty(o.scheduled_quantity)}`;
    bar.append(mark);
  }
  const barCell = el("td");
  barCell.append(bar);

  let state = o.state;
  if (o.state === "completed") state = o.status + (o.reason ? `: ${o.reason}` : "");
  else if (o.state === "rejected") state = `rejected: ${o.reason}`;
  else if (o.progress && o.progress !== o.state) state = `${o.state}: ${o.progress}`;

  const actions = el("td");
  if (!["completed", "rejected"].includes(o.state)) {
    const cancel = el("button", "Cancel", "small");
    cancel.type = "button";
    cancel.onclick = () => cancelOrder(o.parent_id);
    actions.append(cancel);
  }
  const tr = row([
    el("td", o.parent_id),
    el("td", o.algo),
    el("td", `${o.side} ${qty(o.quantity)} ${o.symbol}`),
    barCell,
    num(`${qty(o.filled_quantity)} (${Math.floor(fraction * 100)}%)`),
    num(price(o.average_price)),
    el("td", state, "state"),
    actions,
  ]);
  tr.dataset.parent = o.parent_id;
  tr.dataset.state = o.state;
  tr.dataset.fraction = fraction.toFixed(4);
  if (["completed", "rejected"].includes(o.state)) tr.classList.add("finished");
  return tr;
}

function renderFills() {
  const body = $("fills").tBodies[0];
  body.replaceChildren();
  for (const f of [...model.fills].reverse()) {
    body.append(
      row([
        el("td", time(f.ts)),
        el("td", f.venue),
        el("td", f.side, f.side),
        num(qty(f.quantity)),
        el("td", f.symbol),
        num(price(f.price)),
        num(`${qty(f.fee)} ${f.fee_currency}`),
        el("td", f.liquidity),
        el("td", f.parent_id || "–"),
      ]),
    );
  }
  $("fills-empty").hidden = model.fills.length > 0;
}

function renderNav() {
  const canvas = $("nav-chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = 220;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const style = getComputedStyle(document.documentElement);
  const muted = style.getPropertyValue("--muted").trim();
  const line = style.getPropertyValue("--line").trim();
  const accent = style.getPropertyValue("--accent").trim();
  g.font = "12px 'DejaVu Sans', sans-serif";
  const points = model.nav;
  if (points.length < 2) {
    g.fillStyle = muted;
    g.fillText("The NAV line starts once two valuations are in (one every two seconds).", 12, 24);
    return;
  }
  const left = 12;
  const right = width - 110;
  const top = 12;
  const bottom = height - 24;
  let low = Math.min(...points.map((p) => p.nav));
  let high = Math.max(...points.map((p) => p.nav));
  if (high - low < 1e-9) {
    low -= 1;
    high += 1;
  }
  const pad = (high - low) * 0.1;
  low -= pad;
  high += pad;
  const t0 = points[0].ts;
  const t1 = points[points.length - 1].ts;
  const x = (ts) => left + ((ts - t0) / Math.max(1, t1 - t0)) * (right - left);
  const y = (nav) => bottom - ((nav - low) / (high - low)) * (bottom - top);

  g.strokeStyle = line;
  g.fillStyle = muted;
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const value = low + ((high - low) * i) / 4;
    const yy = Math.round(y(value)) + 0.5;
    g.beginPath();
    g.moveTo(left, yy);
    g.lineTo(right, yy);
    g.stroke();
    g.fillText(money(value), right + 8, yy + 4);
  }
  g.fillText(time(t0), left, height - 6);
  const last = time(t1);
  g.fillText(last, right - g.measureText(last).width, height - 6);

  g.strokeStyle = accent;
  g.lineWidth = 2;
  g.beginPath();
  points.forEach((p, i) => (i ? g.lineTo(x(p.ts), y(p.nav)) : g.moveTo(x(p.ts), y(p.nav))));
  g.stroke();
  const end = points[points.length - 1];
  g.fillStyle = accent;
  g.beginPath();
  g.arc(x(end.ts), y(end.nav), 3, 0, 2 * Math.PI);
  g.fill();
}

function setLink(live) {
  const link = $("link");
  link.dataset.live = live ? "yes" : "no";
  link.textContent = live ? "live" : "reconnecting…";
  if (live) hideMessage();
}

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
}

function hideMessage() {
  $("message").hidden = true;
}

// -- commands --------------------------------------------------------------------------------

const COMMANDS = {
  halt: {
    title: "Halt trading?",
    text:
      "The kill switch: the node refuses new child orders and cancels every open one. " +
      "Parent orders wait until you resume.",
    confirm: "Halt trading",
    reason: "halted from the dashboard",
    path: "/api/halt",
    body: { cancel_open_orders: true },
  },
  reduce: {
    title: "Reduce only?",
    text: "Only orders that reduce a position are sent from now on.",
    confirm: "Reduce only",
    reason: "reduce-only from the dashboard",
    path: "/api/reduce-only",
    body: {},
  },
  resume: {
    title: "Resume trading?",
    text: "Waiting parent orders are worked again. Resume only once you know why it stopped.",
    confirm: "Resume trading",
    reason: "resumed from the dashboard",
    path: "/api/resume",
    body: {},
  },
};

function confirmCommand(name) {
  const command = COMMANDS[name];
  const dialog = $("confirm");
  $("confirm-title").textContent = command.title;
  $("confirm-text").textContent = command.text;
  $("confirm-reason").value = command.reason;
  $("confirm-yes").textContent = command.confirm;
  $("confirm-no").onclick = () => dialog.close();
  $("confirm-yes").onclick = async () => {
    const reason = $("confirm-reason").value.trim() || command.reason;
    dialog.close();
    try {
      const body = Object.assign({ reason, source: "dashboard" }, command.body);
      const answer = await (await post(command.path, body)).json();
      showMessage(answer.detail, "info");
      later("state");
    } catch (error) {
      showMessage(`${command.confirm}: ${error.message}`);
    }
  };
  dialog.showModal();
}

async function cancelOrder(parentId) {
  if (!window.confirm(`Cancel parent order ${parentId}? No child order is left open.`)) return;
  try {
    const reason = encodeURIComponent("canceled from the dashboard");
    await api(`/api/orders/${encodeURIComponent(parentId)}?reason=${reason}`, {
      method: "DELETE",
    });
    later("orders");
  } catch (error) {
    showMessage(`cancel ${parentId}: ${error.message}`);
  }
}

// -- start -----------------------------------------------------------------------------------

for (const name of Object.keys(COMMANDS)) $(name).onclick = () => confirmCommand(name);
window.addEventListener("resize", renderNav);
stream();
