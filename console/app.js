// crmhub operators' console: plain JS, no build step, no network access but the hub's API.
// Everything the API returns is rendered through textContent/attributes (never innerHTML).
"use strict";

(() => {
  const ENTITIES = ["customer", "product", "sale", "activity"];
  const LANES = ["high", "default", "low"];
  const SERIES = ["success", "error", "retry", "skipped"];
  const KEYS = { apiUrl: "crmhub.apiUrl", store: "crmhub.store", apiKey: "crmhub.apiKey" };
  const JOB_POLL_MS = 1000;
  const JOB_POLL_LIMIT = 300;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ DOM helpers
  // h("div", {class: "x", testid: "y", onclick: fn}, "text", child…): strings become text nodes.
  function h(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }

  function s(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function build(el, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "testid") el.setAttribute("data-testid", value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function show(...nodes) {
    $("view").replaceChildren(...nodes);
  }

  function when(value) {
    if (!value) return "—";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
  }

  function display(value) {
    if (value === null || value === undefined || value === "") return "(empty)";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
  }

  // ------------------------------------------------------------------ session
  function defaultApiUrl() {
    const fromQuery = new URLSearchParams(location.search).get("api");
    if (fromQuery) return fromQuery.replace(/\/+$/, "");
    // Served by the API itself at <api>/console/: the API is the parent path.
    const match = location.pathname.match(/^(.*)\/console(?:\/[^/]*)?$/);
    return location.origin + (match ? match[1] : "");
  }

  const session = {
    get apiUrl() { return sessionStorage.getItem(KEYS.apiUrl) || defaultApiUrl(); },
    get store() { return sessionStorage.getItem(KEYS.store) || ""; },
    get apiKey() { return sessionStorage.getItem(KEYS.apiKey) || ""; },
    save(apiUrl, store, apiKey) {
      sessionStorage.setItem(KEYS.apiUrl, apiUrl.replace(/\/+$/, ""));
      sessionStorage.setItem(KEYS.store, store);
      sessionStorage.setItem(KEYS.apiKey, apiKey);
    },
    forgetKey() { sessionStorage.removeItem(KEYS.apiKey); },
    clear() { Object.values(KEYS).forEach((k) => sessionStorage.removeItem(k)); },
  };

  // ------------------------------------------------------------------ API
  class ApiError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body;
    }
  }

  // path is relative to the store: "/stats" → <api>/api/v1/stores/<store>/stats
  async function api(method, path, body) {
    const url = `${session.apiUrl}/api/v1/stores/${encodeURIComponent(session.store)}${path}`;
    const init = { method, headers: { "x-api-key": session.apiKey, accept: "application/json" } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new ApiError(0, "network_error", `the API at ${session.apiUrl} did not answer (${err.message})`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const code = error.code || `http_${response.status}`;
      const message = error.message || (data && data.message) || text.slice(0, 200) || response.statusText;
      throw new ApiError(response.status, code, message, data);
    }
    return data;
  }

  // ------------------------------------------------------------------ banners
  function showError(err) {
    const status = err.status ? ` (HTTP ${err.status})` : "";
    const code = err.code || "error";
    $("error-text").textContent = `${code}: ${err.message}${status}`;
    $("error").hidden = false;
    if (signInAgain(err)) {
      session.forgetKey(); // a refused key is not tried again on the next load
      showLogin();
    }
  }

  // A missing/unknown key (the function's 401 or API Gateway's invalid_api_key 403).
  function signInAgain(err) {
    return err.status === 401 || err.code === "invalid_api_key";
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  let noticeTimer = null;
  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { $("notice").hidden = true; }, 8000);
  }

  // Runs an action from a button: disables it meanwhile, shows any error, never swallows it.
  async function act(button, action) {
    if (button) button.disabled = true;
    clearError();
    try {
      return await action();
    } catch (err) {
      showError(err);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ charts (inline SVG)
  // Horizontal bars: rows = [{label, value, title, testid, cls}]
  function barChart(rows, testid) {
    const rowH = 26, labelW = 110, valueW = 60, width = 1000;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const barW = width - labelW - valueW;
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${rows.length * rowH}`, width: "100%", role: "img", testid });
    rows.forEach((row, i) => {
      const y = i * rowH;
      svg.append(
        s("text", { x: 0, y: y + 17, class: "bar-label" }, row.label),
        s("rect", { x: labelW, y: y + 5, width: barW, height: 16, fill: "#eef0f3", rx: 3 }),
        s("rect", { x: labelW, y: y + 5, width: Math.round((barW * row.value) / max), height: 16, class: row.cls, rx: 3 },
          s("title", {}, row.title)),
        s("text", { x: width - valueW + 8, y: y + 17, class: "bar-label", testid: row.testid, "data-value": row.value }, row.value),
      );
    });
    return svg;
  }

  // Stacked columns per time bucket: buckets = [{start, success, error, retry, skipped}]
  function timeChart(buckets) {
    const width = 1000, height = 220, left = 36, bottom = 22, top = 8;
    const plotW = width - left - 8, plotH = height - bottom - top;
    const totals = buckets.map((b) => SERIES.reduce((sum, k) => sum + (Number(b[k]) || 0), 0));
    const max = Math.max(1, ...totals);
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", testid: "timeseries-chart" });
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotH - plotH * fraction;
      svg.append(
        s("line", { x1: left, x2: width - 8, y1: y, y2: y, class: "grid-line" }),
        s("text", { x: 0, y: y + 4 }, Math.round(max * fraction)),
      );
    }
    if (!buckets.length) {
      svg.append(s("text", { x: left + plotW / 2 - 40, y: top + plotH / 2, testid: "timeseries-empty" }, "no data yet"));
      return svg;
    }
    const slot = plotW / buckets.length;
    const colW = Math.max(2, slot * 0.7);
    buckets.forEach((bucket, i) => {
      const x = left + i * slot + (slot - colW) / 2;
      let y = top + plotH;
      const group = s("g", { testid: "timeseries-bucket", "data-start": bucket.start, "data-error": Number(bucket.error) || 0 });
      const label = new Date(bucket.start);
      const tip = `${when(bucket.start)} — ` + SERIES.map((k) => `${k} ${Number(bucket[k]) || 0}`).join(", ");
      for (const key of SERIES) {
        const value = Number(bucket[key]) || 0;
        if (!value) continue;
        const barH = (plotH * value) / max;
        y -= barH;
        group.append(s("rect", { x, y, width: colW, height: barH, class: `fill-${key}` }, s("title", {}, tip)));
      }
      if (buckets.length <= 24 || i % Math.ceil(buckets.length / 24) === 0) {
        const text = Number.isNaN(label.getTime()) ? "" : String(label.getHours()).padStart(2, "0");
        group.append(s("text", { x: x + colW / 2 - 6, y: height - 6 }, text));
      }
      svg.append(group);
    });
    return svg;
  }

  function legend() {
    return h("div", { class: "legend" }, SERIES.map((k) => h("span", {}, h("span", { class: `swatch fill-${k}` }), k)));
  }

  // ------------------------------------------------------------------ views
  function metric(label, value, testid, raw) {
    return h("div", { class: "card metric" },
      h("div", { class: "label" }, label),
      h("div", { class: "value", testid, "data-value": raw === undefined ? value : raw ?? "" }, value));
  }

  function laneTotal(depth) {
    return depth ? (depth.visible || 0) + (depth.in_flight || 0) + (depth.delayed || 0) : 0;
  }

  async function timeseries() {
    try {
      return await api("GET", "/stats/timeseries?hours=24&bucket_minutes=60");
    } catch (err) {
      if (err.status === 404 || err.status === 403) return null; // not deployed yet: an empty chart
      throw err;
    }
  }

  async function dashboardView() {
    const [stats, series] = await Promise.all([api("GET", "/stats"), timeseries()]);
    const queues = stats.queues || {};
    const laneRows = [];
    for (const lane of LANES) {
      const depth = queues[lane] || {};
      laneRows.push({
        label: lane, value: laneTotal(depth), cls: "fill-lane", testid: `lane-depth-${lane}`,
        title: `visible ${depth.visible || 0}, in flight ${depth.in_flight || 0}, delayed ${depth.delayed || 0}`,
      });
    }
    for (const lane of LANES) {
      const depth = queues[`${lane}_dlq`] || {};
      laneRows.push({ label: `${lane} DLQ`, value: laneTotal(depth), cls: "fill-dlq", testid: `dlq-depth-${lane}`, title: "dead letters" });
    }
    const buckets = (series && series.buckets) || [];
    const perKey = stats.by_entity_provider || [];
    show(
      h("div", { class: "row" }, h("h1", {}, "Dashboard"), h("span", { class: "spacer" }),
        h("button", { type: "button", testid: "refresh", onclick: () => route() }, "Refresh")),
      h("div", { class: "grid", testid: "dashboard" },
        metric("Success rate (24 h)", percent(stats.success_rate), "success-rate", stats.success_rate),
        metric("Processed today", stats.processed_today ?? 0, "processed-today"),
        metric("Errors (24 h)", stats.errors_24h ?? 0, "errors-24h"),
        metric("Retrying now", stats.retrying_now ?? 0, "retrying-now")),
      h("div", { class: "card" }, h("h2", {}, "Queue depth per lane"), barChart(laneRows, "lanes-chart")),
      h("div", { class: "card" },
        h("div", { class: "row" }, h("h2", {}, "Last 24 hours, per hour"), h("span", { class: "spacer" }), legend()),
        series ? null : h("p", { class: "muted", testid: "timeseries-missing" }, "The time series is not available on this API yet."),
        timeChart(buckets)),
      h("div", { class: "card" }, h("h2", {}, "Per entity and provider (24 h)"),
        perKey.length
          ? h("table", {}, h("tr", {}, ["entity", "provider", ...SERIES].map((c) => h("th", {}, c))),
            perKey.map((row) => h("tr", {}, h("td", {}, row.entity), h("td", {}, row.provider), SERIES.map((k) => h("td", {}, row[k] ?? 0)))))
          : h("p", { class: "muted" }, "Nothing synced in the last 24 hours.")),
    );
  }

  // --- connections and sync now
  const trackedJobs = new Map(); // job_id → last known job

  function jobCard(job) {
    const status = job.status || "?";
    return h("tr", { testid: `job-${job.job_id}`, "data-status": status },
      h("td", {}, h("code", {}, job.job_id)),
      h("td", {}, job.kind, job.provider ? ` · ${job.provider}` : "", job.entity ? ` · ${job.entity}` : ""),
      h("td", {}, h("span", { class: `badge ${status === "running" ? "running" : status === "failed" ? "error" : "ok"}`, testid: "job-status" }, status)),
      h("td", {}, `${job.records_read ?? 0}${job.total ? ` / ${job.total}` : ""}`),
      h("td", { class: "details" }, Object.entries(job.details || {}).map(([k, v]) => `${k}: ${display(v)}`).join(" · ")),
      h("td", {}, when(job.updated_at)));
  }

  function renderJobs() {
    const body = $("jobs-body");
    if (!body) return;
    body.replaceChildren(...[...trackedJobs.values()].reverse().map(jobCard));
    $("jobs-empty").hidden = trackedJobs.size > 0;
  }

  async function pollJob(jobId) {
    for (let i = 0; i < JOB_POLL_LIMIT; i++) {
      const job = trackedJobs.get(jobId);
      if (!job || job.status !== "running") return;
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
      try {
        trackedJobs.set(jobId, await api("GET", `/jobs/${encodeURIComponent(jobId)}`));
      } catch (err) {
        showError(err);
        return;
      }
      renderJobs();
    }
  }

  async function startJob(button, path, label) {
    const job = await act(button, () => api("POST", path));
    if (!job) return;
    trackedJobs.set(job.job_id, job);
    notice(`${label}: job ${job.job_id} is ${job.status}`);
    renderJobs();
    pollJob(job.job_id);
  }

  function connectionRow(conn) {
    const provider = conn.provider;
    const toggle = conn.enabled
      ? h("button", { type: "button", testid: `disable-${provider}`, onclick: (e) => setEnabled(e.target, provider, false) }, "Disable")
      : h("button", { type: "button", testid: `enable-${provider}`, onclick: (e) => setEnabled(e.target, provider, true) }, "Enable");
    const tested = conn.last_test_at
      ? h("span", {}, h("span", { class: `badge ${conn.last_test_ok ? "ok" : "error"}` }, conn.last_test_ok ? "ok" : "failed"),
        " ", conn.last_test_message || "", h("span", { class: "muted" }, ` (${when(conn.last_test_at)})`))
      : h("span", { class: "muted" }, "never tested");
    return h("tr", { testid: `connection-${provider}` },
      h("td", {}, h("strong", {}, provider)),
      h("td", {}, h("span", { class: `badge ${conn.enabled ? "ok" : "off"}`, testid: `connection-state-${provider}` }, conn.enabled ? "enabled" : "disabled")),
      h("td", { testid: `connection-test-${provider}` }, tested),
      h("td", {}, h("div", { class: "row" }, toggle,
        h("button", { type: "button", testid: `test-${provider}`, onclick: (e) => testConnection(e.target, provider) }, "Test"))));
  }

  async function setEnabled(button, provider, enabled) {
    const done = await act(button, () => api("POST", `/connections/${encodeURIComponent(provider)}/${enabled ? "enable" : "disable"}`));
    if (done) { notice(`${provider} ${enabled ? "enabled" : "disabled"}`); route(); }
  }

  async function testConnection(button, provider) {
    const result = await act(button, () => api("POST", `/connections/${encodeURIComponent(provider)}/test`));
    if (result) { notice(`${provider}: ${result.ok ? "connection ok" : "connection failed"} — ${result.message}`); route(); }
  }

  async function connectionsView() {
    const connections = await api("GET", "/connections");
    show(
      h("h1", {}, "Connections & sync"),
      h("div", { class: "card" }, h("h2", {}, "Connections"),
        connections.length
          ? h("table", { testid: "connections" },
            h("tr", {}, ["provider", "state", "last test", ""].map((c) => h("th", {}, c))), connections.map(connectionRow))
          : h("p", { class: "muted", testid: "connections-empty" }, "This store has no connection yet.")),
      h("div", { class: "card" }, h("h2", {}, "Sync now"),
        h("p", { class: "muted" }, "Send every record of an entity from the ERP to the CRMs, or import a CRM's changes now."),
        h("table", { testid: "sync-now" },
          h("tr", {}, h("th", {}, "entity"), h("th", {}, "ERP → CRMs"), h("th", {}, "CRM → ERP")),
          ENTITIES.map((entity) => h("tr", {},
            h("td", {}, h("strong", {}, entity)),
            h("td", {}, h("button", {
              type: "button", testid: `bulk-${entity}`,
              onclick: (e) => startJob(e.target, `/sync/${entity}/bulk`, `send all ${entity}`),
            }, `Send all ${entity}`)),
            h("td", {}, h("div", { class: "row" }, connections.map((conn) => h("button", {
              type: "button", testid: `import-${conn.provider}-${entity}`,
              onclick: (e) => startJob(e.target, `/sync/${encodeURIComponent(conn.provider)}/${entity}/import`, `import ${entity} from ${conn.provider}`),
            }, `Import from ${conn.provider}`)))))))),
      h("div", { class: "card" }, h("h2", {}, "Jobs started here"),
        h("p", { class: "muted", id: "jobs-empty" }, "None yet."),
        h("table", { testid: "jobs" }, h("tbody", { id: "jobs-body" }))),
    );
    renderJobs();
  }

  // --- conflicts
  let conflictFilter = "open";

  function conflictCard(c) {
    const open = c.status === "open";
    const id = encodeURIComponent(c.conflict_id);
    const valueInput = h("input", { testid: "resolve-value-input", placeholder: "value to write to both systems", hidden: true });
    const applyValue = h("button", { type: "button", class: "primary", testid: "resolve-value-apply", hidden: true }, "Apply");
    const resolve = async (button, use, value) => {
      const body = use === "value" ? { use, value } : { use };
      const done = await act(button, () => api("POST", `/conflicts/${id}/resolve`, body));
      if (done) { notice(`conflict on ${c.field} of ${c.entity} ${c.local_id}: resolving with the ${use === "value" ? "given value" : use.toUpperCase() + " value"}`); route(); }
    };
    applyValue.addEventListener("click", () => {
      let value = valueInput.value;
      // Non-text fields (numbers, flags, objects) take JSON; text fields take the text as typed.
      if (typeof c.erp_value !== "string" && typeof c.crm_value !== "string") {
        try { value = JSON.parse(value); } catch { /* keep the text */ }
      }
      resolve(applyValue, "value", value);
    });
    return h("div", { class: "card conflict", testid: `conflict-${c.conflict_id}`, "data-status": c.status },
      h("div", { class: "row" },
        h("h2", {}, `${c.entity} ${c.local_id} · ${c.field}`),
        h("span", { class: "muted" }, `${c.provider}${c.external_id ? ` #${c.external_id}` : ""} · found ${when(c.created_at)}`),
        h("span", { class: "spacer" }),
        h("span", { class: `badge ${open ? "error" : "ok"}`, testid: "conflict-status" }, c.status, c.resolution ? ` (${c.resolution})` : "")),
      h("div", { class: "sides" },
        h("div", { class: "head" }, "field"), h("div", { class: "head" }, "base (last synced)"),
        h("div", { class: "head erp" }, "ERP"), h("div", { class: "head crm" }, `CRM (${c.provider})`),
        h("div", {}, h("code", {}, c.field)),
        h("div", { class: "value", testid: "conflict-base" }, display(c.base_value)),
        h("div", { class: "value erp", testid: "conflict-erp" }, display(c.erp_value)),
        h("div", { class: "value crm", testid: "conflict-crm" }, display(c.crm_value)),
        h("div", { class: "muted" }, "changed at"), h("div", {}, ""),
        h("div", { class: "erp muted" }, when(c.erp_updated_at)), h("div", { class: "crm muted" }, when(c.crm_updated_at))),
      open
        ? h("div", { class: "row" },
          h("button", { type: "button", testid: "resolve-erp", onclick: (e) => resolve(e.target, "erp") }, "Use ERP"),
          h("button", { type: "button", testid: "resolve-crm", onclick: (e) => resolve(e.target, "crm") }, "Use CRM"),
          h("button", {
            type: "button", testid: "resolve-value",
            onclick: () => { valueInput.hidden = false; applyValue.hidden = false; valueInput.focus(); },
          }, "Use value…"),
          valueInput, applyValue)
        : null);
  }

  async function conflictsView() {
    const list = await api("GET", `/conflicts?status=${conflictFilter}`);
    const filter = h("select", { testid: "conflicts-filter", onchange: (e) => { conflictFilter = e.target.value; route(); } },
      ["open", "resolving", "resolved", "all"].map((v) => h("option", { value: v, selected: v === conflictFilter }, v)));
    show(
      h("div", { class: "row" }, h("h1", {}, "Conflicts"), h("span", { class: "spacer" }), filter,
        h("button", { type: "button", testid: "refresh", onclick: () => route() }, "Refresh")),
      list.length
        ? h("div", { testid: "conflicts" }, list.map(conflictCard))
        : h("p", { class: "card muted", testid: "conflicts-empty" }, `No ${conflictFilter === "all" ? "" : conflictFilter + " "}conflicts.`),
    );
  }

  // --- dead letters
  async function deadLetterAction(button, method, path, text) {
    const done = await act(button, async () => (await api(method, path)) ?? true);
    if (done) { notice(text); route(); }
  }

  function deadLetterRow(item) {
    const id = encodeURIComponent(item.id);
    return h("tr", { testid: `dead-letter-${item.id}`, "data-local-id": item.local_id ?? "", "data-status": item.status },
      h("td", {}, when(item.dead_lettered_at)),
      h("td", {}, item.lane),
      h("td", {}, item.kind, item.entity ? ` · ${item.entity}` : "", " ", h("code", {}, item.local_id ?? "")),
      h("td", {}, item.provider ?? ""),
      h("td", {}, h("code", { testid: "dead-letter-code" }, item.error_code ?? ""), h("div", { class: "muted" }, item.error_message ?? "")),
      h("td", {}, item.attempts ?? ""),
      h("td", {}, h("span", { class: `badge ${item.status === "open" ? "error" : "ok"}` }, item.status)),
      h("td", {}, h("details", {}, h("summary", {}, "message"), h("pre", {}, JSON.stringify(item.message ?? null, null, 2)))),
      h("td", {}, h("div", { class: "row" },
        item.status !== "open" ? null : h("button", { type: "button", class: "primary", testid: "dl-retry", onclick: (e) => deadLetterAction(e.target, "POST", `/dead-letters/${id}/retry`, `dead letter ${item.id} re-queued`) }, "Retry"),
        item.status !== "open" ? null : h("button", { type: "button", testid: "dl-archive", onclick: (e) => deadLetterAction(e.target, "POST", `/dead-letters/${id}/archive`, `dead letter ${item.id} archived`) }, "Archive"),
        h("button", {
          type: "button", class: "danger", testid: "dl-delete",
          onclick: (e) => { if (confirm(`Delete dead letter ${item.id} for good?`)) deadLetterAction(e.target, "DELETE", `/dead-letters/${id}`, `dead letter ${item.id} deleted`); },
        }, "Delete"))));
  }

  let deadLetterFilter = "open";

  async function deadLettersView() {
    const data = await api("GET", `/dead-letters?status=${deadLetterFilter}`);
    const items = data.items || [];
    const depth = data.dlq_depth || {};
    show(
      h("div", { class: "row" }, h("h1", {}, "Dead letters"), h("span", { class: "spacer" }),
        h("select", { testid: "dead-letters-filter", onchange: (e) => { deadLetterFilter = e.target.value; route(); } },
          ["open", "retried", "archived", "all"].map((v) => h("option", { value: v, selected: v === deadLetterFilter }, v))),
        h("button", { type: "button", testid: "refresh", onclick: () => route() }, "Refresh"),
        h("button", {
          type: "button", class: "primary", testid: "dl-retry-all", disabled: !(data.count ?? items.length),
          onclick: (e) => deadLetterAction(e.target, "POST", "/dead-letters/retry-all", "every open dead letter re-queued"),
        }, "Retry all")),
      h("div", { class: "grid" }, LANES.map((lane) => metric(`${lane} DLQ (messages)`, depth[lane] ?? 0, `dlq-${lane}`))),
      items.length
        ? h("div", { class: "card" }, h("table", { testid: "dead-letters" },
          h("tr", {}, ["dead-lettered", "lane", "record", "provider", "error", "attempts", "status", "", ""].map((c) => h("th", {}, c))),
          items.map(deadLetterRow)))
        : h("p", { class: "card muted", testid: "dead-letters-empty" }, `No ${deadLetterFilter === "all" ? "" : deadLetterFilter + " "}dead letters.`),
    );
  }

  // ------------------------------------------------------------------ routing
  const VIEWS = {
    dashboard: dashboardView,
    connections: connectionsView,
    conflicts: conflictsView,
    "dead-letters": deadLettersView,
  };

  let generation = 0;
  async function route() {
    if (!session.apiKey || !session.store) return showLogin();
    const name = location.hash.replace(/^#/, "") || "dashboard";
    const view = VIEWS[name] || dashboardView;
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
    const mine = ++generation;
    $("view").setAttribute("aria-busy", "true");
    try {
      await view();
      if (mine === generation) $("view").setAttribute("data-view", name);
    } catch (err) {
      if (mine === generation) {
        showError(err);
        if (!signInAgain(err)) show(h("p", { class: "card muted", testid: "view-failed" }, `This view could not be loaded.`));
      }
    } finally {
      if (mine === generation) $("view").removeAttribute("aria-busy");
    }
  }

  function showLogin() {
    $("view").replaceChildren();
    $("nav").hidden = true;
    $("session").hidden = true;
    const form = $("login");
    form.api_url.value = session.apiUrl;
    form.store.value = session.store;
    form.api_key.value = "";
    form.hidden = false;
  }

  function signedIn() {
    $("login").hidden = true;
    $("nav").hidden = false;
    $("session").hidden = false;
    $("session-store").textContent = session.store;
    route();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      session.save(form.api_url.value.trim(), form.store.value.trim(), form.api_key.value.trim());
      clearError();
      signedIn();
    });
    $("sign-out").addEventListener("click", () => { session.clear(); clearError(); showLogin(); });
    $("error-close").addEventListener("click", clearError);
    window.addEventListener("hashchange", () => { clearError(); route(); });
    if (session.apiKey && session.store) signedIn();
    else showLogin();
  });
})();
