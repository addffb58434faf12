/* /dashboard/kr: Market Gate, indices, today's signals, strategy cards, gate history, equity. */
"use strict";

(() => {
  const { api, el, fail, num, won, pct, signClass } = KR;
  const $ = (id) => document.getElementById(id);
  const LABELS = { GREEN: "매수 우호", YELLOW: "중립", RED: "위험", RISK_ON: "위험 선호", RISK_OFF: "위험 회피" };

  function ring(score, status) {
    const r = 50;
    const c = 2 * Math.PI * r;
    const filled = (Math.max(0, Math.min(100, score)) / 100) * c;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 120 120");
    svg.setAttribute("class", `ring status-${status}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `마켓 게이트 점수 ${score} / 100`);
    const track = document.createElementNS(ns, "circle");
    const arc = document.createElementNS(ns, "circle");
    for (const node of [track, arc]) {
      node.setAttribute("cx", "60");
      node.setAttribute("cy", "60");
      node.setAttribute("r", String(r));
    }
    track.setAttribute("class", "track");
    arc.setAttribute("stroke-dasharray", `${filled} ${c}`);
    arc.setAttribute("transform", "rotate(-90 60 60)");
    arc.setAttribute("stroke-linecap", "round");
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", "60");
    text.setAttribute("y", "60");
    text.textContent = String(score);
    svg.append(track, arc, text);
    return svg;
  }

  async function loadGate() {
    const box = $("gate");
    const res = await api("/api/kr/market-gate");
    if (!res.ok) {
      fail(box, res, "마켓 게이트");
      fail($("indices"), res, "지수");
      fail($("sectors"), res, "섹터");
      return;
    }
    const g = res.data;
    const status = g.status || "UNKNOWN";
    box.replaceChildren(
      el(
        "div",
        { class: "gate" },
        ring(Number(g.score) || 0, status),
        el(
          "div",
          {},
          el("div", { class: `stat status-${status}`, id: "gate-status" }, status),
          el("div", {}, `${g.label || LABELS[status] || ""} · ${LABELS[status] || ""}`),
          el("div", { class: "muted small" }, `기준일 ${g.date || "—"}`),
          g.error ? el("div", { class: "notice small" }, g.error) : null,
        ),
      ),
      el("ul", { class: "small" }, (g.reasons || []).map((r) => el("li", {}, r))),
    );
    box.dataset.state = "ready";

    const idx = (name, close, change) =>
      el(
        "div",
        {},
        el("div", { class: "muted" }, name),
        el("span", { class: "stat" }, num(close, 2)),
        " ",
        el("span", { class: signClass(change) }, pct(change)),
      );
    const usd = g.metrics ? g.metrics.usd_krw : null;
    $("indices").replaceChildren(
      el(
        "div",
        { class: "row" },
        idx("KOSPI", g.kospi_close, g.kospi_change_pct),
        idx("KOSDAQ", g.kosdaq_close, g.kosdaq_change_pct),
      ),
      el("p", { class: "muted small" }, `USD/KRW ${usd === null || usd === undefined ? "—" : num(usd, 1)}`),
    );
    $("indices").dataset.state = "ready";

    const sectors = g.sectors || [];
    const signalNames = { bullish: "강세", bearish: "약세", neutral: "중립" };
    $("sectors").replaceChildren(
      sectors.length
        ? el(
            "div",
            { class: "tiles" },
            sectors.map((s) =>
              el(
                "div",
                { class: `tile ${s.signal}` },
                el("div", { class: "name" }, s.name),
                el("div", { class: `chg ${signClass(s.change_pct)}` }, pct(s.change_pct)),
                el("div", { class: "muted small" }, `${signalNames[s.signal] || s.signal} · ${s.score}`),
              ),
            ),
          )
        : el("p", { class: "muted" }, "섹터 데이터가 없습니다."),
    );
    $("sectors").dataset.state = "ready";
  }

  async function loadSignals() {
    const [vcp, cb] = await Promise.all([api("/api/kr/signals"), api("/api/kr/jongga-v2/latest")]);
    const count = $("today-count");
    let vcpToday = [];
    let latest = null;
    if (vcp.ok) {
      const signals = vcp.data.signals || [];
      latest = signals.reduce((m, s) => (s.signal_date > (m || "") ? s.signal_date : m), null);
      vcpToday = signals.filter((s) => s.signal_date === latest);
      $("vcp-today").replaceChildren(
        vcpToday.length
          ? el(
              "table",
              {},
              el("caption", {}, `시그널일 ${latest} · 열린 VCP 시그널 ${vcp.data.count}개 중`),
              el("thead", {}, el("tr", {}, ["종목", "점수", "진입가", "현재가", "수익률"].map((h) => el("th", { scope: "col" }, h)))),
              el(
                "tbody",
                {},
                vcpToday.map((s) =>
                  el(
                    "tr",
                    {},
                    el("td", {}, s.name || s.ticker, el("span", { class: "sub" }, `${s.ticker} · ${s.market || ""}`)),
                    el("td", {}, num(s.score, 1)),
                    el("td", {}, won(s.entry_price)),
                    el("td", {}, s.price_status === "ok" ? won(s.current_price) : "가격 없음"),
                    el("td", { class: signClass(s.return_pct) }, pct(s.return_pct)),
                  ),
                ),
              ),
            )
          : el("p", { class: "muted" }, vcp.data.message || "열린 VCP 시그널이 없습니다."),
      );
      $("vcp-today").dataset.state = "ready";
    } else {
      fail($("vcp-today"), vcp, "VCP 시그널");
    }
    let cbCount = null;
    if (cb.ok) {
      const items = cb.data.signals || [];
      cbCount = items.length;
      $("cb-today").replaceChildren(
        items.length
          ? el(
              "table",
              {},
              el("caption", {}, `${cb.data.date} · 후보 ${num(cb.data.total_candidates)} → 시그널 ${num(cb.data.filtered_count)}`),
              el("thead", {}, el("tr", {}, ["종목", "등급", "점수", "진입가"].map((h) => el("th", { scope: "col" }, h)))),
              el(
                "tbody",
                {},
                items.map((s) =>
                  el(
                    "tr",
                    {},
                    el("td", {}, s.stock_name, el("span", { class: "sub" }, `${s.stock_code} · ${s.market || ""}`)),
                    el("td", {}, el("span", { class: `badge grade-${s.grade}` }, s.grade)),
                    el("td", {}, `${num(s.score && s.score.total)}/12`),
                    el("td", {}, won(s.entry_price)),
                  ),
                ),
              ),
            )
          : el("p", { class: "muted" }, cb.data.message || "시그널이 없습니다."),
      );
      $("cb-today").dataset.state = "ready";
    } else {
      fail($("cb-today"), cb, "종가베팅");
    }
    if (!vcp.ok && !cb.ok) {
      fail(count, vcp, "오늘의 시그널");
      return;
    }
    count.replaceChildren(
      el("div", { class: "stat", id: "today-total" }, String(vcpToday.length + (cbCount || 0))),
      el(
        "div",
        { class: "small" },
        `VCP ${vcp.ok ? vcpToday.length : "—"}개 (${latest || "—"}) · 종가베팅 ${cbCount === null ? "—" : cbCount}개 (${cb.ok ? cb.data.date : "—"})`,
      ),
    );
    count.dataset.state = "ready";
  }

  async function loadStrategies() {
    const box = $("strategies");
    const res = await api("/api/kr/backtest-summary");
    if (!res.ok) {
      fail(box, res, "전략 성과");
      return;
    }
    const card = (title, s) =>
      el(
        "div",
        { class: "card" },
        el("h3", {}, title),
        s && s.status === "OK"
          ? el(
              "div",
              {},
              el("div", { class: "stat" }, `${num(s.win_rate, 1)}%`),
              el("div", { class: "small" }, `승률 · 평균 수익률 `, el("span", { class: signClass(s.avg_return) }, pct(s.avg_return)), ` · 거래 ${num(s.count)}건`),
            )
          : el("p", { class: "muted" }, (s && (s.message || s.status)) || "최소 2일 데이터 필요"),
      );
    box.replaceChildren(
      el("div", { class: "grid" }, card("VCP 전략", res.data.vcp), card("종가베팅 V2", res.data.closing_bet)),
      el("p", { class: "muted small" }, "종가베팅 카드는 원래 모놀리스의 휴리스틱(등락률 > 0 → +5%, 아니면 −3%)입니다."),
    );
    box.dataset.state = "ready";
  }

  async function loadGateHistory() {
    const box = $("gate-history");
    const res = await api("/api/v1/market-gate/history?limit=120");
    if (!res.ok) {
      fail(box, res, "마켓 게이트 추이");
      return;
    }
    const items = res.data.data || [];
    if (!items.length) {
      box.replaceChildren(el("p", { class: "muted" }, "기록이 없습니다."));
      box.dataset.state = "empty";
      return;
    }
    await KR.gateChart(box, items);
    box.setAttribute("aria-label", `마켓 게이트 점수 ${items.length}일, 최근 ${items[0].date} ${items[0].status} ${items[0].score}`);
    box.dataset.state = "ready";
    box.dataset.points = String(items.length);
  }

  /** Equity of closed trades: each exit day moves equity by that day's mean return, from 100
   * on the first entry day (the API's ``compounded_return`` definition). */
  function equityPoints(trades) {
    const byDay = new Map();
    let start = null;
    for (const t of trades) {
      if (!t.exit_date || t.return_pct === null || t.return_pct === undefined) continue;
      const day = byDay.get(t.exit_date) || [];
      day.push(Number(t.return_pct));
      byDay.set(t.exit_date, day);
      if (t.signal_date && (!start || t.signal_date < start)) start = t.signal_date;
    }
    const days = [...byDay.keys()].sort();
    let equity = 100;
    const points = start && start < days[0] ? [{ time: start, value: 100 }] : [];
    for (const day of days) {
      const returns = byDay.get(day);
      equity *= 1 + returns.reduce((a, b) => a + b, 0) / returns.length / 100;
      points.push({ time: day, value: Math.round(equity * 100) / 100 });
    }
    return points;
  }

  async function loadEquity() {
    const box = $("equity");
    const [report, proxy] = await Promise.all([
      api("/api/kr/cumulative-return"),
      api("/api/kr/stock-chart/069500?period=1y"),
    ]);
    if (!report.ok) {
      fail(box, report, "실현 거래");
      return;
    }
    const trades = report.data.trades || [];
    const points = equityPoints(trades);
    if (!points.length) {
      box.replaceChildren(el("p", { class: "muted" }, "청산된 거래가 아직 없습니다."));
      box.dataset.state = "empty";
      return;
    }
    const lines = [{ name: "실현 거래", color: "#ffd166", points }];
    if (proxy.ok) {
      const bars = (proxy.data.data || []).filter((b) => b.date >= points[0].time);
      if (bars.length) {
        const base = bars[0].close;
        lines.push({
          name: "KODEX 200",
          color: "#6cb6ff",
          points: bars.map((b) => ({ time: b.date, value: Math.round((b.close / base) * 10000) / 100 })),
        });
      }
    } else {
      $("equity-note").append(el("span", { class: "error" }, ` ${KR.explain(proxy, "KOSPI 200 비교선")}`));
    }
    await KR.lineChart(box, lines);
    const last = points[points.length - 1];
    $("equity-summary").textContent =
      `청산 ${num(trades.length)}건 · 복리 ${pct(report.data.compounded_return)} (API의 compounded_return) · ` +
      `단순 합계 ${pct(report.data.cumulative_return)} (모놀리스 방식)`;
    box.setAttribute("aria-label", `실현 거래 자산 ${points.length}개 시점, 마지막 ${last.time} ${last.value}`);
    box.dataset.state = "ready";
    box.dataset.lines = String(lines.length);
    box.dataset.final = String(last.value);
  }

  async function startUpdate() {
    const target = $("update-run");
    const res = await api("/api/kr/update", { method: "POST" });
    if (!res.ok) {
      fail(target, res, "업데이트");
      return;
    }
    const runId = res.headers.get("X-Run-Id");
    if (res.data === false || !runId) {
      target.replaceChildren(el("div", { class: "notice", role: "status" }, `업데이트가 시작되지 않았습니다: ${res.headers.get("X-Error") || "이미 실행 중"}`));
      return;
    }
    await KR.followRun(runId, target);
  }

  $("update-button").addEventListener("click", startUpdate);

  KR.start(async () => {
    // The first paint needs the gate and the signals; the charts follow.
    await Promise.all([loadGate(), loadSignals()]);
    performance.mark("kr-ready");
    document.body.dataset.ready = "1";
    await Promise.all([loadStrategies(), loadGateHistory(), loadEquity()]);
    document.body.dataset.complete = "1";
  });
})();
