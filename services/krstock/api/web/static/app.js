/* krstock dashboard: the shared client of our own HTTP API (no other data path).
 *
 * KR.api() adds the key from localStorage as X-API-Key and turns every failure (network, 401,
 * 403, 404, 409, 503, ...) into a result the page can explain in Korean. KR.el() builds DOM
 * nodes from data (never innerHTML with data), the chart helpers wrap lightweight-charts.
 */
"use strict";

const KR = (() => {
  const KEY_NAME = "krstock.apiKey";
  const body = document.body;

  function storedKey() {
    try {
      return window.localStorage.getItem(KEY_NAME) || "";
    } catch (_) {
      return "";
    }
  }

  function saveKey(value) {
    try {
      if (value) window.localStorage.setItem(KEY_NAME, value);
      else window.localStorage.removeItem(KEY_NAME);
    } catch (_) {
      /* storage disabled: the key lasts for this page only */
    }
  }

  /** One API call: {ok, status, data, headers, message}; never throws. */
  async function api(path, options = {}) {
    const headers = { Accept: "application/json" };
    const key = storedKey();
    if (key) headers["X-API-Key"] = key;
    const init = { method: options.method || "GET", headers, cache: "no-store" };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: null, headers: new Headers(), message: String(err) };
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = text;
      }
    }
    return {
      ok: response.ok,
      status: response.status,
      data,
      headers: response.headers,
      message: errorText(data),
    };
  }

  function errorText(data) {
    if (!data || typeof data !== "object") return typeof data === "string" ? data.slice(0, 200) : "";
    const err = data.error;
    if (typeof err === "string") return err;
    if (err && typeof err === "object") return err.message || err.code || "";
    if (typeof data.message === "string") return data.message;
    if (typeof data.detail === "string") return data.detail;
    return "";
  }

  /** What went wrong, in words a user can act on. */
  function explain(result, what) {
    const detail = result.message ? ` (${result.message})` : "";
    switch (result.status) {
      case 0:
        return `${what}: 서버에 연결할 수 없습니다. 게이트웨이가 실행 중인지 확인하세요${detail}.`;
      case 401:
        return `${what}: API 키가 필요하거나 올바르지 않습니다. 위쪽 'API 키' 칸에 키를 입력하세요${detail}.`;
      case 403:
        return `${what}: 이 키에는 권한이 없습니다${detail}.`;
      case 404:
        return `${what}: 데이터가 없습니다${detail}.`;
      case 409:
        return `${what}: 이미 실행 중입니다${detail}.`;
      case 429:
        return `${what}: 요청이 너무 많습니다. 잠시 후 다시 시도하세요${detail}.`;
      case 503:
        return `${what}: 서비스를 일시적으로 사용할 수 없습니다 (503)${detail}.`;
      default:
        return `${what}: 오류 ${result.status}${detail}.`;
    }
  }

  /** Replace ``target``'s content with an error box. */
  function fail(target, result, what) {
    target.replaceChildren(el("div", { class: "error", role: "alert" }, explain(result, what)));
    target.dataset.state = "error";
  }

  /** A DOM element: el("td", {class: "x"}, "text", child, ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const numberFmt = new Intl.NumberFormat("ko-KR");
  function num(value, digits = 0) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
    return Number(value).toLocaleString("ko-KR", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
  }
  function won(value) {
    return value === null || value === undefined ? "—" : `${numberFmt.format(Math.round(value))}원`;
  }
  function pct(value, digits = 2) {
    if (value === null || value === undefined) return "—";
    const v = Number(value);
    return `${v > 0 ? "+" : ""}${v.toFixed(digits)}%`;
  }
  function signClass(value) {
    if (value === null || value === undefined || Number(value) === 0) return "";
    return Number(value) > 0 ? "up" : "down";
  }
  function eok(value) {
    // 억원 (1e8 KRW), as Korean market screens show trading value.
    return value === null || value === undefined ? "—" : `${numberFmt.format(Math.round(value / 1e8))}억원`;
  }
  function time(date = new Date()) {
    return date.toLocaleTimeString("ko-KR", { hour12: false });
  }

  /** Follow a run (/api/v1/runs/{id}) into ``target`` until it has finished. */
  async function followRun(runId, target, intervalMs = 1000) {
    const bar = el("progress", { max: "100", value: "0", "aria-label": "진행률" });
    const text = el("p", { class: "small", role: "status" }, `실행 ${runId}: 시작됨`);
    target.replaceChildren(text, bar);
    target.dataset.runId = runId;
    target.dataset.runStatus = "PENDING";
    for (;;) {
      const res = await api(`/api/v1/runs/${encodeURIComponent(runId)}`);
      if (!res.ok) {
        fail(target, res, "실행 상태");
        return null;
      }
      const run = res.data;
      const progress = Math.max(0, Math.min(100, Number(run.progress) || 0));
      bar.value = progress;
      target.dataset.runStatus = run.status;
      const c = run.counts || {};
      const shown = [["scanned", "검사"], ["total_candidates", "후보"], ["signals", "시그널"]]
        .filter(([k]) => typeof c[k] === "number")
        .map(([k, label]) => `${label} ${num(c[k])}`);
      const counts = shown.length ? ` · ${shown.join(", ")}` : "";
      text.textContent = `실행 ${runId} (${run.kind}): ${run.status} · ${progress.toFixed(0)}%${counts}`;
      if (run.status === "SUCCEEDED" || run.status === "FAILED") {
        if (run.error) target.append(el("div", { class: "error", role: "alert" }, `오류: ${run.error}`));
        return run;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  // --- Charts (lightweight-charts, vendored) -------------------------------------------------

  const CHART_THEME = {
    layout: { background: { color: "#181b22" }, textColor: "#c9ced6", fontSize: 12 },
    grid: { vertLines: { color: "#232833" }, horzLines: { color: "#232833" } },
    rightPriceScale: { borderColor: "#2c313c" },
    timeScale: { borderColor: "#2c313c" },
    autoSize: true,
  };
  const LINE_COLORS = { entry: "#6cb6ff", stop: "#ff6b6b", target: "#3ddc84" };

  // The library (about 200 kB) loads on first use, after the page's data is on screen.
  let library = null;
  function loadCharts() {
    if (!library) {
      library = new Promise((resolve, reject) => {
        const script = el("script", { src: body.dataset.chartsSrc });
        script.addEventListener("load", () => resolve(window.LightweightCharts));
        script.addEventListener("error", () => reject(new Error("chart library failed to load")));
        document.head.append(script);
      });
    }
    return library;
  }
  let L = null;
  function charts() {
    if (!L) throw new Error("chart library not loaded");
    return L;
  }

  /** A new chart in ``container``, replacing the one drawn there before (on a reload). */
  function newChart(container) {
    if (container.krChart) container.krChart.remove();
    container.replaceChildren();
    container.krChart = charts().createChart(container, CHART_THEME);
    return container.krChart;
  }

  /** Daily candles with volume and the signal's price lines ({entry, stop, target}). */
  async function candleChart(container, bars, lines) {
    L = await loadCharts();
    const chart = newChart(container);
    chart.applyOptions({ localization: { locale: "ko-KR", priceFormatter: (p) => num(p) } });
    // Korean convention: rising red, falling blue.
    const candles = chart.addSeries(L.CandlestickSeries, {
      upColor: "#ff6b6b", downColor: "#5fa8ff", borderVisible: false,
      wickUpColor: "#ff6b6b", wickDownColor: "#5fa8ff",
      priceFormat: { type: "price", precision: 0, minMove: 1 },
    });
    candles.setData(bars.map((b) => ({ time: b.date, open: b.open, high: b.high, low: b.low, close: b.close })));
    const volume = chart.addSeries(L.HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "" });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    volume.setData(
      bars.map((b) => ({ time: b.date, value: b.volume, color: b.close >= b.open ? "#ff6b6b66" : "#5fa8ff66" })),
    );
    const titles = { entry: "진입", stop: "손절", target: "목표" };
    for (const [name, price] of Object.entries(lines || {})) {
      if (price === null || price === undefined) continue;
      candles.createPriceLine({
        price: Number(price), color: LINE_COLORS[name], lineWidth: 2, lineStyle: 2,
        axisLabelVisible: true, title: titles[name] || name,
      });
    }
    chart.timeScale().fitContent();
    return chart;
  }

  /** Market Gate scores over time, coloured by status. */
  async function gateChart(container, items) {
    L = await loadCharts();
    const chart = newChart(container);
    const colors = { GREEN: "#3ddc84", YELLOW: "#f5c451", RED: "#ff6b6b" };
    const series = chart.addSeries(L.HistogramSeries, { priceFormat: { type: "price", precision: 0, minMove: 1 } });
    series.setData(
      items
        .slice()
        .sort((a, b) => (a.date < b.date ? -1 : 1))
        .map((g) => ({ time: g.date, value: g.score, color: colors[g.status] || "#a9b0bc" })),
    );
    chart.timeScale().fitContent();
    return chart;
  }

  /** Lines of {time, value} series: [{name, color, points}]. */
  async function lineChart(container, lines) {
    L = await loadCharts();
    const chart = newChart(container);
    for (const line of lines) {
      const series = chart.addSeries(L.LineSeries, { color: line.color, lineWidth: 2, title: line.name });
      series.setData(line.points);
    }
    chart.timeScale().fitContent();
    return chart;
  }

  // --- The stock detail dialog ---------------------------------------------------------------

  /** Open the chart dialog for one stock: 6 months of daily bars plus the given price lines. */
  async function showStock(ticker, name, lines, note) {
    const dialog = document.getElementById("stock-dialog");
    const box = document.getElementById("stock-chart");
    document.getElementById("stock-dialog-title").textContent = `${name || ""} (${ticker}) 일봉`;
    const legend = document.getElementById("stock-dialog-legend");
    const names = { entry: "진입가", stop: "손절가", target: "목표가" };
    legend.replaceChildren(
      ...Object.entries(lines)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => el("span", { class: k }, `— ${names[k]} ${won(v)}`)),
    );
    document.getElementById("stock-dialog-note").textContent = note || "";
    box.replaceChildren(el("p", { class: "muted" }, "불러오는 중…"));
    box.dataset.state = "loading";
    if (!dialog.open) dialog.showModal();
    const res = await api(`/api/kr/stock-chart/${encodeURIComponent(ticker)}?period=6m`);
    if (box.krChart) {
      box.krChart.remove();
      box.krChart = null;
    }
    if (!res.ok) {
      fail(box, res, "차트");
      return;
    }
    const bars = res.data.data || [];
    box.setAttribute(
      "aria-label",
      `${name || ticker} 일봉 ${bars.length}개, 마지막 종가 ${bars.length ? won(bars[bars.length - 1].close) : "없음"}`,
    );
    await candleChart(box, bars, lines);
    box.dataset.state = "ready";
    box.dataset.bars = String(bars.length);
  }

  function initDialog() {
    const dialog = document.getElementById("stock-dialog");
    if (!dialog) return;
    document.getElementById("stock-dialog-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      const box = document.getElementById("stock-chart");
      if (box.krChart) {
        box.krChart.remove();
        box.krChart = null;
      }
    });
  }

  // --- The key form --------------------------------------------------------------------------

  function showKeyState() {
    const state = document.getElementById("key-state");
    const key = storedKey();
    const reads = body.dataset.keysForReads === "true";
    state.textContent = key
      ? `키 저장됨 (${key.slice(0, 8)}…, 이 브라우저에만) — X-API-Key로 전송`
      : reads
        ? "이 서버는 읽기에도 API 키가 필요합니다. 키를 입력하세요."
        : "키 없음: 조회는 가능, 실행 버튼에는 쓰기 키가 필요합니다.";
  }

  function initKeyForm() {
    const form = document.getElementById("key-form");
    const input = document.getElementById("api-key");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saveKey(input.value.trim());
      input.value = "";
      showKeyState();
      document.dispatchEvent(new CustomEvent("kr:key-changed"));
    });
    document.getElementById("key-clear").addEventListener("click", () => {
      saveKey("");
      input.value = "";
      showKeyState();
      document.dispatchEvent(new CustomEvent("kr:key-changed"));
    });
    showKeyState();
  }

  /** Run ``load`` now and again whenever the key changes. */
  function start(load) {
    const run = () =>
      Promise.resolve(load()).catch((err) => {
        // A page bug must be visible, not a silent blank.
        const main = document.getElementById("main");
        main.append(el("div", { class: "error", role: "alert" }, `화면 오류: ${err}`));
        throw err;
      });
    document.addEventListener("kr:key-changed", run);
    run();
  }

  initKeyForm();
  initDialog();

  return {
    api, explain, fail, el, num, won, pct, eok, time, signClass, followRun,
    candleChart, gateChart, lineChart, showStock, start, storedKey,
  };
})();
