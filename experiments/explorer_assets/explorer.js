"use strict";
// The explorer's page logic.  Data: the JSON in #explorer-data (see experiments/explorer.py).
// Hook for tests: window.explorer.state(), .drawnPoints(), .cellPoints(i, j), .ready().
(function () {
  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const $ = (id) => document.getElementById(id);
  const S = { problem: null, optimizer: null, lr: 0, knob: 0, step: DATA.steps, metric: null, playing: null, drawn: [], pending: 0 };
  const decoded = new Map(); // "problem/optimizer" -> Promise<{path, loss}>
  const fields = new Map(); // problem -> offscreen canvas of the contour background

  // ---------- data ----------
  async function inflate(b64) {
    const text = atob(b64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  // byte-planes of step-wise differences (mod 2^16) -> values; `width` numbers per step
  function unplane(raw, offset, count, steps, width) {
    const out = new Uint16Array(count);
    for (let k = 0; k < count; k++) out[k] = raw[offset + k] | (raw[offset + count + k] << 8);
    const row = steps * width;
    for (let c = 0; c < count; c += row)
      for (let k = c + width; k < c + row; k++) out[k] = (out[k] + out[k - width]) & 0xffff;
    return out;
  }
  function pairData(key) {
    if (!decoded.has(key)) {
      const pair = DATA.pairs[key];
      const cells = pair.shape[0] * pair.shape[1], steps = DATA.steps + 1;
      decoded.set(key, inflate(pair.blob).then((raw) => ({
        path: unplane(raw, 0, cells * steps * 2, steps, 2),
        loss: unplane(raw, 4 * cells * steps, cells * steps, steps, 1),
      })));
    }
    return decoded.get(key);
  }
  const pairKey = () => S.problem + "/" + S.optimizer;
  const pair = () => DATA.pairs[pairKey()];
  const problem = () => DATA.problems[S.problem];
  const cellIndex = (i, j) => i * pair().shape[1] + j;

  // the points the page draws for cell (i, j): up to its first out-of-box point and up to `step`
  function cellPoints(d, i, j, step) {
    const p = problem(), steps = DATA.steps + 1, base = cellIndex(i, j) * steps * 2, pts = [];
    for (let t = 0; t <= Math.min(step, DATA.steps); t++) {
      const qx = d.path[base + 2 * t], qy = d.path[base + 2 * t + 1];
      if (qx === DATA.sentinel || qy === DATA.sentinel) break;
      pts.push([p.box[0][0] + (qx / DATA.levels) * (p.box[1][0] - p.box[0][0]), p.box[0][1] + (qy / DATA.levels) * (p.box[1][1] - p.box[0][1])]);
    }
    return pts;
  }
  function cellLoss(d, i, j) {
    const steps = DATA.steps + 1, base = cellIndex(i, j) * steps, [lo, hi] = DATA.loss_range, out = [];
    for (let t = 0; t < steps; t++) {
      const q = d.loss[base + t];
      out.push(q === DATA.sentinel ? null : lo + (q / DATA.levels) * (hi - lo));
    }
    return out;
  }

  // ---------- formatting ----------
  const fmt = (v) => (v === null || v === undefined ? "—" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : (+v.toPrecision(3)).toString());
  function lossLabel(value, tick) { // a stored loss value (log10 units) -> the loss it stands for
    if (problem().loss_kind === "symlog") {
      const f = DATA.saddle_scale * Math.sinh(value * Math.LN10), k = Math.round(Math.log10(Math.abs(f)));
      if (Math.abs(f) < 1e-12) return "0";
      return Math.abs(Math.abs(f) / Math.pow(10, k) - 1) < 1e-6 ? (f < 0 ? "−1e" : "1e") + k : fmt(f);
    }
    if (value <= DATA.loss_range[0]) return "0";
    return tick ? "1e" + Math.round(value) : fmt(Math.pow(10, value));
  }

  // ---------- colours ----------
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]; // viridis
  function colour(u, light) {
    u = Math.min(1, Math.max(0, u));
    const k = Math.min(STOPS.length - 2, Math.floor(u * (STOPS.length - 1))), f = u * (STOPS.length - 1) - k;
    const c = STOPS[k].map((a, n) => a + f * (STOPS[k + 1][n] - a));
    return light ? c.map((a) => Math.round(255 - 0.45 * (255 - a))) : c.map(Math.round);
  }
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

  // ---------- canvases ----------
  const HEAT_RIGHT = 44; // the heat map's right margin, where its colour bar sits
  function setup(canvas, right = 10) { // the heat map's frame here is the one heatFrame() gives for clicks
    const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, w, h, left: 46, right: w - right, top: 10, bottom: h - 30 };
  }
  function axes(g, xlabel, ylabel) {
    const { ctx } = g;
    ctx.strokeStyle = "#999";
    ctx.lineWidth = 1;
    ctx.strokeRect(g.left, g.top, g.right - g.left, g.bottom - g.top);
    ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    ctx.fillText(xlabel, (g.left + g.right) / 2, g.h - 4);
    ctx.save();
    ctx.translate(11, (g.top + g.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(ylabel, 0, 0);
    ctx.restore();
  }
  function ticks(lo, hi, count) {
    const span = hi - lo, step0 = Math.pow(10, Math.floor(Math.log10(span / count)));
    const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= count) || 10 * step0;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(6));
    return out;
  }

  // the contour background: filled bands (an n × n image) and the band edges as lines (marching squares)
  const BANDS = 18;
  function contour(key) {
    if (fields.has(key)) return fields.get(key);
    const c = DATA.problems[key].contour, n = c.n, raw = atob(c.data), value = (r, col) => raw.charCodeAt(r * n + col) / 255;
    const canvas = document.createElement("canvas");
    canvas.width = n;
    canvas.height = n;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(n, n);
    for (let r = 0; r < n; r++) for (let col = 0; col < n; col++) {
      const px = colour(Math.min(BANDS - 1, Math.floor(value(r, col) * BANDS)) / (BANDS - 1), true);
      image.data.set([px[0], px[1], px[2], 255], ((n - 1 - r) * n + col) * 4); // row 0 of the field is the bottom
    }
    ctx.putImageData(image, 0, 0);
    const segments = []; // [u0, v0, u1, v1] in [0, 1]² of the window
    for (let b = 1; b < BANDS; b++) {
      const level = b / BANDS;
      for (let r = 0; r + 1 < n; r++) for (let col = 0; col + 1 < n; col++) {
        const corners = [[col, r], [col + 1, r], [col + 1, r + 1], [col, r + 1]], v = corners.map(([x, y]) => value(y, x));
        const cut = [];
        for (let e = 0; e < 4; e++) {
          const a = v[e], z = v[(e + 1) % 4];
          if ((a < level) !== (z < level)) {
            const f = (level - a) / (z - a), [x0, y0] = corners[e], [x1, y1] = corners[(e + 1) % 4];
            cut.push([(x0 + f * (x1 - x0)) / (n - 1), (y0 + f * (y1 - y0)) / (n - 1)]);
          }
        }
        for (let k = 0; k + 1 < cut.length; k += 2) segments.push([...cut[k], ...cut[k + 1]]);
      }
    }
    const result = { image: canvas, segments };
    fields.set(key, result);
    return result;
  }

  function drawPath(d) {
    const g = setup($("path-view")), { ctx } = g, p = problem(), [[x0, x1], [y0, y1]] = p.window;
    const X = (x) => g.left + ((x - x0) / (x1 - x0)) * (g.right - g.left), Y = (y) => g.bottom - ((y - y0) / (y1 - y0)) * (g.bottom - g.top);
    const field = contour(S.problem), U = (u) => g.left + u * (g.right - g.left), V = (v) => g.bottom - v * (g.bottom - g.top);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(field.image, g.left, g.top, g.right - g.left, g.bottom - g.top);
    ctx.strokeStyle = "rgba(70,70,90,0.55)";
    ctx.lineWidth = 0.8;
    ctx.beginPath();
    field.segments.forEach(([u0, v0, u1, v1]) => { ctx.moveTo(U(u0), V(v0)); ctx.lineTo(U(u1), V(v1)); });
    ctx.stroke();
    ticks(x0, x1, 6).forEach((v) => { ctx.fillStyle = "#333"; ctx.textAlign = "center"; ctx.fillText(fmt(v), X(v), g.bottom + 12); });
    ticks(y0, y1, 6).forEach((v) => { ctx.textAlign = "right"; ctx.fillText(fmt(v), g.left - 3, Y(v) + 4); });
    axes(g, "x₁", "x₂");
    ctx.save();
    ctx.beginPath();
    ctx.rect(g.left, g.top, g.right - g.left, g.bottom - g.top);
    ctx.clip();
    if (p.minimiser) { ctx.fillStyle = "#111"; ctx.font = "16px system-ui"; ctx.textAlign = "center"; ctx.fillText("★", X(p.minimiser[0]), Y(p.minimiser[1]) + 6); }
    const full = cellPoints(d, S.lr, S.knob, DATA.steps), pts = full.slice(0, S.step + 1);
    S.drawn = pts;
    ctx.strokeStyle = "rgba(214,39,40,0.25)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    full.forEach(([x, y], t) => (t ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    ctx.strokeStyle = "#d62728";
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach(([x, y], t) => (t ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    ctx.fillStyle = "#d62728";
    pts.forEach(([x, y]) => { ctx.beginPath(); ctx.arc(X(x), Y(y), 2.2, 0, 2 * Math.PI); ctx.fill(); });
    if (pts.length) {
      const [x, y] = pts[pts.length - 1];
      ctx.beginPath(); ctx.arc(X(x), Y(y), 5, 0, 2 * Math.PI); ctx.fillStyle = "#fff"; ctx.fill(); ctx.lineWidth = 2.5; ctx.strokeStyle = "#d62728"; ctx.stroke();
    }
    ctx.restore();
    const left = full.length <= DATA.steps;
    $("path-view").dataset.points = JSON.stringify(pts);
    $("path-caption").textContent = `${p.label} from (${p.start.map(fmt).join(", ")}) — ${pts.length ? `x at step ${pts.length - 1} ≈ (${pts[pts.length - 1].map(fmt).join(", ")})` : ""}` +
      (left ? `; the run leaves the view after step ${full.length - 1} (diverges or escapes)` : "");
  }

  // ticks of the saddle's axis asinh(f/τ)/ln 10: 0 and ±10^k for 10^k ≥ τ
  function symlogTicks(lo, hi) {
    const s = (v) => Math.asinh(v / DATA.saddle_scale) / Math.LN10, marks = [0];
    for (let k = Math.round(Math.log10(DATA.saddle_scale)); k <= 38; k++) marks.push(s(Math.pow(10, k)), s(-Math.pow(10, k)));
    return marks.filter((v) => v >= lo && v <= hi).sort((a, b) => b - a); // top first
  }
  function drawLoss(d) {
    const g = setup($("loss-view")), { ctx } = g, values = cellLoss(d, S.lr, S.knob), T = DATA.steps;
    const finite = values.filter((v) => v !== null);
    let lo = Math.min(...finite), hi = Math.max(...finite);
    if (!finite.length) { lo = 0; hi = 1; }
    if (hi - lo < 1) { lo -= 0.5; hi += 0.5; }
    const X = (t) => g.left + (t / T) * (g.right - g.left), Y = (v) => g.bottom - ((v - lo) / (hi - lo)) * (g.bottom - g.top);
    const symlog = problem().loss_kind === "symlog";
    let marks = symlog ? symlogTicks(lo, hi) : ticks(Math.ceil(lo), Math.floor(hi), 7).filter((v) => Number.isInteger(v));
    let kept = -Infinity;
    marks = marks.map(Y).every((y, n, ys) => n === 0 || y >= ys[n - 1]) ? marks : marks.reverse(); // top first
    marks = marks.filter((v) => (Y(v) - kept >= 18 ? ((kept = Y(v)), true) : false)); // labels at least 18 px apart

    ctx.strokeStyle = "#eee";
    marks.forEach((v) => { ctx.beginPath(); ctx.moveTo(g.left, Y(v)); ctx.lineTo(g.right, Y(v)); ctx.stroke(); ctx.fillStyle = "#333"; ctx.textAlign = "right"; ctx.fillText(lossLabel(v, true), g.left - 3, Y(v) + 4); });
    ticks(0, T, 6).forEach((t) => { ctx.textAlign = "center"; ctx.fillText(String(t), X(t), g.bottom + 12); });
    axes(g, "step", symlog ? "f (symmetric log)" : "f − f* (log)");
    const line = (upto, style, width) => {
      ctx.strokeStyle = style; ctx.lineWidth = width; ctx.beginPath();
      let open = false;
      for (let t = 0; t <= upto; t++) {
        if (values[t] === null) break;
        open ? ctx.lineTo(X(t), Y(values[t])) : ctx.moveTo(X(t), Y(values[t]));
        open = true;
      }
      ctx.stroke();
    };
    line(T, "rgba(31,119,180,0.3)", 1.5);
    line(S.step, "#1f77b4", 2);
    const now = values[S.step];
    if (now !== null && now !== undefined) { ctx.fillStyle = "#1f77b4"; ctx.beginPath(); ctx.arc(X(S.step), Y(now), 4, 0, 2 * Math.PI); ctx.fill(); }
    const last = values.findIndex((v) => v === null);
    $("loss-caption").textContent = (symlog ? "f(x) on a symmetric-log axis (the saddle has no minimum)" : "f(x) − f* on a log axis") +
      (now !== null && now !== undefined ? `; step ${S.step}: ${lossLabel(now)}` : "") + (last >= 0 ? `; not finite from step ${last}` : "");
  }

  const METRIC_TEXT = {
    "final loss": "log₁₀ of the final loss (dark: low, darkest: exactly 0; yellow: no lower than at the start; grey: not finite)",
    rate: "convergence rate ‖xₜ₊₁ − x*‖/‖xₜ − x*‖ per step (dark: fast; grey: ≥ 1 or diverged)",
    "escape step": "first step out of the region (dark: early; grey: never)",
  };
  function heatGeometry(g) {
    const [n, m] = pair().shape;
    return { n, m, cw: (g.right - g.left) / n, ch: (g.bottom - g.top) / m };
  }
  function drawHeat() {
    const canvas = $("heatmap"), g = setup(canvas, HEAT_RIGHT), { ctx } = g, P = pair(), values = P.metrics[S.metric];
    const { n, m, cw, ch } = heatGeometry(g);
    const good = (v) => v !== null && (S.metric !== "rate" || v < 1);
    const all = values.flat().filter(good);
    // final loss: anything above the starting loss is as bad as the start (the top colour)
    // an exact zero (the floor) is drawn darkest but does not stretch the scale
    const scaled = S.metric === "final loss" ? all.filter((v) => v > DATA.loss_range[0]) : all;
    const lo = scaled.length ? Math.min(...scaled) : DATA.loss_range[0];
    const hi = S.metric === "final loss" ? Math.min(Math.max(...all), problem().start_loss) : Math.max(...all);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
      const v = values[i][j];
      ctx.fillStyle = good(v) ? rgb(colour(hi > lo ? (v - lo) / (hi - lo) : 0.5, false)) : "#c8c8c8";
      ctx.fillRect(g.left + i * cw, g.bottom - (j + 1) * ch, Math.ceil(cw), Math.ceil(ch));
    }
    const barTop = g.top + 14, barBottom = g.bottom - 14; // the colour bar: lo at the bottom, hi at the top
    for (let y = barTop; y < barBottom; y++) { ctx.fillStyle = rgb(colour((barBottom - y) / (barBottom - barTop), false)); ctx.fillRect(g.right + 8, y, 10, 1.5); }
    ctx.fillStyle = "#333"; ctx.textAlign = "right"; ctx.font = "10px system-ui, sans-serif";
    ctx.fillText(fmt(hi), g.w - 2, g.top + 8);
    ctx.fillText(fmt(lo), g.w - 2, g.bottom - 2);
    ctx.font = "11px system-ui, sans-serif";
    const lr = P.learning_rates, decades = [];
    for (let e = Math.ceil(Math.log10(lr[0]) - 1e-6); e <= Math.log10(lr[n - 1]) + 1e-6; e++) decades.push(e);
    const xOf = (eta) => g.left + ((Math.log(eta) - Math.log(lr[0])) / (Math.log(lr[n - 1]) - Math.log(lr[0]) || 1)) * (g.right - g.left - cw) + cw / 2;
    ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    decades.forEach((e) => ctx.fillText("1e" + e, xOf(Math.pow(10, e)), g.bottom + 12));
    const knobs = P.knobs;
    ctx.textAlign = "right";
    if (m > 1) knobs.forEach((k, j) => { if (j % Math.ceil(m / 6) === 0 || j === m - 1) ctx.fillText(fmt(k), g.left - 3, g.bottom - (j + 0.5) * ch + 4); });
    const opt = DATA.optimizers[S.optimizer];
    axes(g, "learning rate η (log)", m > 1 ? opt.knob : "");
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = "#e41a1c";
    ctx.strokeRect(g.left + S.lr * cw + 1, g.bottom - (S.knob + 1) * ch + 1, cw - 2, ch - 2);
    const th = problem().theory;
    let theoryText = "";
    if (th && S.optimizer === "momentum") {
      const below = knobs.filter((k) => k <= th.momentum).length - 1;
      const frac = below >= 0 && below < m - 1 ? (th.momentum - knobs[below]) / (knobs[below + 1] - knobs[below]) : 0;
      const yStar = g.bottom - (Math.max(below, 0) + 0.5 + frac) * ch;
      ctx.fillStyle = "#17becf"; ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.font = "18px system-ui"; ctx.textAlign = "center";
      ctx.fillText("★", xOf(th.learning_rate), yStar + 6); ctx.strokeText("★", xOf(th.learning_rate), yStar + 6);
      theoryText = `Heavy-ball theory (κ = ${fmt(th.kappa)}): the optimum is η* = 4/(√L + √μ)² = ${fmt(th.learning_rate)}, β* = ((√κ − 1)/(√κ + 1))² = ${fmt(th.momentum)} (★), ` +
        `predicted rate (√κ − 1)/(√κ + 1) = ${fmt(th.rate)}, against ${fmt(th.gd_rate)} for the best plain gradient descent.`;
    } else if (th && S.optimizer === "gd") {
      ctx.fillStyle = "#17becf"; ctx.font = "18px system-ui"; ctx.textAlign = "center";
      ctx.fillText("★", xOf(th.gd_learning_rate), g.bottom - ch / 2 + 6);
      theoryText = `Theory: the best step is η* = 2/(μ + L) = ${fmt(th.gd_learning_rate)} (★), with rate (κ − 1)/(κ + 1) = ${fmt(th.gd_rate)} (κ = ${fmt(th.kappa)}).`;
    }
    if (theoryText && P.metrics.rate) {
      let best = [0, 0];
      P.metrics.rate.forEach((row, i) => row.forEach((v, j) => { if (v !== null && (P.metrics.rate[best[0]][best[1]] === null || v < P.metrics.rate[best[0]][best[1]])) best = [i, j]; }));
      theoryText += ` Measured in this grid: the fastest cell is η = ${fmt(lr[best[0]])}` + (m > 1 ? `, ${opt.knob} = ${fmt(knobs[best[1]])}` : "") + `, rate ${fmt(P.metrics.rate[best[0]][best[1]])}.`;
    }
    $("theory").textContent = theoryText;
    const v = values[S.lr][S.knob];
    $("heat-caption").textContent = `${METRIC_TEXT[S.metric]}; range ${fmt(lo)} … ${fmt(hi)}. Selected: ${fmt(v)}` + ". Click a cell, or focus the map and use the arrow keys, to select it.";
  }

  // ---------- state and events ----------
  function fillSelect(select, entries) {
    select.innerHTML = "";
    entries.forEach(([value, text]) => { const o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o); });
  }
  function syncControls() {
    const P = pair(), opt = DATA.optimizers[S.optimizer], [n, m] = P.shape;
    $("lr").max = n - 1; $("lr").value = S.lr;
    $("knob").max = m - 1; $("knob").value = S.knob;
    $("knob-field").hidden = m === 1;
    $("knob-name").textContent = opt.knob || "";
    $("lr-value").textContent = fmt(P.learning_rates[S.lr]);
    $("knob-value").textContent = m > 1 ? fmt(P.knobs[S.knob]) : "";
    $("step").max = DATA.steps; $("step").value = S.step;
    $("step-value").textContent = String(S.step);
    const metrics = Object.keys(P.metrics);
    if (!metrics.includes(S.metric)) S.metric = metrics[0];
    fillSelect($("metric"), metrics.map((k) => [k, k]));
    $("metric").value = S.metric;
    $("caption").innerHTML = "";
    const b = document.createElement("b"); b.textContent = opt.label + ": ";
    const eq = document.createElement("span"); eq.className = "eq"; eq.textContent = opt.equations;
    const conv = document.createElement("span"); conv.textContent = ` — convention: ${opt.convention}. g = ∇f(x); η the learning rate` + (opt.knob ? `, ${opt.knob} the second knob.` : "; no second knob.");
    $("caption").append(b, eq, conv);
    document.body.dataset.selected = JSON.stringify({ problem: S.problem, optimizer: S.optimizer, lr: S.lr, knob: S.knob, step: S.step });
  }
  async function draw() {
    S.pending++;
    syncControls();
    try {
      const key = pairKey(), d = await pairData(key);
      if (key !== pairKey()) return; // a newer selection is being drawn
      drawPath(d);
      drawLoss(d);
      drawHeat();
      $("status").textContent = "";
    } catch (error) {
      $("status").textContent = "could not draw: " + error;
      $("status").classList.add("error");
      throw error;
    } finally {
      S.pending--;
    }
  }
  function selectPair(problemKey, optimizerKey) {
    S.problem = problemKey;
    S.optimizer = optimizerKey;
    [S.lr, S.knob] = DATA.pairs[pairKey()].initial;
    $("problem").value = S.problem;
    $("optimizer").value = S.optimizer;
    return draw();
  }
  function stopPlaying() { if (S.playing) { clearInterval(S.playing); S.playing = null; $("play").textContent = "▶ play"; } }

  fillSelect($("problem"), Object.entries(DATA.problems).map(([k, p]) => [k, `${p.label} (${p.source})`]));
  fillSelect($("optimizer"), Object.entries(DATA.optimizers).map(([k, o]) => [k, o.label]));
  $("problem").addEventListener("change", (e) => selectPair(e.target.value, S.optimizer));
  $("optimizer").addEventListener("change", (e) => selectPair(S.problem, e.target.value));
  $("lr").addEventListener("input", (e) => { S.lr = +e.target.value; draw(); });
  $("knob").addEventListener("input", (e) => { S.knob = +e.target.value; draw(); });
  $("step").addEventListener("input", (e) => { stopPlaying(); S.step = +e.target.value; draw(); });
  $("metric").addEventListener("change", (e) => { S.metric = e.target.value; draw(); });
  $("play").addEventListener("click", () => {
    if (S.playing) return stopPlaying();
    if (S.step >= DATA.steps) S.step = 0;
    $("play").textContent = "❚❚ pause";
    S.playing = setInterval(() => { S.step = Math.min(S.step + 1, DATA.steps); draw(); if (S.step >= DATA.steps) stopPlaying(); }, 60);
  });
  const heatFrame = () => { const c = $("heatmap"); return { left: 46, right: c.clientWidth - HEAT_RIGHT, top: 10, bottom: c.clientHeight - 30 }; };
  $("heatmap").addEventListener("click", (e) => {
    const { n, m, cw, ch } = heatGeometry(heatFrame()), g = heatFrame();
    const i = Math.floor((e.offsetX - g.left) / cw), j = Math.floor((g.bottom - e.offsetY) / ch);
    if (i >= 0 && i < n && j >= 0 && j < m) { S.lr = i; S.knob = j; draw(); }
  });
  $("heatmap").addEventListener("keydown", (e) => { // arrows move the selected cell
    const [n, m] = pair().shape, moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowDown: [0, -1], ArrowUp: [0, 1] };
    if (!(e.key in moves)) return;
    e.preventDefault();
    S.lr = Math.min(n - 1, Math.max(0, S.lr + moves[e.key][0]));
    S.knob = Math.min(m - 1, Math.max(0, S.knob + moves[e.key][1]));
    draw();
  });
  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(draw, 100); });

  window.explorer = {
    state: () => ({ problem: S.problem, optimizer: S.optimizer, lr: S.lr, knob: S.knob, step: S.step, metric: S.metric, pending: S.pending }),
    drawnPoints: () => S.drawn,
    ready: () => S.pending === 0 && S.drawn.length > 0,
    select: (problemKey, optimizerKey) => selectPair(problemKey, optimizerKey),
    // the centre of heat-map cell (i: learning rate, j: knob), in CSS pixels from the canvas's centre (for a click)
    cellOffset: (i, j) => {
      const c = $("heatmap"), g = heatFrame(), { cw, ch } = heatGeometry(g);
      return [Math.round(g.left + (i + 0.5) * cw - c.clientWidth / 2), Math.round(g.bottom - (j + 0.5) * ch - c.clientHeight / 2)];
    },
  };
  if (typeof DecompressionStream === "undefined") {
    $("status").textContent = "This browser lacks DecompressionStream (Chrome 80+, Firefox 113+, Safari 16.4+ have it): the data cannot be read.";
    $("status").classList.add("error");
  } else {
    selectPair("ill", "momentum");
  }
})();
