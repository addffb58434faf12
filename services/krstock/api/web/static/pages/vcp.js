/* /dashboard/kr/vcp: open VCP signals joined with their AI analyses; live prices on a poll. */
"use strict";

(() => {
  const { api, el, fail, num, won, pct, signClass } = KR;
  const $ = (id) => document.getElementById(id);
  const pollSeconds = Math.max(1, Number(document.body.dataset.pollS) || 60);
  const STOP_PCT = 7; // the VCP rule's stop-loss (monolith §4.5)
  const SOURCE_NAMES = { rules: "규칙 기반", gemini: "Gemini", gpt: "GPT", openai: "GPT" };
  let rows = new Map(); // ticker -> {signal, priceCell, returnCell}
  let timer = null;
  let polls = 0;

  function badge(rec) {
    if (!rec || !rec.action) return el("span", { class: "muted" }, "—");
    const source = rec.source ? SOURCE_NAMES[rec.source] || rec.source : "";
    const title = `${rec.reason || ""}${source ? ` (${source})` : ""}`;
    return el(
      "span",
      { class: `badge act-${rec.action}`, title, "aria-label": `${rec.action} ${title}` },
      rec.action,
      source === "규칙 기반" ? " · 규칙" : "",
    );
  }

  function flow(value, unit) {
    if (value === null || value === undefined) return "—";
    return `${num(value)}${unit === "krw" ? "원" : "주"}`;
  }

  function priceCells(signal) {
    if (signal.price_status !== "ok") {
      return [
        el("td", { title: signal.price_reason || "" }, "가격 없음"),
        el("td", {}, "—"),
      ];
    }
    return [
      el("td", {}, won(signal.current_price)),
      el("td", { class: signClass(signal.return_pct) }, pct(signal.return_pct)),
    ];
  }

  async function load() {
    const box = $("vcp-table");
    const [signals, analysis] = await Promise.all([api("/api/kr/signals"), api("/api/kr/ai-analysis")]);
    if (!signals.ok) {
      fail(box, signals, "VCP 시그널");
      document.body.dataset.ready = "1";
      return;
    }
    const analyses = new Map();
    if (analysis.ok) {
      for (const item of analysis.data.signals || []) analyses.set(item.ticker, item);
      const sources = analysis.data.analysis_source || [];
      $("ai-note").textContent = sources.length
        ? `AI 분석 ${analysis.data.signal_date || ""}: ${sources.map((s) => SOURCE_NAMES[s] || s).join(", ")}` +
          (sources.includes("rules") ? " — 규칙 기반 분석은 LLM이 아니라 규칙으로 만든 판단입니다." : "")
        : "AI 분석이 아직 없습니다.";
    } else {
      $("ai-note").textContent = KR.explain(analysis, "AI 분석");
    }
    const list = signals.data.signals || [];
    rows = new Map();
    if (!list.length) {
      box.replaceChildren(el("p", { class: "muted" }, signals.data.message || "열린 VCP 시그널이 없습니다."));
      box.dataset.state = "empty";
      document.body.dataset.ready = "1";
      return;
    }
    const head = ["종목", "날짜", "외국인 5D", "기관 5D", "점수", "수축", "진입가", "현재가", "수익률", "GPT", "Gemini"];
    const tbody = el("tbody", {});
    for (const s of list) {
      const ai = analyses.get(s.ticker) || {};
      const [priceCell, returnCell] = priceCells(s);
      const open = () =>
        KR.showStock(
          s.ticker,
          s.name,
          { entry: s.entry_price, stop: s.entry_price ? Math.round(s.entry_price * (1 - STOP_PCT / 100)) : null },
          "VCP: 진입가는 시그널일 종가, 손절 −7%, 목표가 없음(5일 보유 후 청산).",
        );
      const tr = el(
        "tr",
        { dataset: { ticker: s.ticker } },
        el(
          "td",
          {},
          el("button", { type: "button", class: "link", onclick: open }, s.name || s.ticker),
          el("span", { class: "sub" }, `${s.ticker} · ${s.market || ""}`),
        ),
        el("td", {}, s.signal_date),
        el("td", { class: signClass(s.foreign_5d) }, flow(s.foreign_5d, s.flow_unit)),
        el("td", { class: signClass(s.inst_5d) }, flow(s.inst_5d, s.flow_unit)),
        el("td", {}, num(s.score, 1)),
        el("td", {}, num(s.contraction_ratio, 2)),
        el("td", {}, won(s.entry_price)),
        priceCell,
        returnCell,
        el("td", {}, badge(ai.gpt_recommendation)),
        el("td", {}, badge(ai.gemini_recommendation)),
      );
      priceCell.classList.add("price");
      tbody.append(tr);
      rows.set(s.ticker, { signal: s, priceCell, returnCell });
    }
    box.replaceChildren(
      el(
        "table",
        {},
        el("caption", {}, `열린 시그널 ${num(signals.data.count)}개 중 상위 ${list.length}개 · 점수순`),
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
        tbody,
      ),
    );
    box.dataset.state = "ready";
    document.body.dataset.ready = "1";
    schedule();
  }

  /** POST /api/kr/realtime-prices (a flat {ticker: price} map) and update the priced rows. */
  async function poll() {
    const tickers = [...rows.keys()];
    const state = $("poll-state");
    if (!tickers.length) return;
    const res = await api("/api/kr/realtime-prices", { method: "POST", json: { tickers } });
    polls += 1;
    document.body.dataset.polls = String(polls);
    if (!res.ok) {
      state.textContent = `${KR.time()} ${KR.explain(res, "현재가 갱신")}`;
      return;
    }
    let updated = 0;
    for (const [ticker, price] of Object.entries(res.data || {})) {
      const row = rows.get(ticker);
      // Rows without a price on or after their signal date stay unpriced (the API's rule).
      if (!row || row.signal.price_status !== "ok") continue;
      const entry = row.signal.entry_price;
      const ret = entry ? Math.round(((price - entry) / entry) * 10000) / 100 : null;
      row.priceCell.textContent = won(price);
      row.returnCell.textContent = pct(ret);
      row.returnCell.className = signClass(ret);
      updated += 1;
    }
    const source = res.headers.get("X-Price-Source") || "?";
    state.textContent = `현재가 ${updated}종목 갱신 ${KR.time()} · 가격 소스 ${source} · ${pollSeconds}초마다`;
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = setInterval(poll, pollSeconds * 1000);
  }

  KR.start(load);
})();
