// tokenflood's report.html: draws each chart described in the page's JSON with uPlot (inlined
// above), so the page needs no network. A series is told by its colour, its dash and its point
// marker alike (Okabe-Ito colours; the marker's glyph leads its label), so it stays apart in
// print and for colour-blind readers. Hovering a chart shows every series' value in its legend.
(function () {
  "use strict";
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 3]];
  var SHAPES = ["circle", "square", "triangle", "diamond", "plus", "cross"];
  var GLYPHS = {circle: "\u25CF", square: "\u25A0", triangle: "\u25B2", diamond: "\u25C6",
                plus: "\u271A", cross: "\u2716"};
  var MARKER_GAP_PX = 14;   // on a long series (an observation's polls) a marker this far apart

  function pick(list, i) { return list[i % list.length]; }

  function shapePath(path, shape, x, y, r) {
    switch (shape) {
      case "square": path.rect(x - r, y - r, 2 * r, 2 * r); break;
      case "triangle":
        path.moveTo(x, y - r * 1.2); path.lineTo(x + r * 1.1, y + r * 0.8);
        path.lineTo(x - r * 1.1, y + r * 0.8); path.closePath(); break;
      case "diamond":
        path.moveTo(x, y - r * 1.3); path.lineTo(x + r * 1.1, y); path.lineTo(x, y + r * 1.3);
        path.lineTo(x - r * 1.1, y); path.closePath(); break;
      case "plus":
        path.moveTo(x - r * 1.2, y); path.lineTo(x + r * 1.2, y);
        path.moveTo(x, y - r * 1.2); path.lineTo(x, y + r * 1.2); break;
      case "cross":
        path.moveTo(x - r, y - r); path.lineTo(x + r, y + r);
        path.moveTo(x - r, y + r); path.lineTo(x + r, y - r); break;
      default: path.moveTo(x + r, y); path.arc(x, y, r, 0, 2 * Math.PI);
    }
  }

  // uPlot's points are circles; this draws the series' own shape, every n-th point when dense
  // (`thin`: a line's markers; a series of markers alone, such as the throttled polls, keeps
  // every point, or a mark would be thinned away)
  function markers(shape, thin) {
    return function (u, seriesIdx, idx0, idx1) {
      var xs = u.data[0], ys = u.data[seriesIdx], s = u.series[seriesIdx];
      var r = s.points.size / 2 * devicePixelRatio;
      var fill = new Path2D(), stroke = new Path2D();
      var open = shape === "plus" || shape === "cross";
      var span = Math.max(1, idx1 - idx0);
      var every = thin ? Math.max(1, Math.ceil(span * MARKER_GAP_PX / Math.max(u.bbox.width / devicePixelRatio, 1))) : 1;
      for (var i = idx0; i <= idx1; i++) {
        if (ys[i] == null || (i - idx0) % every) continue;
        var x = u.valToPos(xs[i], "x", true), y = u.valToPos(ys[i], s.scale, true);
        shapePath(open ? stroke : fill, shape, x, y, r);
        if (!open) shapePath(stroke, shape, x, y, r);
      }
      return {stroke: stroke, fill: fill};
    };
  }

  function fromZero(u, min, max) {
    if (max == null || !isFinite(max) || max <= 0) return [0, 1];
    return [0, max * 1.08];
  }

  function options(spec, width) {
    var series = [{label: spec.x.label, value: spec.x.time ? utcValue : numberValue(spec.x)}];
    spec.series.forEach(function (s) {
      var shape = pick(SHAPES, s.style), colour = pick(COLOURS, s.style);
      series.push({
        label: GLYPHS[shape] + " " + s.label,
        stroke: colour,
        width: 2,
        dash: s.line ? pick(DASHES, s.style) : undefined,
        paths: s.line ? undefined : function () { return null; },
        spanGaps: false,
        points: {show: true, size: 8, width: 1.5, stroke: colour, fill: colour,
                 paths: markers(shape, s.line)},
        value: function (u, v) { return v == null ? "-" : fmt(v, spec.y.digits); },
      });
    });
    var axes = [{label: spec.x.label}, {label: spec.y.label}];
    if (spec.x.time) { axes[0].values = utcTicks; axes[0].size = 64; }   // two lines of ticks
    if (spec.x.ticks) {
      axes[0].splits = function () { return spec.x.values; };
      axes[0].values = function (u, ticks) { return ticks.map(function (t) { return spec.x.ticks[spec.x.values.indexOf(t)] || ""; }); };
    }
    return {
      width: width, height: spec.height || 300,
      series: series, axes: axes,
      // a time axis: uPlot's round clock times, in UTC as every time in tokenflood's results
      scales: {x: {time: !!spec.x.time}, y: {range: fromZero}},
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      legend: {live: true},
      cursor: {points: {size: 9}},
    };
  }

  function fmt(v, digits) {
    return v.toLocaleString("en-US", {maximumFractionDigits: digits == null ? 1 : digits,
                                      minimumFractionDigits: digits == null ? 1 : digits});
  }
  function numberValue(x) {
    return function (u, v) {
      if (v == null) return "-";
      if (x.ticks) { var i = x.values.indexOf(v); if (i >= 0) return x.ticks[i]; }
      return String(+v.toFixed(6));
    };
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function utcValue(u, v) {
    if (v == null) return "-";
    var d = new Date(v * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  // a time axis in 24-hour UTC clock times, seconds where the ticks are seconds apart, and
  // the date (month-day) under the first tick and where a day begins
  function utcTicks(u, splits, axisIdx, space, incr) {
    return splits.map(function (t, i) {
      var d = new Date(t * 1000);
      var clock = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) +
        (incr < 60 ? ":" + pad(d.getUTCSeconds()) : "");
      var day = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
      if (incr >= 86400) return day;
      var midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0;
      return midnight || i === 0 ? clock + "\n" + day : clock;
    });
  }

  function draw() {
    var specs = JSON.parse(document.getElementById("tokenflood-charts").textContent);
    var made = [];
    specs.forEach(function (spec, i) {
      var el = document.querySelector('[data-chart="' + i + '"] .plot');
      if (!el) return;
      var width = Math.max(320, el.clientWidth || 860);
      var data = [spec.x.values].concat(spec.series.map(function (s) { return s.values; }));
      var u = new uPlot(options(spec, width), data, el);
      made.push(u);
    });
    window.addEventListener("resize", function () {
      made.forEach(function (u) {
        var w = Math.max(320, u.root.parentNode.clientWidth);
        if (Math.abs(w - u.width) > 8) u.setSize({width: w, height: u.height});
      });
    });
    window.tokenfloodCharts = made;
  }

  // a folded table (every poll, every metric) is printed open
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
