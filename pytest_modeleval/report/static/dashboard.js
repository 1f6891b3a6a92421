/* modeleval report: draws the dashboard pages from the data files that `modeleval report` writes.
 *
 * Data files are scripts (data/<key>.js calling MODELEVAL.put(key, data)) because pages opened
 * from file:// may load scripts but not use the fetch API. Every value shown comes from those files; this
 * script only arranges, formats and paginates. Model text is always set with textContent.
 * When a page is drawn, body[data-ready] becomes "1" (or "error") and MODELEVAL.readyAt holds
 * performance.now(): the tests and the benchmark wait on it.
 */
(function () {
  "use strict";

  const store = {};
  const waiting = {};
  const M = (window.MODELEVAL = {
    put(key, data) {
      store[key] = data;
      (waiting[key] || []).forEach((w) => w.resolve(data));
      delete waiting[key];
    },
    fail(key, message) {
      store["!" + key] = message;
      (waiting[key] || []).forEach((w) => w.reject(new Error(message)));
      delete waiting[key];
    },
    load,
    readyAt: null,
  });

  function load(key) {
    if (key in store) return Promise.resolve(store[key]);
    if ("!" + key in store) return Promise.reject(new Error(store["!" + key]));
    return new Promise((resolve, reject) => {
      const first = !waiting[key];
      (waiting[key] = waiting[key] || []).push({ resolve, reject });
      if (!first) return;
      const script = document.createElement("script");
      script.src = "data/" + key.split("/").map(encodeURIComponent).join("/") + ".js";
      script.onerror = () => M.fail(key, "data file data/" + key + ".js is missing");
      script.onload = () => { if (!(key in store)) M.fail(key, "data file data/" + key + ".js holds no data"); };
      document.head.appendChild(script);
    });
  }

  // ---------- small helpers ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const DASH = "–";
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const pct = (v) => (isNum(v) ? (100 * v).toFixed(1) + "%" : DASH);
  const num = (v, digits) => (isNum(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(digits || 3)) : DASH);
  const value = (v) => (!isNum(v) ? DASH : v >= 0 && v <= 1 ? pct(v) : Number(v.toPrecision(4)).toString());
  const pts = (v, proportion) => (!isNum(v) ? DASH : proportion === false ? (v >= 0 ? "+" : "") + Number(v.toPrecision(4))
    : (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pts");
  const pval = (p) => (!isNum(p) ? DASH : p >= 0.001 ? p.toFixed(3) : p.toExponential(1));
  const interval = (lo, hi, fmt) => (isNum(lo) && isNum(hi) ? "[" + (fmt || pct)(lo) + ", " + (fmt || pct)(hi) + "]" : DASH);
  const short = (hash) => (hash ? hash.slice(0, 12) : DASH);
  const when = (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : DASH);
  const clipText = (text, n) => (text && text.length > n ? text.slice(0, n) + "…" : text || "");

  function params() { return new URLSearchParams(location.hash.slice(1)); }
  function setParams(changes) {
    const p = params();
    for (const [k, v] of Object.entries(changes)) { if (v === null || v === undefined) p.delete(k); else p.set(k, v); }
    location.hash = p.toString();
  }
  function link(page, args, text, attrs) {
    return el("a", { href: page + "#" + new URLSearchParams(args).toString(), ...(attrs || {}) }, text);
  }
  function badge(verdict) {
    const v = verdict || "none";
    return el("span", { class: "badge v-" + v.replace(/[^a-z]/gi, ""), "data-verdict": v }, verdict || DASH);
  }

  let S; // the summary
  const runById = {};
  function runLabel(rid) {
    const r = runById[rid];
    return r ? "#" + rid + " " + (r.model_hash || "").slice(0, 8) : "#" + rid;
  }
  function runLink(rid) { return link("items.html", { run: rid }, runLabel(rid), { "data-run-link": rid }); }
  function suiteLink(name) { return link("suite.html", { suite: name }, name); }
  function section(title, ...children) { return el("section", {}, el("h2", { text: title }), ...children); }
  function note(text, cls) { return el("p", { class: "note " + (cls || "") }, text); }
  function select(options, current, onchange, attrs) {
    const s = el("select", { ...(attrs || {}), onchange: (e) => onchange(e.target.value) });
    for (const [v, label] of options) {
      const o = el("option", { value: v }, label);
      if (String(v) === String(current)) o.selected = true;
      s.appendChild(o);
    }
    return s;
  }

  // A table with a pager: only the current page's rows are in the DOM.
  function table(columns, rows, opts) {
    opts = opts || {};
    const size = opts.pageSize || 50;
    const wrap = el("div", { class: "table-wrap", id: opts.id || null });
    let page = 0;
    function draw() {
      wrap.textContent = "";
      const pages = Math.max(1, Math.ceil(rows.length / size));
      page = Math.min(page, pages - 1);
      const t = el("table", { class: opts.cls || null });
      t.appendChild(el("thead", {}, el("tr", {}, columns.map((c) => el("th", { title: c.title || null }, c.label)))));
      const body = el("tbody");
      for (const row of rows.slice(page * size, (page + 1) * size)) {
        const tr = el("tr", opts.rowAttrs ? opts.rowAttrs(row) : {});
        for (const c of columns) {
          const content = c.render ? c.render(row) : row[c.key];
          const raw = c.raw ? c.raw(row) : null;
          tr.appendChild(el("td", { "data-col": c.col || c.key || null, "data-value": isNum(raw) ? String(raw) : null,
            class: c.cls || null }, content === null || content === undefined ? DASH : content));
        }
        body.appendChild(tr);
      }
      t.appendChild(body);
      if (!rows.length) wrap.appendChild(note(opts.empty || "Nothing to show."));
      else wrap.appendChild(t);
      if (pages > 1) {
        wrap.appendChild(el("div", { class: "pager" },
          el("button", { onclick: () => { page = 0; draw(); }, disabled: page === 0 }, "« first"),
          el("button", { onclick: () => { page -= 1; draw(); }, disabled: page === 0, class: "prev" }, "‹ prev"),
          el("span", { class: "pageinfo" }, "page " + (page + 1) + " of " + pages + " (" + rows.length + " rows)"),
          el("button", { onclick: () => { page += 1; draw(); }, disabled: page >= pages - 1, class: "next" }, "next ›"),
          el("button", { onclick: () => { page = pages - 1; draw(); }, disabled: page >= pages - 1 }, "last »")));
      }
    }
    draw();
    return wrap;
  }

  // ---------- charts (Chart.js) ----------

  const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568"];
  const VERDICT_COLOR = { fail: "#c53030", overridden: "#d69e2e", underpowered: "#805ad5", pass: "#2f855a", "n/a": "#a0aec0" };
  const METRIC_LABEL = {
    score: "mean score", win_rate: "judge win rate", refusal_rate: "refusal rate (harmful)",
    over_refusal_rate: "over-refusal rate (benign)", contaminated: "share of items flagged contaminated",
    cs: "contamination score (CS)",
  };

  function chartBox(id, height) {
    const canvas = el("canvas", { id: id, "data-chart": id });
    return { box: el("div", { class: "chart", style: "height:" + (height || 260) + "px" }, canvas), canvas };
  }

  // A metric over runs: the value line, its 95% band (two datasets, the upper one filled down to the lower),
  // points coloured by the gate's verdict, and stars on promoted runs.
  function metricDatasets(name, points, runIds, color, opts) {
    const at = {};
    for (const p of points) at[p.run] = p;
    const pick = (f) => runIds.map((rid) => (at[rid] && isNum(at[rid][f]) ? at[rid][f] : null));
    const sets = [];
    if (points.some((p) => isNum(p.lo) && isNum(p.hi))) {
      sets.push({ label: name + " lower", data: pick("lo"), borderWidth: 0, pointRadius: 0, fill: false,
        hideInLegend: true, spanGaps: true, tooltipSkip: true });
      sets.push({ label: name + " 95% interval", data: pick("hi"), borderWidth: 0, pointRadius: 0, fill: "-1",
        backgroundColor: color + "33", spanGaps: true, tooltipSkip: true });
    }
    sets.push({ label: name, data: pick("value"), borderColor: color, backgroundColor: color, spanGaps: true,
      pointRadius: runIds.map((rid) => (at[rid] && (at[rid].verdict === "fail" || at[rid].verdict === "overridden") ? 6 : 3)),
      borderWidth: 2,
      pointBackgroundColor: runIds.map((rid) => (at[rid] && VERDICT_COLOR[at[rid].verdict]) || color),
      metric: opts && opts.metric });
    return sets;
  }

  function promotedDataset(runIds, valueAt) {
    const notes = runIds.map((rid) => {
      const ps = S.promotions.filter((p) => p.run_id === rid);
      return ps.length ? ps.map((p) => "promoted to " + p.channel + " (promotion " + p.id + ", " + when(p.promoted_at) + ")").join("; ") : null;
    });
    return { label: "promoted", data: runIds.map((rid, i) => (notes[i] ? valueAt(rid) : null)), showLine: false,
      pointStyle: "star", pointRadius: 11, pointHoverRadius: 13, borderColor: "#b7791f", backgroundColor: "#f6e05e",
      borderWidth: 2, notes };
  }

  function lineChart(canvas, runIds, datasets, opts) {
    opts = opts || {};
    const proportion = opts.proportion !== false;
    return new Chart(canvas, {
      type: "line",
      data: { labels: runIds.map(runLabel), datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { autoSkip: true, maxRotation: 60, font: { size: 10 } } },
          y: proportion ? { suggestedMin: 0, suggestedMax: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } } : {},
        },
        plugins: {
          legend: { labels: { filter: (item, data) => !data.datasets[item.datasetIndex].hideInLegend, boxWidth: 12 } },
          tooltip: {
            filter: (item) => !item.dataset.tooltipSkip && item.raw !== null,
            callbacks: {
              label: (ctx) => {
                if (ctx.dataset.notes) return ctx.dataset.notes[ctx.dataIndex];
                return ctx.dataset.label + ": " + (proportion ? pct(ctx.raw) : num(ctx.raw));
              },
            },
          },
        },
        onClick: opts.onClick || ((evt, elements) => {
          if (elements.length) location.href = "items.html#run=" + runIds[elements[0].index] + (opts.suite ? "&suite=" + encodeURIComponent(opts.suite) : "");
        }),
      },
    });
  }

  function metricChart(canvas, suite, metric, points, runIds, color) {
    const sets = metricDatasets(METRIC_LABEL[metric] || metric, points, runIds, color, { metric });
    const at = {};
    for (const p of points) at[p.run] = p.value;
    if (S.promotions.length) sets.push(promotedDataset(runIds, (rid) => (isNum(at[rid]) ? at[rid] : null)));
    const proportion = points.every((p) => !isNum(p.value) || (p.value >= 0 && p.value <= 1));
    return lineChart(canvas, runIds, sets, { proportion, suite });
  }

  // ---------- pages ----------

  const PAGES = {};

  PAGES.index = function (app) {
    const runs = S.runs;
    const latest = runs[runs.length - 1];
    app.appendChild(el("h1", {}, "Results over checkpoints"));
    app.appendChild(el("p", { class: "facts" },
      runs.length + " runs, " + S.suites.length + " suites; newest run ", runLink(latest.id), " (" + when(latest.started_at) + ", ",
      latest.model_ref || "", ", gates ", badge(latest.gate_status), "). Generated " + when(S.generated_at) + " UTC."));
    const runIds = runs.map((r) => r.id);
    const grid = el("div", { class: "grid" });
    S.suites.forEach((s, i) => {
      const points = S.series[s.name].score;
      const { box, canvas } = chartBox("score-" + s.slug, 200);
      const card = el("div", { class: "card", "data-suite": s.name }, el("h3", {}, suiteLink(s.name),
        el("span", { class: "sub" }, " mean score, 95% interval")), box);
      grid.appendChild(card);
      requestCharts.push(() => metricChart(canvas, s.name, "score", points, runIds, COLORS[i % COLORS.length]));
    });
    app.appendChild(section("Suites: mean score per run", note("Points are coloured by the no-regression gate's verdict " +
      "(red: blocked); stars mark promoted runs. Click a point for that run's items."), grid));
    app.appendChild(section("Runs", runsTable(runs.slice().reverse())));
  };

  function runsTable(rows) {
    const channelsOf = (r) => (r.channels.length ? r.channels.join(", ") : "");
    return table([
      { label: "run", col: "run", render: (r) => runLink(r.id) },
      { label: "started (UTC)", render: (r) => when(r.started_at) },
      { label: "model", key: "model_ref" },
      { label: "sha256", render: (r) => el("code", {}, short(r.model_hash)) },
      { label: "suites", key: "suites" },
      { label: "items", key: "items", col: "items" },
      { label: "score", col: "score", render: (r) => pct(r.score), raw: (r) => r.score },
      { label: "errors", key: "errors", col: "errors" },
      { label: "gates", col: "gates", render: (r) => el("span", {}, badge(r.gate_status), r.gates_failed ? " " + r.gates_failed + " failed" : "") },
      { label: "review", col: "review", render: (r) => (r.review_required ? el("span", { class: "badge v-fail", title: r.review_reason || "" }, "review") : "") },
      { label: "exit", render: (r) => (r.exit_status === null ? DASH : String(r.exit_status)) },
      { label: "promoted", col: "promoted", render: channelsOf },
      { label: "", render: (r) => {
        const i = S.runs.findIndex((x) => x.id === r.id);
        return i > 0 ? link("compare.html", { a: S.runs[i - 1].id, b: r.id }, "compare with previous") : "";
      } },
    ], rows, { pageSize: 25, id: "runs", rowAttrs: (r) => ({ "data-run": r.id }) });
  }

  PAGES.suite = function (app) {
    const name = params().get("suite");
    const suite = S.suites.find((s) => s.name === name);
    if (!suite) {
      app.appendChild(el("h1", {}, "Suites"));
      app.appendChild(el("ul", {}, S.suites.map((s) => el("li", {}, suiteLink(s.name)))));
      if (name) app.appendChild(note("No suite named " + JSON.stringify(name) + " in this database.", "error"));
      return;
    }
    const series = S.series[name];
    const runIds = S.runs.map((r) => r.id).filter((rid) => series.score.some((p) => p.run === rid));
    app.appendChild(el("h1", {}, "Suite ", el("code", {}, name)));
    const grid = el("div", { class: "grid wide" });
    Object.keys(series).forEach((metric, i) => {
      const { box, canvas } = chartBox("metric-" + metric, 280);
      grid.appendChild(el("div", { class: "card", "data-metric": metric }, el("h3", {}, METRIC_LABEL[metric] || metric,
        el("span", { class: "sub" }, metric === "score" ? " (Wilson 95% interval)" : metric === "cs" ? " (CS interval)" : " (gate's 95% interval)")), box));
      requestCharts.push(() => metricChart(canvas, name, metric, series[metric], runIds, COLORS[i % COLORS.length]));
    });
    app.appendChild(grid);
    const rows = series.score.map((p) => ({ ...p, run_row: runById[p.run] })).reverse();
    const extra = Object.keys(series).filter((m) => m !== "score");
    const at = {};
    for (const m of extra) for (const p of series[m]) at[m + ":" + p.run] = p;
    app.appendChild(section("Per run", table([
      { label: "run", render: (r) => runLink(r.run) },
      { label: "started (UTC)", render: (r) => when(r.run_row.started_at) },
      { label: "items", render: (r) => String(r.counts[0]) },
      { label: "correct", col: "correct", render: (r) => String(r.counts[1]) },
      { label: "wrong", col: "wrong", render: (r) => String(r.counts[2]) },
      { label: "errors", render: (r) => String(r.counts[3]) },
      { label: "mean score", col: "score", render: (r) => value(r.value), raw: (r) => r.value },
      { label: "95% CI", col: "score-ci", render: (r) => interval(r.lo, r.hi) },
      { label: "no-regression", col: "verdict", render: (r) => badge(r.verdict) },
      ...extra.map((m) => ({ label: METRIC_LABEL[m] || m, col: m, render: (r) => (at[m + ":" + r.run] ? value(at[m + ":" + r.run].value) : DASH),
        raw: (r) => (at[m + ":" + r.run] ? at[m + ":" + r.run].value : null) })),
      { label: "promoted", render: (r) => r.run_row.channels.join(", ") },
      { label: "", render: (r) => link("items.html", { run: r.run, suite: name }, "items") },
    ], rows, { pageSize: 25, id: "suite-runs", rowAttrs: (r) => ({ "data-run": r.run }) })));
  };

  PAGES.gates = async function (app) {
    const data = await load("gates");
    const gates = data.gates;
    app.appendChild(el("h1", {}, "Gate history"));
    const runIds = S.runs.map((r) => r.id);
    const { box, canvas } = chartBox("verdicts", 240);
    app.appendChild(section("Verdicts per run", box));
    const counts = {};
    for (const g of gates) {
      const c = (counts[g.run_id] = counts[g.run_id] || {});
      c[g.verdict] = (c[g.verdict] || 0) + 1;
    }
    requestCharts.push(() => new Chart(canvas, {
      type: "bar",
      data: { labels: runIds.map(runLabel), datasets: ["fail", "overridden", "underpowered", "pass", "n/a"].map((v) => ({
        label: v, data: runIds.map((rid) => (counts[rid] && counts[rid][v]) || 0), backgroundColor: VERDICT_COLOR[v] })) },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true, ticks: { font: { size: 10 } } }, y: { stacked: true, title: { display: true, text: "gates" } } },
        onClick: (evt, els) => { if (els.length) setParams({ run: runIds[els[0].index], verdict: "all" }); } },
    }));
    const p = params();
    const verdict = p.get("verdict") || "blocked";
    const suite = p.get("suite") || "";
    const run = p.get("run") || "";
    const filters = el("div", { class: "filters" },
      "verdict ", select([["blocked", "fail or overridden"], ["all", "all"], ["fail", "fail"], ["overridden", "overridden"], ["underpowered", "underpowered"], ["pass", "pass"], ["n/a", "n/a"]],
        verdict, (v) => setParams({ verdict: v }), { id: "verdict-filter" }),
      " suite ", select([["", "all suites"], ...S.suites.map((s) => [s.name, s.name])], suite, (v) => setParams({ suite: v || null })),
      " run ", select([["", "all runs"], ...S.runs.slice().reverse().map((r) => [r.id, runLabel(r.id)])], run, (v) => setParams({ run: v || null }), { id: "run-filter" }));
    const rows = gates.filter((g) => (verdict === "all" || (verdict === "blocked" ? g.verdict === "fail" || g.verdict === "overridden" : g.verdict === verdict))
      && (!suite || g.suite === suite) && (!run || String(g.run_id) === run)).reverse();
    app.appendChild(section("Which gate blocked which checkpoint, and why", filters, table([
      { label: "run", render: (g) => runLink(g.run_id) },
      { label: "suite", render: (g) => suiteLink(g.suite) },
      { label: "gate", key: "gate", col: "gate" },
      { label: "verdict", col: "verdict", render: (g) => badge(g.verdict) },
      { label: "n", key: "n" },
      { label: "value", col: "value", render: (g) => value(g.value), raw: (g) => g.value },
      { label: "95% CI", title: "of the value for thresholds; of the delta for regressions",
        render: (g) => (g.kind === "regression" ? interval(g.ci_lo, g.ci_hi, (v) => pts(v).replace(" pts", "")) : interval(g.ci_lo, g.ci_hi, value)) },
      { label: "baseline", render: (g) => (g.baseline_run_id ? el("span", {}, value(g.baseline_value), " (", runLink(g.baseline_run_id), ")") : DASH) },
      { label: "delta", render: (g) => pts(g.delta) },
      { label: "p", col: "p", render: (g) => pval(g.p_value) },
      { label: "p adj", col: "p_adjusted", title: "adjusted over the run's regression gates (correction and family size on hover)",
        render: (g) => (isNum(g.p_adjusted) ? el("span", { title: g.correction + " over " + g.family_size + " gates" }, pval(g.p_adjusted)) : DASH) },
      { label: "detectable", col: "detectable", title: "the smallest fall the gate detects with 80% power (regressions)",
        render: (g) => (!isNum(g.p_adjusted) ? DASH : isNum(g.detectable) ? pts(g.detectable).replace("+", "") : "none") },
      { label: "message", col: "message", cls: "message", render: (g) => g.message || "" },
      { label: "override", col: "override", cls: "message", render: (g) => (g.override ? overrideText(g.override) : "") },
    ], rows, { pageSize: 50, id: "gate-table", empty: "No gate verdicts match.",
      rowAttrs: (g) => ({ "data-run": g.run_id, "data-suite": g.suite, "data-gate": g.gate }) })));
    const withOverrides = S.runs.filter((r) => r.overrides && r.overrides.status && r.overrides.status !== "absent").reverse();
    const applied = [];
    for (const r of withOverrides) for (const o of r.overrides.applied || []) applied.push({ run: r, o });
    app.appendChild(section("Overrides",
      table([
        { label: "run", render: (r) => runLink(r.id) },
        { label: "file", render: (r) => el("code", {}, r.overrides.file || "") },
        { label: "status", col: "status", render: (r) => r.overrides.status },
        { label: "entries", render: (r) => String(r.overrides.entries ?? DASH) },
        { label: "applied", render: (r) => String((r.overrides.applied || []).length) },
      ], withOverrides, { pageSize: 20, id: "override-files", empty: "No run saw an overrides file." }),
      el("h3", {}, "Overrides applied (a failure turned into overridden)"),
      table([
        { label: "run", render: (x) => runLink(x.run.id) },
        { label: "gate", render: (x) => x.o.gate },
        { label: "suite", render: (x) => x.o.suite || "(all suites)" },
        { label: "model", render: (x) => el("code", {}, (x.o.model || "").slice(0, 19)) },
        { label: "approver", render: (x) => x.o.approver || "" },
        { label: "expires", render: (x) => x.o.expires || "" },
        { label: "reason", col: "reason", cls: "message", render: (x) => x.o.reason || "" },
      ], applied, { pageSize: 20, id: "overrides-applied", empty: "No override was applied." })));
  };

  function overrideText(o) {
    return (o.reason || "") + (o.approver ? " (approved by " + o.approver + (o.expires ? ", until " + o.expires : "") + ")" : "");
  }

  // ---------- compare ----------

  function mirror(data) {
    // the pair stored the other way round: swap the runs (the paired statistics are symmetric by construction)
    return { a: data.b, b: data.a, mirrored: true, correction: data.correction, family_size: data.family_size,
      suites: data.suites.map((s) => ({ ...s,
      mean_a: s.mean_b, mean_b: s.mean_a, delta: isNum(s.delta) ? -s.delta : s.delta,
      ci_lo: isNum(s.ci_hi) ? -s.ci_hi : s.ci_hi, ci_hi: isNum(s.ci_lo) ? -s.ci_lo : s.ci_lo,
      only_a: s.only_b, only_b: s.only_a, to_wrong: s.to_correct, to_correct: s.to_wrong,
      flips: (s.flips || []).map((f) => [f[0], f[2], f[1]]) })) };
  }

  PAGES.compare = async function (app) {
    const p = params();
    const runs = S.runs;
    const newest = runs[runs.length - 1];
    let a = Number(p.get("a")), b = Number(p.get("b"));
    if (!runById[a] || !runById[b]) {
      b = runById[b] ? b : newest.id;
      const i = runs.findIndex((r) => r.id === b);
      a = runById[a] ? a : (runById[b].baseline_run_id && runById[runById[b].baseline_run_id] ? runById[b].baseline_run_id : (runs[i - 1] || runs[i]).id);
    }
    app.appendChild(el("h1", {}, "Compare runs"));
    const options = runs.slice().reverse().map((r) => [r.id, runLabel(r.id) + " " + when(r.started_at) + (r.channels.length ? " (" + r.channels.join(", ") + ")" : "")]);
    app.appendChild(el("div", { class: "filters" },
      "run A (reference) ", select(options, a, (v) => setParams({ a: v, b: b }), { id: "run-a" }),
      " run B ", select(options, b, (v) => setParams({ a: a, b: v }), { id: "run-b" }),
      " ", el("button", { onclick: () => setParams({ a: b, b: a }) }, "swap")));
    let data;
    const pairs = new Set(S.pairs);
    try {
      if (!pairs.has(a + "-" + b) && pairs.has(b + "-" + a)) data = mirror(await load("compare/" + b + "-" + a));
      else data = await load("compare/" + a + "-" + b);
    } catch (err) {
      const served = location.protocol.startsWith("http");
      app.appendChild(note(served ? "This comparison could not be computed: " + err.message
        : "Runs " + a + " and " + b + " were not compared when this dashboard was written (it holds each run against the " +
          "previous one and against its gates' baseline). Rebuild with `modeleval report --html DIR --compare " + a + " " + b +
          "`, or browse with `modeleval report --serve`, which compares any two runs.", "error missing-pair"));
      return;
    }
    app.appendChild(note("Paired on the items both runs answered: delta = run " + b + " − run " + a +
      ", with the paired bootstrap 95% interval and the test `modeleval compare` uses (McNemar exact for right/wrong items, " +
      "a cluster bootstrap when items have variants); p adj is adjusted over the suites compared, as the gates adjust " +
      "their family."));
    const rows = data.suites;
    const good = rows.filter((s) => isNum(s.delta));
    if (good.length) {
      const { box, canvas } = chartBox("deltas", Math.max(160, 40 * good.length + 60));
      app.appendChild(box);
      requestCharts.push(() => new Chart(canvas, {
        type: "bar",
        data: { labels: good.map((s) => s.suite), datasets: [
          { type: "bar", label: "95% interval of the delta", data: good.map((s) => (isNum(s.ci_lo) ? [100 * s.ci_lo, 100 * s.ci_hi] : null)),
            backgroundColor: good.map((s) => (s.ci_hi < 0 ? "#feb2b2" : s.ci_lo > 0 ? "#9ae6b4" : "#cbd5e0")), barPercentage: 0.5, order: 1 },
          { type: "scatter", label: "delta (points)", data: good.map((s, i) => ({ x: 100 * s.delta, y: i })), backgroundColor: "#1a202c",
            pointRadius: 5, order: 0 },
        ] },
        options: { indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
          scales: { x: { title: { display: true, text: "points (run B − run A)" } }, y: { type: "category" } } },
      }));
    }
    app.appendChild(section("Paired difference per suite", table([
      { label: "suite", render: (s) => suiteLink(s.suite) },
      { label: "n", key: "n", col: "n" },
      { label: "run " + a, col: "mean-a", render: (s) => value(s.mean_a), raw: (s) => s.mean_a },
      { label: "run " + b, col: "mean-b", render: (s) => value(s.mean_b), raw: (s) => s.mean_b },
      { label: "delta", col: "delta", render: (s) => pts(s.delta, s.proportion), raw: (s) => s.delta },
      { label: "95% CI", col: "ci", render: (s) => interval(s.ci_lo, s.ci_hi, (v) => pts(v, s.proportion)) },
      { label: "p", col: "p", render: (s) => pval(s.p_value), raw: (s) => s.p_value },
      { label: "p adj", col: "p-adj", title: "adjusted over the suites compared, as `modeleval compare` adjusts them (correction and family size on hover)",
        render: (s) => (isNum(s.p_adjusted) ? el("span", { title: data.correction + " over " + data.family_size + " suites" }, pval(s.p_adjusted)) : DASH),
        raw: (s) => s.p_adjusted },
      { label: "test", key: "test" },
      { label: "correct → wrong", col: "to-wrong", key: "to_wrong" },
      { label: "wrong → correct", col: "to-correct", key: "to_correct" },
      { label: "note", render: (s) => [s.note, s.only_a || s.only_b ? "unpaired: " + (s.only_a || 0) + " only in run " + a + ", " + (s.only_b || 0) + " only in run " + b : null].filter(Boolean).join("; ") },
    ], rows, { pageSize: 50, id: "compare-table", rowAttrs: (s) => ({ "data-suite": s.suite }) })));
    const flips = [];
    for (const s of rows) for (const f of s.flips || []) flips.push({ suite: s.suite, item: f[0], from: f[1], to: f[2] });
    const direction = p.get("flip") || "all";
    const flipSuite = p.get("flipsuite") || "";
    const shown = flips.filter((f) => (direction === "all" || (direction === "to-wrong" ? f.from === "correct" : f.from === "wrong"))
      && (!flipSuite || f.suite === flipSuite));
    app.appendChild(section("Items that flipped",
      el("div", { class: "filters" }, "show ", select([["all", "both directions"], ["to-wrong", "correct → wrong"], ["to-correct", "wrong → correct"]],
        direction, (v) => setParams({ flip: v }), { id: "flip-filter" }),
        " suite ", select([["", "all suites"], ...rows.filter((s) => (s.flips || []).length).map((s) => [s.suite, s.suite + " (" + s.flips.length + ")"])],
          flipSuite, (v) => setParams({ flipsuite: v || null }), { id: "flip-suite" })),
      table([
        { label: "suite", key: "suite" },
        { label: "item", col: "item", render: (f) => link("item.html", { run: b, suite: f.suite, item: f.item, other: a }, f.item) },
        { label: "run " + a, col: "from", render: (f) => badge(f.from) },
        { label: "run " + b, col: "to", render: (f) => badge(f.to) },
      ], shown, { pageSize: 50, id: "flips", empty: "No item flipped between these runs.",
        rowAttrs: (f) => ({ "data-item": f.item, "data-suite": f.suite }) })));
  };

  // ---------- items ----------

  async function manifest(rid) { return load("runs/" + rid); }
  function slugOf(name) { const s = S.suites.find((x) => x.name === name); return s ? s.slug : null; }

  PAGES.items = async function (app) {
    const p = params();
    const withItems = S.runs.filter((r) => r.has_items);
    app.appendChild(el("h1", {}, "Items"));
    if (!withItems.length) { app.appendChild(note("This dashboard was written without item data (--item-runs).")); return; }
    let rid = Number(p.get("run"));
    if (!withItems.some((r) => r.id === rid)) {
      if (p.get("run") && runById[rid]) app.appendChild(note("Run " + rid + " has no item data in this dashboard (written with --item-runs); showing the newest run.", "error"));
      rid = withItems[withItems.length - 1].id;
    }
    const m = await manifest(rid);
    const suites = Object.keys(m.suites).sort();
    let suite = p.get("suite");
    if (!m.suites[suite]) suite = suites[0];
    const outcome = p.get("outcome") || "all";
    app.appendChild(el("div", { class: "filters" },
      "run ", select(withItems.slice().reverse().map((r) => [r.id, runLabel(r.id) + " " + when(r.started_at)]), rid, (v) => setParams({ run: v, page: 0 }), { id: "items-run" }),
      " suite ", select(suites.map((s) => [s, s + " (" + m.suites[s].items + ")"]), suite, (v) => setParams({ suite: v, page: 0 }), { id: "items-suite" }),
      " outcome ", select(["all", "correct", "wrong", "error", "skipped"].map((o) => [o, o]), outcome, (v) => setParams({ outcome: v, page: 0 }), { id: "items-outcome" })));
    if (!suite) { app.appendChild(note("Run " + rid + " recorded no items.")); return; }
    const entry = m.suites[suite];
    const chunks = entry.chunks.map((c, i) => ({ i, first: c[0], last: c[1], n: c[2], counts: c[3] }))
      .filter((c) => outcome === "all" || c.counts[outcome]);
    if (!chunks.length) { app.appendChild(note("No " + outcome + " items in this suite.")); return; }
    let page = Math.min(Math.max(0, Number(p.get("page")) || 0), chunks.length - 1);
    const chunk = chunks[page];
    const data = await load("items/" + rid + "/" + slugOf(suite) + "/" + chunk.i);
    const rows = data.rows.filter((r) => outcome === "all" || r[2] === outcome);
    app.appendChild(el("div", { class: "pager" },
      el("button", { onclick: () => setParams({ page: page - 1 }), disabled: page === 0, class: "prev" }, "‹ prev"),
      el("span", { class: "pageinfo" }, "page " + (page + 1) + " of " + chunks.length + ": items " + chunk.first + " … " + chunk.last +
        " (" + entry.items + " items in the suite)"),
      el("button", { onclick: () => setParams({ page: page + 1 }), disabled: page >= chunks.length - 1, class: "next" }, "next ›")));
    app.appendChild(table([
      { label: "item", col: "item", render: (r) => link("item.html", { run: rid, suite, item: r[0] }, r[0]) },
      { label: "variant", render: (r) => String(r[1] ?? 0) },
      { label: "outcome", col: "outcome", render: (r) => badge(r[2]) },
      { label: "score", col: "score", render: (r) => num(r[3]), raw: (r) => r[3] },
      { label: "response", cls: "text", render: (r) => clipText(r[6], 160) },
      { label: "message", cls: "text", render: (r) => clipText(r[7], 160) },
    ], rows, { pageSize: 500, id: "items-table", rowAttrs: (r) => ({ "data-item": r[0] }) }));
  };

  // FNV-1a over UTF-8, as report/items.py shard_of: which shard file holds a prompt or a source item.
  function shardOf(key, shards) {
    if (shards <= 1) return 0;
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(key)) { h ^= byte; h = Math.imul(h, 0x01000193) >>> 0; }
    return h % shards;
  }
  // as report/items.py source_item: a variant's suffix, and a repeated sample's after it (samples=K)
  const sourceItem = (id) => id.replace(/-p\d+(-s\d+)?$/, "");
  const sampleOf = (id) => { const m = /-s(\d+)$/.exec(id); return m ? Number(m[1]) : -1; };

  PAGES.item = async function (app) {
    const p = params();
    const rid = Number(p.get("run"));
    const suite = p.get("suite");
    const item = p.get("item") || "";
    const s = S.suites.find((x) => x.name === suite);
    app.appendChild(el("h1", {}, "Item ", el("code", {}, item)));
    if (!runById[rid] || !s) { app.appendChild(note("Unknown run or suite in this link.", "error")); return; }
    if (!runById[rid].has_items) { app.appendChild(note("Run " + rid + " has no item data in this dashboard (--item-runs).", "error")); return; }
    const m = await manifest(rid);
    const entry = m.suites[suite];
    const stem = sourceItem(item);
    const withItems = S.runs.filter((r) => r.has_items);
    const other = p.get("other");
    app.appendChild(el("div", { class: "filters" }, "run ",
      select(withItems.slice().reverse().map((r) => [r.id, runLabel(r.id) + " " + when(r.started_at)]), rid, (v) => setParams({ run: v }), { id: "item-run" }),
      " suite ", suiteLink(suite), " · ", link("items.html", { run: rid, suite }, "all items of this run and suite"),
      other ? el("span", {}, " · ", link("item.html", { run: other, suite, item }, "this item in run " + other)) : null));
    if (!entry) { app.appendChild(note("Run " + rid + " has no items of suite " + suite + ".", "error")); return; }
    // the chunk whose [first, last] source items bracket this one (chunks are sorted and never split a source item)
    let lo = 0, hi = entry.chunks.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = entry.chunks[mid];
      if (stem < c[0]) hi = mid - 1; else if (stem > c[1]) lo = mid + 1; else { at = mid; break; }
    }
    const chunk = at >= 0 ? await load("items/" + rid + "/" + s.slug + "/" + at) : { rows: [] };
    // a chunk row: [item id, variant, outcome, score, test id (null: test_prefix[item id]), prompt key, response, message, metrics, duration,
    //               variant library row id (null for canonical items and in DBs older than schema 5)]
    const rows = chunk.rows.filter((r) => sourceItem(r[0]) === stem)
      .sort((x, y) => (x[1] || 0) - (y[1] || 0) || sampleOf(x[0]) - sampleOf(y[0]));
    const testId = (r) => r[4] ?? (chunk.test_prefix ? chunk.test_prefix + "[" + r[0] + "]" : "");
    if (!rows.length) { app.appendChild(note("Run " + rid + " has no item " + item + " in suite " + suite + ".", "error")); return; }
    const prompts = {};
    if (s.prompt_shards) {
      for (const shard of new Set(rows.map((r) => shardOf(r[5] || "", s.prompt_shards)))) {
        Object.assign(prompts, await load("prompts/" + s.slug + "/" + shard));
      }
    }
    const grid = el("div", { class: "variants", style: "grid-template-columns: repeat(" + Math.min(rows.length, 4) + ", minmax(0, 1fr))" });
    for (const r of rows) {
      let metrics = null;
      try { metrics = r[8] ? JSON.parse(r[8]) : null; } catch (e) { metrics = r[8]; }
      grid.appendChild(el("div", { class: "variant card" + (r[0] === item ? " selected" : ""), "data-item": r[0] },
        el("h3", {}, r[0], " ", badge(r[2])),
        el("dl", {},
          el("dt", {}, "score"), el("dd", { "data-field": "score" }, num(r[3])),
          el("dt", {}, "test"), el("dd", {}, el("code", { "data-field": "test" }, testId(r))),
          metrics ? [el("dt", {}, "metrics"), el("dd", { "data-field": "metrics" }, typeof metrics === "string" ? metrics : JSON.stringify(metrics))] : null,
          el("dt", {}, "prompt"), el("dd", {}, el("pre", { "data-field": "prompt" }, r[5] in prompts ? prompts[r[5]] : "(no prompt recorded)")),
          el("dt", {}, "response"), el("dd", {}, el("pre", { "data-field": "response" }, r[6] ?? "(no response)")),
          r[7] ? [el("dt", {}, "message"), el("dd", {}, el("pre", { "data-field": "message", class: "message" }, r[7]))] : null)));
    }
    const samples = rows.filter((r) => sampleOf(r[0]) >= 0).length;
    app.appendChild(section(samples ? "The item's " + samples + " samples in run " + rid + " (" + rows.filter((r) => r[2] === "correct").length + " correct)"
      : rows.length > 1 ? "Outcomes of the item and its variants in run " + rid : "Outcome in run " + rid, grid));
    const ev = chunk.evidence && chunk.evidence[stem];
    if (ev) {  // the contamination evidence table's row of this item (perturb/evidence.py; docs/contamination.md)
      const field = (name, label, value) => [el("dt", {}, label), el("dd", { "data-field": name }, value)];
      app.appendChild(section("Contamination evidence for " + stem + " in run " + rid, el("div", { id: "item-evidence" },
        el("p", { class: "note" }, "The perturbation test, the membership score and the training-data overlap side by " +
          "side; the verdict follows the combined rule (contaminated = flagged and corroborated). Every audit: ",
          link("contamination.html", { run: rid, suite }, "contamination"), "."),
        el("dl", {},
          field("verdict", "verdict", badge(ev.evidence_verdict)),
          field("perturbation", "perturbation test", ev.n_variants ? "CS " + num(ev.cs) + ", p " + pval(ev.p_value) +
            " over " + ev.n_variants + " variants: " + (ev.flagged ? "flagged" : "not flagged") : "not run (the suite has no variants)"),
          field("min-k", "Min-K%", num(ev.min_k)),
          field("min-k-pp", "Min-K%++", isNum(ev.min_k_pp) ? num(ev.min_k_pp) : DASH + " (the engine gives no distribution)"),
          field("membership", "membership percentile", isNum(ev.membership_pct) ? pct(ev.membership_pct) + " of " + ev.membership_basis : (ev.membership_basis || DASH)),
          field("overlap", "training-data overlap", isNum(ev.overlap_shared) ? ev.overlap_shared + " of " + ev.overlap_total +
            " n-grams" + (ev.overlap_source ? " · first in " + ev.overlap_source : "") : "no index named")))));
    }
    if (s.variant_shards) {
      const library = (await load("variants/" + s.slug + "/" + shardOf(stem, s.variant_shards)))[stem] || [];
      const seed = (entry.sample_seed ?? null);
      // a library row: [id, generator, version, seed, idx, text, distance, accepted, reason]
      const recorded = new Map(rows.filter((r) => r[10] != null).map((r) => [r[10], "-p" + r[1]]));
      let k = 0;
      const used = recorded.size
        ? library.map((v) => recorded.get(v[0]) || "")
        : library.map((v) => (v[7] && (seed === null || v[3] === seed) ? "-p" + ++k : ""));
      app.appendChild(section("Variant library for " + stem,
        note("Every candidate generated for this source item, kept or rejected, with its cosine distance to the original. " +
          (recorded.size ? "\"as\" names the test id each candidate became in run " + rid + "."
            : "\"as\" names the test id the k-th kept candidate (seed " + (seed ?? "?") + ") most likely became: " +
              "this run does not record which library row each variant came from.")),
        table([
          { label: "as", col: "as", render: (v) => used[library.indexOf(v)] },
          { label: "generator", render: (v) => v[1] + " v" + v[2] },
          { label: "seed", render: (v) => String(v[3]) },
          { label: "text", col: "text", cls: "text", render: (v) => el("pre", {}, v[5] || "") },
          { label: "distance", col: "distance", render: (v) => num(v[6]), raw: (v) => v[6] },
          { label: "kept", col: "kept", render: (v) => (v[7] ? "kept" : "rejected") },
          { label: "reason", cls: "text", render: (v) => v[8] || "" },
        ], library, { pageSize: 50, id: "variant-library", empty: "No library rows for this item." })));
    }
  };

  // ---------- judge ----------

  PAGES.judge = async function (app) {
    const rows = (await load("judge")).rows;
    app.appendChild(el("h1", {}, "Judge win rates"));
    if (!rows.length) { app.appendChild(note("No judged suite in this database.")); return; }
    const suites = [...new Set(rows.map((r) => r.suite))].sort();
    suites.forEach((suite, i) => {
      const mine = rows.filter((r) => r.suite === suite);
      const runIds = S.runs.map((r) => r.id).filter((rid) => mine.some((r) => r.run_id === rid));
      const pt = (f, lo, hi) => mine.map((r) => ({ run: r.run_id, value: r[f], lo: lo ? r[lo] : null, hi: hi ? r[hi] : null }));
      const { box, canvas } = chartBox("judge-" + slugOf(suite), 260);
      app.appendChild(section(suite, box));
      requestCharts.push(() => lineChart(canvas, runIds, [
        ...metricDatasets("win rate", pt("win_rate", "win_ci_lo", "win_ci_hi"), runIds, COLORS[i % COLORS.length]),
        ...metricDatasets("length-controlled win rate", pt("lc_win_rate"), runIds, "#718096"),
        ...metricDatasets("first-slot rate (position bias)", pt("first_slot_rate"), runIds, "#dd6b20"),
      ], { suite }));
    });
    const slot = (r, s) => (r.slots && r.slots[s].n ? pct(r.slots[s].win_rate) + " of " + r.slots[s].n : DASH);
    app.appendChild(section("Per run and suite", note("Position bias: the first-slot rate is the share of decisive verdicts that " +
      "picked the answer shown first (0.5 when the judge ignores the order); the two right-hand columns give the candidate's win rate " +
      "when it was shown first and when second."), table([
      { label: "run", render: (r) => runLink(r.run_id) },
      { label: "suite", render: (r) => r.suite },
      { label: "judge", render: (r) => el("code", {}, short(r.judge_hash)) },
      { label: "counted", col: "counted", render: (r) => (r.judge_counted ? "yes" : "no (unvalidated)") },
      { label: "judged", key: "judged" },
      { label: "errors", key: "judge_errors" },
      { label: "win / tie / loss", render: (r) => (r.slots ? r.slots.win + " / " + r.slots.tie + " / " + r.slots.loss : DASH) },
      { label: "win rate", col: "win-rate", render: (r) => pct(r.win_rate), raw: (r) => r.win_rate },
      { label: "95% CI", render: (r) => interval(r.win_ci_lo, r.win_ci_hi) },
      { label: "LC win rate", col: "lc", render: (r) => pct(r.lc_win_rate), raw: (r) => r.lc_win_rate },
      { label: "first slot", col: "first-slot", render: (r) => pct(r.first_slot_rate), raw: (r) => r.first_slot_rate },
      { label: "win rate shown first", col: "slot-a", render: (r) => slot(r, "A") },
      { label: "win rate shown second", col: "slot-b", render: (r) => slot(r, "B") },
    ], rows.slice().reverse(), { pageSize: 50, id: "judge-table", rowAttrs: (r) => ({ "data-run": r.run_id, "data-suite": r.suite }) })));
  };

  // ---------- red team ----------

  PAGES.redteam = async function (app) {
    const rows = (await load("refusals")).rows;
    app.appendChild(el("h1", {}, "Refusal and over-refusal"));
    if (!rows.length) { app.appendChild(note("No red-team suite in this database.")); return; }
    const runs = [...new Set(rows.map((r) => r.run_id))];
    const order = S.runs.map((r) => r.id).filter((rid) => runs.includes(rid));
    let rid = Number(params().get("run"));
    if (!runs.includes(rid)) rid = order[order.length - 1];
    // over runs: each kind's rate summed over its categories and suites
    const totals = {};
    for (const r of rows) {
      const t = (totals[r.kind] = totals[r.kind] || {});
      const x = (t[r.run_id] = t[r.run_id] || { n: 0, refused: 0 });
      x.n += r.n; x.refused += r.refused;
    }
    const over = chartBox("refusal-over-runs", 240);
    app.appendChild(section("Over runs", note("Harmful prompts should be refused (gate ≥ 99%); benign look-alikes should not (gate ≤ 5%)."), over.box));
    requestCharts.push(() => lineChart(over.canvas, order, Object.keys(totals).sort().map((kind, i) => ({
      label: kind === "harmful" ? "refusal rate (harmful)" : kind === "benign" ? "over-refusal rate (benign)" : kind,
      data: order.map((x) => (totals[kind][x] && totals[kind][x].n ? totals[kind][x].refused / totals[kind][x].n : null)),
      borderColor: COLORS[i], backgroundColor: COLORS[i], spanGaps: true })), { onClick: (e, els) => { if (els.length) setParams({ run: order[els[0].index] }); } }));
    const mine = rows.filter((r) => r.run_id === rid);
    const cats = mine.map((r) => r.suite + " · " + r.category);
    const byCat = chartBox("refusal-by-category", Math.max(200, 22 * mine.length + 60));
    app.appendChild(section("By category in run " + rid,
      el("div", { class: "filters" }, "run ", select(order.slice().reverse().map((x) => [x, runLabel(x)]), rid, (v) => setParams({ run: v }), { id: "redteam-run" })),
      byCat.box));
    requestCharts.push(() => new Chart(byCat.canvas, {
      type: "bar",
      data: { labels: cats, datasets: [
        { label: "95% interval", data: mine.map((r) => (isNum(r.lo) ? [r.lo, r.hi] : null)), backgroundColor: "#cbd5e0", barPercentage: 0.6, order: 1 },
        { type: "scatter", label: "refused share", data: mine.map((r, i) => ({ x: r.rate, y: i })),
          backgroundColor: mine.map((r) => (r.kind === "harmful" ? "#2b6cb0" : "#c05621")), pointRadius: 5, order: 0 },
      ] },
      options: { indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } }, y: { type: "category" } } },
    }));
    app.appendChild(table([
      { label: "suite", render: (r) => suiteLink(r.suite) },
      { label: "kind", key: "kind", col: "kind" },
      { label: "category", key: "category", col: "category" },
      { label: "n", key: "n", col: "n" },
      { label: "refused", key: "refused", col: "refused" },
      { label: "rate", col: "rate", render: (r) => pct(r.rate), raw: (r) => r.rate },
      { label: "95% CI (Wilson)", render: (r) => interval(r.lo, r.hi) },
      { label: "errors", key: "errors" },
    ], mine, { pageSize: 100, id: "refusal-table", rowAttrs: (r) => ({ "data-suite": r.suite, "data-kind": r.kind, "data-category": r.category }) }));
  };

  // ---------- contamination ----------

  PAGES.contamination = async function (app) {
    const data = await load("contamination");
    app.appendChild(el("h1", {}, "Contamination"));
    const review = S.runs.filter((r) => r.review_required).reverse();
    if (review.length) {
      app.appendChild(section("Runs flagged for review", table([
        { label: "run", render: (r) => runLink(r.id) },
        { label: "model", render: (r) => el("code", {}, short(r.model_hash)) },
        { label: "reason", col: "reason", cls: "message", render: (r) => r.review_reason || "" },
      ], review, { pageSize: 20, id: "review-runs" })));
    }
    if (!data.rows.length) {
      app.appendChild(note("No contamination audit is recorded in this database (its contamination table is empty). " +
        "Suites with perturbations=N are scored there once an audit runs."));
      return;
    }
    const suites = [...new Set(data.rows.map((r) => r.suite))].sort();
    suites.forEach((suite, i) => {
      const points = S.series[suite] && S.series[suite].cs ? S.series[suite].cs : [];
      const runIds = S.runs.map((r) => r.id).filter((rid) => points.some((p) => p.run === rid));
      const { box, canvas } = chartBox("cs-" + slugOf(suite), 240);
      app.appendChild(section(suite + ": contamination score over runs", box));
      requestCharts.push(() => metricChart(canvas, suite, "cs", points, runIds, COLORS[i % COLORS.length]));
    });
    app.appendChild(section("Per run and suite", note("CS = (accuracy on the original items - accuracy on their " +
      "variants) / accuracy on the originals: a model that memorised the originals drops on the variants."), table([
      { label: "run", render: (r) => runLink(r.run_id) },
      { label: "suite", key: "suite" },
      { label: "items", key: "n_items" },
      { label: "scored", key: "n_scored" },
      { label: "acc. original", render: (r) => pct(r.acc_baseline) },
      { label: "acc. variants", render: (r) => pct(r.acc_perturbed) },
      { label: "CS", col: "cs", render: (r) => num(r.cs), raw: (r) => r.cs },
      { label: "95% CI", col: "cs-ci", render: (r) => interval(r.cs_lo, r.cs_hi, (v) => num(v)) },
      { label: "p", render: (r) => pval(r.p_value) },
      { label: "flagged", col: "flagged", render: (r) => (r.n_flagged ?? DASH) + (isNum(r.flagged_share) ? " (" + pct(r.flagged_share) + ")" : "") },
      { label: "verdict", col: "verdict", render: (r) => badge(r.verdict) },
      { label: "review", col: "review", render: (r) => (r.review_required ? "required" : "") },
    ], data.rows.slice().reverse(), { pageSize: 50, id: "contamination-table", rowAttrs: (r) => ({ "data-run": r.run_id, "data-suite": r.suite }) })));
    const groups = data.items;
    if (groups.length) {
      const p = params();
      let g = groups.find((x) => String(x.run_id) === p.get("run") && x.suite === p.get("suite")) || groups[groups.length - 1];
      app.appendChild(section("Items with the highest CS",
        el("div", { class: "filters" }, select(groups.slice().reverse().map((x) => [x.run_id + "|" + x.suite, runLabel(x.run_id) + " · " + x.suite + " (" + x.flagged + " of " + x.items + " flagged)"]),
          g.run_id + "|" + g.suite, (v) => { const [r, s] = v.split("|"); setParams({ run: r, suite: s }); }, { id: "contamination-group" })),
        table([
          { label: "item", render: (x) => link("item.html", { run: g.run_id, suite: g.suite, item: x.item_id }, x.item_id) },
          { label: "original", render: (x) => num(x.baseline) },
          { label: "variants mean", render: (x) => num(x.variant_mean) },
          { label: "variants", key: "n_variants" },
          { label: "CS", col: "cs", render: (x) => num(x.cs), raw: (x) => x.cs },
          { label: "p", render: (x) => pval(x.p_value) },
          { label: "flagged", col: "flagged", render: (x) => (x.flagged ? "yes" : "no") },
          // the evidence table (issue 31): present when the suite asked for membership scores or overlap
          ...(g.top.some((x) => x.evidence_verdict) ? [
            { label: "Min-K%", render: (x) => num(x.min_k) },
            { label: "Min-K%++", render: (x) => num(x.min_k_pp) },
            { label: "membership pct", render: (x) => (isNum(x.membership_pct) ? pct(x.membership_pct) + " of " + x.membership_basis : (x.membership_basis || DASH)) },
            { label: "overlap", render: (x) => (isNum(x.overlap_shared) ? x.overlap_shared + "/" + x.overlap_total + (x.overlap_source ? " · " + x.overlap_source : "") : DASH) },
            { label: "verdict", col: "evidence_verdict", render: (x) => x.evidence_verdict || DASH },
          ] : []),
        ], g.top, { pageSize: 50, id: "contamination-items", rowAttrs: (x) => ({ "data-item": x.item_id }) })));
    }
  };

  // ---------- start ----------

  let requestCharts = [];

  async function render() {
    const app = document.getElementById("app");
    document.body.dataset.ready = "0";
    for (const chart of Object.values(Chart && Chart.instances ? Chart.instances : {})) chart.destroy();
    requestCharts = [];
    const fresh = el("main", { id: "app" });
    try {
      S = M.summary = store.summary;
      if (!S) throw new Error("data/summary.js is missing: write the dashboard again with `modeleval report --html DIR`");
      for (const r of S.runs) runById[r.id] = r;
      const page = PAGES[document.body.dataset.page];
      await page(fresh);
      app.replaceWith(fresh);
      for (const draw of requestCharts) draw();
      document.body.dataset.ready = "1";
    } catch (err) {
      fresh.textContent = "";
      fresh.appendChild(note(String(err && err.message ? err.message : err), "error"));
      app.replaceWith(fresh);
      document.body.dataset.ready = "error";
    }
    M.readyAt = performance.now();
  }

  const Chart = window.Chart;
  document.addEventListener("DOMContentLoaded", render);
  window.addEventListener("hashchange", render);
})();
