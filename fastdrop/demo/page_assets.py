"""The style sheet and the script of the ``--html`` page, inlined by :mod:`fastdrop.demo.page`.

The script reads the JSON in ``<script id="demo-data">`` and draws, with
plain DOM and SVG calls: the network (one column per layer; a dropped unit
is hollow and crossed, and loses its connections), a slider over the
recorded training steps with play/pause, the arm chooser, the curves and
the table.  ``#step=N`` in the address opens the page at step N.  When it
has drawn everything it sets ``data-status="rendered"`` and the counts of
what it drew on ``<body>`` and logs one line.
"""

STYLE = r"""
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 12px 24px 0; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 0 0 8px; }
#setup { max-width: 1200px; color: #444; margin: 0 0 8px; }
main { display: grid; grid-template-columns: minmax(560px, 1.25fr) minmax(420px, 1fr); gap: 16px;
       padding: 8px 24px 24px; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px; }
#table-panel { grid-column: 1 / span 2; }
#controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 6px; }
#controls button { font: inherit; padding: 2px 10px; border: 1px solid #999; border-radius: 4px;
                   background: #f4f4f4; cursor: pointer; }
#controls button.active { background: #1f4e79; color: #fff; border-color: #1f4e79; }
#controls input[type=range] { flex: 1; min-width: 200px; }
svg { width: 100%; height: auto; display: block; }
#network .unit { stroke: #1f4e79; stroke-width: 1.5; }
#network .unit.kept { fill: #1f4e79; }
#network .unit.dropped { fill: #fff; stroke: #bbb; }
#network .cross { stroke: #c0392b; stroke-width: 1.2; }
#network .edge { stroke: #1f4e79; stroke-opacity: 0.07; }
#network .edge.lookup { stroke-opacity: 0.35; }
#network .cell.kept { fill: #1f4e79; } #network .cell.dropped { fill: #eee; }
#network .label { font-size: 12px; fill: #333; text-anchor: middle; }
#network .sub { font-size: 10px; fill: #777; text-anchor: middle; }
#step-info { margin: 4px 0 0; color: #333; min-height: 2.8em; }
#acc-chart { margin-top: 6px; }
.axis { stroke: #999; stroke-width: 1; } .tick { font-size: 10px; fill: #555; }
.grid { stroke: #eee; } .chart-title { font-size: 12px; fill: #222; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-top: 4px; }
#legend span::before { content: ""; display: inline-block; width: 18px; height: 3px; margin: 0 5px 3px 0;
                       background: var(--c); }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
#findings { padding-left: 18px; max-width: 1200px; } .note { color: #666; font-size: 12px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("demo-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
  var W = 860, H = 470, TOP = 44, BOTTOM = 10;

  function el(tag, attrs, parent, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function html(tag, text, parent) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  // ------------------------------------------------------------ state
  var maskedArms = D.arms.filter(function (a) { return D.masks[a]; });
  var state = { arm: maskedArms[Math.floor(maskedArms.length / 2)] || null, step: 0, timer: null };
  var hash = /step=(\d+)/.exec(window.location.hash);
  var hashArm = /arm=([^&]+)/.exec(window.location.hash);
  if (hashArm && D.masks[decodeURIComponent(hashArm[1])]) { state.arm = decodeURIComponent(hashArm[1]); }
  function stepCount() {
    if (!state.arm) { return 0; }
    var layers = D.masks[state.arm];
    return Math.min.apply(null, Object.keys(layers).map(function (k) { return layers[k].steps.length; }));
  }
  if (hash) { state.step = Math.min(parseInt(hash[1], 10), Math.max(stepCount() - 1, 0)); }

  // ------------------------------------------------------------ controls
  var controls = document.getElementById("controls");
  var armButtons = {};
  maskedArms.forEach(function (a) {
    var b = html("button", a, controls);
    b.type = "button";
    b.addEventListener("click", function () {
      state.arm = a;
      state.step = Math.min(state.step, stepCount() - 1);
      update();
    });
    armButtons[a] = b;
  });
  var play = html("button", "play", controls);
  play.type = "button";
  var slider = html("input", undefined, controls);
  slider.type = "range"; slider.min = 0; slider.id = "step-slider";
  slider.setAttribute("aria-label", "training step");
  slider.addEventListener("input", function () { state.step = parseInt(slider.value, 10); update(); });
  play.addEventListener("click", function () {
    if (state.timer) { clearInterval(state.timer); state.timer = null; play.textContent = "play"; return; }
    play.textContent = "pause";
    state.timer = setInterval(function () { state.step = (state.step + 1) % Math.max(stepCount(), 1); update(); }, 350);
  });

  // ------------------------------------------------------------ the network
  var svg = document.getElementById("network");
  var edgeGroup = el("g", {}, svg);
  var columns = [];
  var x0 = 70, dx = (W - 140) / Math.max(D.layers.length - 1, 1);
  D.layers.forEach(function (layer, i) {
    var x = x0 + i * dx;
    layer.units = Math.min(layer.units, layer.total);
    var g = el("g", { "data-layer": layer.name }, svg);
    el("text", { x: x, y: 16, "class": "label" }, g, layer.name);
    el("text", { x: x, y: 30, "class": "sub" }, g,
       (layer.units < layer.total ? "first " + layer.units + " of " + layer.total : layer.total) + " " + layer.what);
    columns.push({ layer: layer, x: x, g: g, units: [], cells: [], idLabels: [] });
  });

  function maskShape(col) {
    var m = state.arm && col.layer.mask ? D.masks[state.arm][col.layer.mask] : null;
    return m ? m.shape : null;
  }
  function drawCircles(col, n) {
    var gap = Math.min(17, (H - TOP - BOTTOM) / n), r = Math.max(2.5, Math.min(6, gap * 0.36));
    var y0 = TOP + (H - TOP - BOTTOM - gap * (n - 1)) / 2;
    for (var j = 0; j < n; j++) {
      var y = y0 + j * gap;
      if (col.layer.ids) {
        col.idLabels.push(el("text", { x: col.x - r - 4, y: y + 3, "class": "sub", "text-anchor": "end" }, col.g, ""));
      }
      var c = el("circle", { cx: col.x, cy: y, r: r, "class": "unit kept" }, col.g);
      var d = "M" + (col.x - r) + " " + (y - r) + "l" + 2 * r + " " + 2 * r
            + "m0 " + -2 * r + "l" + -2 * r + " " + 2 * r;
      var cross = el("path", { d: d, "class": "cross", visibility: "hidden" }, col.g);
      col.units.push({ x: col.x, y: y, node: c, cross: cross });
    }
  }
  function drawGrid(col, shape) {
    // 2-D (rows x columns) or 3-D (tiles of rows x columns, in two columns beyond four tiles) masks and samples
    var tiles = shape.length === 3 ? Math.min(shape[0], col.layer.units) : 1;
    var rows = shape[shape.length - 2], cols = shape[shape.length - 1], across = tiles > 4 ? 2 : 1;
    var down = Math.ceil(tiles / across), room = H - TOP - BOTTOM, gap = 6;
    var size = Math.min(14, (dx - 30 - gap * (across - 1)) / (across * cols),
                        (room - gap * (down - 1)) / (down * rows));
    var width = across * cols * size + gap * (across - 1), height = down * rows * size + gap * (down - 1);
    var left = col.x - width / 2, top = TOP + (room - height) / 2;
    for (var t = 0; t < tiles; t++) {
      var tx = left + (t % across) * (cols * size + gap), ty = top + Math.floor(t / across) * (rows * size + gap);
      for (var r = 0; r < rows; r++) {
        for (var c = 0; c < cols; c++) {
          col.cells.push(el("rect", { x: tx + c * size, y: ty + r * size, width: size - 0.6, height: size - 0.6,
                                      "class": "cell kept" }, col.g));
        }
      }
    }
  }
  function sampleShape() {
    var s = D.sample_shape.filter(function (d) { return d > 1; });
    if (s.length === 1 && s[0] === 64) { return [8, 8]; }
    return s.length === 2 ? s : null;
  }
  columns.forEach(function (col, i) {
    var shape = maskShape(col);
    if (i === 0 && !col.layer.mask && sampleShape()) { col.sample = true; drawGrid(col, sampleShape()); }
    else if (shape && shape.length >= 2) { col.gridShape = shape; drawGrid(col, shape); }
    else { drawCircles(col, col.layer.units); }
  });
  // neurons connect to every neuron of the next layer; examples of a batch to themselves (a path
  // through the blocks); a token to its row of the embedding table (drawn at each step)
  var edges = [];
  function connect(u, v) {
    edges.push({ a: u, b: v, node: el("line", { x1: u.x, y1: u.y, x2: v.x, y2: v.y, "class": "edge" }, edgeGroup) });
  }
  for (var i = 0; i + 1 < columns.length; i++) {
    var a = columns[i], b = columns[i + 1];
    if (a.layer.what === "units" && b.layer.what === "units") {
      a.units.forEach(function (u) { b.units.forEach(function (v) { connect(u, v); }); });
    } else if (a.layer.what === b.layer.what) {
      a.units.forEach(function (u, j) { if (j < b.units.length) { connect(u, b.units[j]); } });
    } else if (a.layer.ids) {
      a.lookup = b;
    }
  }
  var lookupGroup = el("g", {}, edgeGroup);

  function keptBits(col) {
    var m = state.arm && col.layer.mask ? D.masks[state.arm][col.layer.mask] : null;
    return m ? m.steps[Math.min(state.step, m.steps.length - 1)] : null;
  }
  function showSample(col) {
    var sample = (D.samples[state.arm] || [])[state.step];
    col.cells.forEach(function (cell, k) {
      var v = sample ? sample[k] : 0, lo = 0, hi = 1;
      var shade = Math.round(255 * (1 - Math.max(0, Math.min(1, (v - lo) / (hi - lo)))));
      cell.setAttribute("class", "cell");
      cell.setAttribute("fill", "rgb(" + shade + "," + shade + "," + shade + ")");
    });
  }
  function maskOf(name) {
    var m = state.arm && name ? D.masks[state.arm][name] : null;
    return m ? m.steps[Math.min(state.step, m.steps.length - 1)] : null;
  }
  function drawLookups(col) {
    // each token of the example: its id, kept when its row of the embedding table is kept
    var ids = (D.samples[state.arm] || [])[state.step] || [], bits = maskOf(col.layer.ids);
    while (lookupGroup.firstChild) { lookupGroup.removeChild(lookupGroup.firstChild); }
    col.units.forEach(function (u, j) {
      var id = ids[j];
      col.idLabels[j].textContent = id === undefined ? "" : String(id);
      u.kept = !bits || id === undefined || bits.charAt(id) === "1";
      var row = col.lookup && id < col.lookup.units.length ? col.lookup.units[id] : null;
      if (row) { el("line", { x1: u.x, y1: u.y, x2: row.x, y2: row.y, "class": "edge lookup" }, lookupGroup); }
    });
  }
  function drawStep() {
    var counts = [];
    columns.forEach(function (col) {
      if (col.sample) { showSample(col); return; }
      var bits = keptBits(col), kept = 0, shown = 0;
      if (col.layer.ids) { drawLookups(col); }
      col.units.forEach(function (u, k) {
        if (!col.layer.ids) { u.kept = !bits || bits.charAt(k) === "1"; }
        u.node.setAttribute("class", "unit " + (u.kept ? "kept" : "dropped"));
        u.cross.setAttribute("visibility", u.kept ? "hidden" : "visible");
        kept += u.kept ? 1 : 0; shown += 1;
      });
      col.cells.forEach(function (cell, k) {
        var on = !bits || bits.charAt(k) === "1";
        cell.setAttribute("class", "cell " + (on ? "kept" : "dropped"));
        kept += on ? 1 : 0; shown += 1;
      });
      if (bits || col.layer.ids) { counts.push(col.layer.name + ": " + kept + " of " + shown + " shown kept"); }
    });
    edges.forEach(function (e) { e.node.setAttribute("visibility", e.a.kept && e.b.kept ? "visible" : "hidden"); });
    return counts;
  }

  // ------------------------------------------------------------ curves
  function chart(id, title, key, scale, withTrain) {
    var s = document.getElementById(id), L = 46, R = 10, T = 22, B = 30, w = 430, h = 260;
    var values = [];
    D.arms.forEach(function (a) {
      var c = D.curves[a], start = Math.floor(c.epoch.length * 0.1);
      [key].concat(withTrain ? ["train_loss"] : []).forEach(function (k) {
        c[k].slice(start).forEach(function (v) { if (v !== null) { values.push(v * scale); } });
      });
    });
    var hi = values.length ? Math.max.apply(null, values) : 1;
    var lo = key === "val_acc" && values.length ? Math.min.apply(null, values) : 0;
    var pad = Math.max(hi - lo, key === "val_acc" ? 1 : 1e-3) * 0.15;
    hi = key === "val_acc" ? Math.min(100, hi + pad) : hi * 1.1;
    lo = key === "val_acc" ? Math.max(0, lo - pad) : 0;
    var ep = D.curves[D.arms[0]].epoch, xmax = ep[ep.length - 1] || 1;
    function X(e) { return L + (w - L - R) * (e / xmax); }
    function Y(v) { return T + (h - T - B) * (1 - (v - lo) / (hi - lo || 1)); }
    el("text", { x: L, y: 14, "class": "chart-title" }, s, title);
    for (var t = 0; t <= 4; t++) {
      var v = lo + (hi - lo) * t / 4;
      el("line", { x1: L, x2: w - R, y1: Y(v), y2: Y(v), "class": "grid" }, s);
      el("text", { x: L - 4, y: Y(v) + 3, "class": "tick", "text-anchor": "end" }, s,
         key === "val_acc" ? v.toFixed(1) : v.toFixed(3));
    }
    el("line", { x1: L, x2: w - R, y1: h - B, y2: h - B, "class": "axis" }, s);
    for (var q = 0; q <= 4; q++) {
      var e = Math.round(xmax * q / 4);
      el("text", { x: X(e), y: h - B + 12, "class": "tick", "text-anchor": "middle" }, s, String(e));
    }
    el("text", { x: (L + w) / 2, y: h - 4, "class": "tick", "text-anchor": "middle" }, s, "epoch");
    var lines = 0;
    D.arms.forEach(function (a, i) {
      var c = D.curves[a];
      [[key, ""]].concat(withTrain ? [["train_loss", "5 3"]] : []).forEach(function (kd) {
        var pts = [];
        c.epoch.forEach(function (e, j) {
          var v = c[kd[0]][j];
          if (v !== null) { pts.push(X(e).toFixed(1) + "," + Y(Math.min(v * scale, hi)).toFixed(1)); }
        });
        el("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.6,
                         "stroke-dasharray": kd[1], "class": "curve" }, s);
        lines += 1;
      });
    });
    return lines;
  }

  // ------------------------------------------------------------ text, table, findings
  document.getElementById("setup").textContent = D.setup;
  var curveCount = chart("loss-chart", "cross-entropy: validation (solid), train with dropout off (dashed)",
                         "val_loss", 1, true)
                 + chart("acc-chart", "validation accuracy (%), dropout off", "val_acc", 100, false);
  var legend = document.getElementById("legend");
  D.arms.forEach(function (a, i) {
    html("span", a, legend).style.setProperty("--c", COLORS[i % COLORS.length]);
  });
  var table = document.getElementById("results");
  D.table.forEach(function (row, r) {
    var tr = html("tr", undefined, table);
    row.forEach(function (cell) { html(r === 0 ? "th" : "td", cell, tr); });
  });
  var findings = document.getElementById("findings");
  D.findings.forEach(function (line) { html("li", line, findings); });

  var info = document.getElementById("step-info");
  function update() {
    Object.keys(armButtons).forEach(function (a) { armButtons[a].className = a === state.arm ? "active" : ""; });
    var n = stepCount();
    slider.max = Math.max(n - 1, 0);
    slider.value = state.step;
    var counts = drawStep();
    info.textContent = state.arm
      ? state.arm + ", training step " + (state.step + 1) + " of the " + n
        + " recorded (first run, first example of the batch): " + counts.join("; ")
        + ". Dropped units are hollow and crossed (light cells in grids) and lose their connections."
      : "This experiment records no masks.";
    document.body.setAttribute("data-step", String(state.step));
    document.body.setAttribute("data-arm", state.arm || "");
    document.body.setAttribute("data-kept", String(svg.querySelectorAll(".unit.kept, .cell.kept").length));
  }
  update();
  document.body.setAttribute("data-units", String(svg.querySelectorAll(".unit, .cell").length));
  document.body.setAttribute("data-curves", String(curveCount));
  document.body.setAttribute("data-rows", String(table.querySelectorAll("tr").length - 1));
  document.body.setAttribute("data-status", "rendered");
  console.log("fastdrop demo page rendered: " + svg.querySelectorAll(".unit, .cell").length + " units, "
              + curveCount + " curves, " + (table.querySelectorAll("tr").length - 1) + " table rows");
})();
"""
