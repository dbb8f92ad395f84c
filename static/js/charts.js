// Metrics charts with uPlot (served locally). Each <figure data-chart="ID"> holds a json_script
// with {series: [{name, points: [[iso, value, min?, max?], ...]}]}; we draw one chart per figure,
// with a tooltip giving the exact value and time under the cursor.
(() => {
  const COLORS = ["#3d8bfd", "#e3b341", "#3fb950", "#db61a2", "#a371f7", "#39c5cf"];
  const LABELS = {
    cpu_percent: "SQL Server", cpu_other_percent: "Other processes", memory_percent: "Memory used",
    connection_count: "Connections", user_sessions: "User sessions",
    batch_requests_sec: "Batch requests/s", sql_compilations_sec: "Compilations/s",
    wait_time_ms: "Wait ms/s", disk_io_reads: "Reads/s", disk_io_writes: "Writes/s",
    read_latency_ms: "Read latency ms", write_latency_ms: "Write latency ms",
  };

  function tooltipPlugin(unit) {
    let tip;
    return {
      hooks: {
        init: (u) => {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
        },
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (i == null) { tip.hidden = true; return; }
          const when = new Date(u.data[0][i] * 1000).toLocaleString();
          const rows = u.series.slice(1).map((s, k) => {
            const v = u.data[k + 1][i];
            return v == null ? "" : `<div><span style="color:${s.stroke()}">●</span> ${s.label}: <b>${v}</b>${unit && !unit.startsWith("/") ? " " + unit : unit}</div>`;
          }).join("");
          tip.innerHTML = `<div class="muted">${when}</div>${rows}`;
          tip.hidden = false;
          const left = u.valToPos(u.data[0][i], "x");
          tip.style.left = `${Math.min(left + 12, u.over.clientWidth - 180)}px`;
          tip.style.top = "8px";
        },
      },
    };
  }

  function draw(fig) {
    if (fig.dataset.drawn || !window.uPlot) return;
    const data = JSON.parse(document.getElementById(fig.dataset.chart).textContent);
    const box = fig.querySelector(".chart-box");
    const unit = fig.dataset.unit || "";
    // Align every series on one time axis (series may miss points at some instants).
    let times = [...new Set(data.series.flatMap((s) => s.points.map((p) => p[0])))].sort();
    // A collection gap is a gap in the line, as in Grafana: where consecutive samples are much
    // further apart than usual, a null point breaks the line instead of a straight segment.
    const secs = times.map((t) => Date.parse(t) / 1000);
    const steps = secs.slice(1).map((t, i) => t - secs[i]).sort((a, b) => a - b);
    const usual = steps.length ? steps[Math.floor(steps.length / 2)] : 0;
    const gapAt = new Set();
    if (usual > 0) {
      const extra = [];
      secs.forEach((t, i) => {
        if (i && t - secs[i - 1] > usual * 2.5) {
          const mid = new Date((secs[i - 1] + usual) * 1000).toISOString();
          extra.push(mid);
          gapAt.add(mid);
        }
      });
      if (extra.length) times = [...times, ...extra].sort((a, b) => Date.parse(a) - Date.parse(b));
    }
    const index = new Map(times.map((t, i) => [t, i]));
    const cols = data.series.map((s) => {
      const col = new Array(times.length).fill(null);
      s.points.forEach((p) => { col[index.get(p[0])] = p[1]; });
      return col;
    });
    box.classList.remove("skeleton");
    fig.dataset.gaps = String(gapAt.size);
    if (!times.length) {
      const p = document.createElement("p");
      p.className = "muted chart-empty";
      p.textContent = fig.dataset.empty || "No data";
      box.replaceChildren(p);
      fig.dataset.drawn = "1";
      return;
    }
    const opts = {
      width: box.clientWidth || 400,
      height: 180,
      legend: { show: true, live: false },
      cursor: { points: { size: 6 } },
      // Every chart spans the whole requested range, so they line up however sparse the data.
      scales: {
        x: { time: true, range: () => [Date.parse(data.from) / 1000, Date.parse(data.to) / 1000] },
        y: unit === "%" ? { range: [0, 100] } : { auto: true },
      },
      axes: [
        { stroke: "#8e96a3", grid: { stroke: "#2c3038" }, ticks: { stroke: "#2c3038" } },
        { stroke: "#8e96a3", grid: { stroke: "#2c3038" }, ticks: { stroke: "#2c3038" }, size: 50 },
      ],
      series: [{}, ...data.series.map((s, k) => ({
        label: LABELS[s.name] || s.name, stroke: COLORS[k % COLORS.length], width: 1.5,
        points: { show: times.length < 90 }, spanGaps: false,
      }))],
      plugins: [tooltipPlugin(unit)],
    };
    box.innerHTML = "";
    const plot = new uPlot(opts, [times.map((t) => Date.parse(t) / 1000), ...cols], box);
    new ResizeObserver(() => plot.setSize({ width: box.clientWidth, height: 180 })).observe(box);
    fig.dataset.drawn = "1";
  }

  const drawAll = () => document.querySelectorAll("figure[data-chart]").forEach(draw);
  // A history snapshot keeps the markup, not the canvas: put the placeholders back so Back
  // redraws every chart.
  document.addEventListener("htmx:beforeHistorySave", () => {
    document.querySelectorAll("figure[data-chart][data-drawn]").forEach((fig) => {
      delete fig.dataset.drawn;
      const box = fig.querySelector(".chart-box");
      box.replaceChildren();
      box.classList.add("skeleton");
    });
  });
  // The first page, in-app navigation and swapped panels alike.
  htmx.onLoad(drawAll);
  window.dbtoolsCharts = { drawAll };
})();
