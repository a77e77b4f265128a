/* Charts of the physician pages (Chart.js from static/vendor). Data comes from the
   json_script "daily-chart-data" (the patient page) or each canvas's data-chart
   attribute (the cohort); the tables and SVG next to the charts carry the same figures,
   and without this script the SVG stays in place. */
(function () {
  "use strict";
  if (!window.Chart) { return; }

  var SHADES = ["rgba(108,117,125,0.10)", "rgba(13,110,253,0.10)", "rgba(25,135,84,0.10)",
                "rgba(255,193,7,0.14)", "rgba(111,66,193,0.10)"];

  /* Phase bands behind a daily series, with their labels on top and, where the phase
     has one for the series, its mean as a dashed line across the band. */
  var phaseBands = {
    id: "phaseBands",
    beforeDatasetsDraw: function (chart, args, options) {
      var phases = options.phases || [];
      var x = chart.scales.x, y = chart.scales.y, area = chart.chartArea, ctx = chart.ctx;
      var half = (x.getPixelForValue(1) - x.getPixelForValue(0)) / 2 || 0;
      ctx.save();
      phases.forEach(function (phase, i) {
        var left = Math.max(area.left, x.getPixelForValue(phase.from) - half);
        var right = Math.min(area.right, x.getPixelForValue(phase.to) + half);
        ctx.fillStyle = SHADES[i % SHADES.length];
        ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
        ctx.fillStyle = "#495057";
        ctx.font = "12px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.fillText(phase.label, (left + right) / 2, area.top + 14);
        var mean = options.series && phase.means ? phase.means[options.series] : null;
        if (mean !== null && mean !== undefined && y) {
          ctx.strokeStyle = "#212529";
          ctx.lineWidth = 2;
          ctx.setLineDash([8, 4]);
          ctx.beginPath();
          ctx.moveTo(left, y.getPixelForValue(mean));
          ctx.lineTo(right, y.getPixelForValue(mean));
          ctx.stroke();
          ctx.setLineDash([]);
        }
      });
      ctx.restore();
    }
  };

  /* ± 1 SD whiskers on the cohort bars. */
  var whiskers = {
    id: "whiskers",
    afterDatasetsDraw: function (chart, args, options) {
      var sd = options.sd || [];
      var meta = chart.getDatasetMeta(0), y = chart.scales.y, ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#212529";
      ctx.lineWidth = 1.5;
      meta.data.forEach(function (bar, i) {
        var mean = chart.data.datasets[0].data[i];
        if (sd[i] === null || sd[i] === undefined || mean === null) { return; }
        var top = y.getPixelForValue(Math.min(10, mean + sd[i]));
        var bottom = y.getPixelForValue(Math.max(0, mean - sd[i]));
        ctx.beginPath();
        ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - 8, top); ctx.lineTo(bar.x + 8, top);
        ctx.moveTo(bar.x - 8, bottom); ctx.lineTo(bar.x + 8, bottom);
        ctx.stroke();
      });
      ctx.restore();
    }
  };

  function painScale() {
    return { min: 0, max: 10, ticks: { stepSize: 2 }, title: { display: true, text: "Pain (0-10)" } };
  }

  /* The patient page's daily charts: one json_script holds every series; each canvas
     replaces the server-drawn SVG (its fallback without JavaScript) in its figure. */
  var source = document.getElementById("daily-chart-data");
  var daily = source ? JSON.parse(source.textContent) : null;

  function enhance(canvas) {
    var figure = canvas.closest("figure");
    var fallback = figure && figure.querySelector(".chart-fallback");
    canvas.parentElement.hidden = false;
    if (fallback) { fallback.hidden = true; }
  }

  function seriesChart(canvas, series, label, top) {
    enhance(canvas);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: daily.labels,
        datasets: [{ label: label, data: daily[series], borderColor: "#0b5ed7",
                     backgroundColor: "#0b5ed7", pointRadius: 2, spanGaps: false, tension: 0 }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          y: { min: 0, max: top, ticks: { stepSize: top / 5 }, title: { display: true, text: label + " (0-" + top + ")" } },
          x: { ticks: { maxTicksLimit: 8 } }
        },
        plugins: { legend: { display: false }, phaseBands: { phases: daily.phases, series: series } }
      },
      plugins: [phaseBands]
    });
  }

  if (daily) {
    document.querySelectorAll("canvas.pain-chart").forEach(function (canvas) {
      seriesChart(canvas, "pain", "Pain", 10);
    });
    document.querySelectorAll("canvas.daily-chart").forEach(function (canvas) {
      var series = canvas.dataset.series;
      seriesChart(canvas, series, daily.names[series], daily.top[series]);
    });
    /* Headache days as triangles on the top row, vivid-dream days as circles below. */
    document.querySelectorAll("canvas.marks-chart").forEach(function (canvas) {
      enhance(canvas);
      function row(series, at) {
        return daily[series].map(function (yes) { return yes ? at : null; });
      }
      new Chart(canvas, {
        type: "line",
        data: {
          labels: daily.labels,
          datasets: [
            { label: daily.names.headache, data: row("headache", 2), showLine: false,
              pointStyle: "triangle", pointRadius: 6, borderColor: "#b02a37", backgroundColor: "#b02a37" },
            { label: daily.names.vivid_dreams, data: row("vivid_dreams", 1), showLine: false,
              pointStyle: "circle", pointRadius: 5, borderColor: "#6f42c1", backgroundColor: "#6f42c1" }
          ]
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: {
            y: { min: 0.3, max: 2.9, ticks: { stepSize: 1, callback: function (value) {
              return value === 2 ? daily.names.headache : value === 1 ? daily.names.vivid_dreams : "";
            } } },
            x: { ticks: { maxTicksLimit: 8 } }
          },
          plugins: { legend: { labels: { usePointStyle: true } }, phaseBands: { phases: daily.phases } }
        },
        plugins: [phaseBands]
      });
    });
  }

  document.querySelectorAll("canvas.cohort-chart").forEach(function (canvas) {
    var data = JSON.parse(canvas.dataset.chart);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ label: "Mean pain", data: data.mean, backgroundColor: "rgba(13,110,253,0.55)" }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: painScale() },
        plugins: {
          legend: { display: false },
          whiskers: { sd: data.sd },
          tooltip: { callbacks: { afterLabel: function (item) {
            var sd = data.sd[item.dataIndex];
            return (sd === null ? "SD: —" : "SD: " + sd.toFixed(1)) + ", patients: " + data.patients[item.dataIndex];
          } } }
        }
      },
      plugins: [whiskers]
    });
  });
})();
