/* Charts of the physician pages (Chart.js from static/vendor). Data comes from each
   canvas's data-chart attribute; the tables next to the charts carry the same figures. */
(function () {
  "use strict";
  if (!window.Chart) { return; }

  var SHADES = ["rgba(108,117,125,0.10)", "rgba(13,110,253,0.10)", "rgba(25,135,84,0.10)",
                "rgba(255,193,7,0.14)", "rgba(111,66,193,0.10)"];

  /* Phase bands behind the daily pain line, with their labels on top. */
  var phaseBands = {
    id: "phaseBands",
    beforeDatasetsDraw: function (chart, args, options) {
      var phases = options.phases || [];
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
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

  document.querySelectorAll("canvas.pain-chart").forEach(function (canvas) {
    var data = JSON.parse(canvas.dataset.chart);
    new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [{ label: "Daily pain", data: data.pain, borderColor: "#0b5ed7",
                     backgroundColor: "#0b5ed7", pointRadius: 2, spanGaps: false, tension: 0 }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: painScale(), x: { ticks: { maxTicksLimit: 12 } } },
        plugins: { legend: { display: false }, phaseBands: { phases: data.phases } }
      },
      plugins: [phaseBands]
    });
  });

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
