/* /dashboard/kr/closing-bet: 종가베팅 V2 results by date, graded cards, and the run button. */
"use strict";

(() => {
  const { api, el, fail, num, won, pct, eok, signClass } = KR;
  const $ = (id) => document.getElementById(id);
  const runPollMs = Number(document.body.dataset.runPollMs) || 1000;
  const SCORE_PARTS = [
    ["news", "뉴스", 3],
    ["volume", "거래대금", 3],
    ["chart", "차트", 2],
    ["supply", "수급", 2],
    ["candle", "캔들", 1],
    ["consolidation", "기간조정", 1],
  ];
  const CHIPS = [
    ["is_new_high", "신고가"],
    ["is_breakout", "돌파"],
    ["supply_positive", "수급"],
    ["has_news", "뉴스"],
    ["volume_surge", "거래대금"],
  ];

  async function loadDates() {
    const select = $("date-select");
    const res = await api("/api/kr/jongga-v2/dates");
    if (!res.ok) {
      $("cb-stats").textContent = KR.explain(res, "날짜 목록");
      return;
    }
    const current = select.value;
    select.replaceChildren(
      el("option", { value: "latest" }, "최신"),
      ...(res.data || []).map((d) => el("option", { value: d }, d)),
    );
    select.value = [...select.options].some((o) => o.value === current) ? current : "latest";
  }

  function card(s) {
    const score = s.score || {};
    const open = () =>
      KR.showStock(
        s.stock_code,
        s.stock_name,
        { entry: s.entry_price, stop: s.stop_price, target: s.target_price },
        `종가베팅 ${s.signal_date}: 진입 ${won(s.entry_price)}, 손절 ${won(s.stop_price)}, 목표 ${won(s.target_price)}.`,
      );
    const news = (s.news_items || []).slice(0, 3);
    return el(
      "article",
      { class: "card", dataset: { code: s.stock_code, grade: s.grade }, "aria-label": `${s.stock_name} ${s.grade}등급` },
      el(
        "div",
        { class: "row spread" },
        el(
          "h3",
          {},
          el("span", { class: `badge grade-${s.grade}` }, s.grade),
          " ",
          s.stock_name,
          " ",
          el("span", { class: "muted small" }, `${s.stock_code} · ${s.market || ""}`),
        ),
        el("span", { class: signClass(s.change_pct) }, pct(s.change_pct)),
      ),
      el(
        "div",
        {},
        CHIPS.map(([key, label]) => el("span", { class: s[key] ? "chip on" : "chip" }, `${s[key] ? "✓" : "·"} ${label}`)),
      ),
      el(
        "div",
        { class: "bars" },
        SCORE_PARTS.flatMap(([key, label, max]) => [
          el("span", {}, label),
          el("meter", { min: "0", max: String(max), value: String(score[key] || 0), "aria-label": `${label} ${score[key] || 0}/${max}` }),
          el("span", {}, `${score[key] || 0}/${max}`),
        ]),
        el("strong", {}, "합계"),
        el("meter", { min: "0", max: "12", value: String(score.total || 0), "aria-label": `합계 ${score.total || 0}/12` }),
        el("strong", {}, `${score.total || 0}/12`),
      ),
      score.llm_reason ? el("p", { class: "small" }, el("span", { class: "muted" }, "뉴스 판단: "), score.llm_reason) : null,
      el(
        "dl",
        { class: "prices" },
        [
          ["진입", won(s.entry_price)],
          ["손절", won(s.stop_price)],
          ["목표", won(s.target_price)],
          ["수량", `${num(s.quantity)}주`],
          ["포지션", won(s.position_size)],
          ["거래대금", eok(s.trading_value)],
        ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
      ),
      news.length
        ? el(
            "ul",
            { class: "small" },
            news.map((n) =>
              el(
                "li",
                {},
                n.url
                  ? el("a", { href: n.url, target: "_blank", rel: "noopener noreferrer" }, n.title || n.url)
                  : n.title,
                n.source ? el("span", { class: "muted" }, ` · ${n.source}`) : null,
              ),
            ),
          )
        : el("p", { class: "muted small" }, "뉴스 없음"),
      el("button", { type: "button", class: "secondary", onclick: open }, "차트 보기"),
    );
  }

  async function loadCards() {
    const box = $("cards");
    const choice = $("date-select").value;
    box.dataset.state = "loading";
    const path =
      choice === "latest"
        ? "/api/kr/jongga-v2/latest"
        : `/api/kr/jongga-v2/history/${encodeURIComponent(choice)}`;
    const res = await api(path);
    if (!res.ok) {
      fail(box, res, "종가베팅 결과");
      $("cb-stats").textContent = "";
      return;
    }
    const data = res.data;
    const signals = data.signals || [];
    $("cb-stats").textContent = `${data.date || choice} · 후보 ${num(data.total_candidates)} · 시그널 ${num(data.filtered_count ?? signals.length)}`;
    box.replaceChildren(
      ...(signals.length ? signals.map(card) : [el("p", { class: "muted" }, data.message || "시그널이 없습니다.")]),
    );
    if (data.message && signals.length) box.prepend(el("p", { class: "notice" }, data.message));
    box.dataset.state = "ready";
    box.dataset.date = data.date || choice;
  }

  async function run() {
    const target = $("run-state");
    const button = $("run-button");
    button.disabled = true;
    try {
      const res = await api("/api/kr/jongga-v2/run", { method: "POST", json: {} });
      if (!res.ok) {
        fail(target, res, "종가베팅 실행");
        return;
      }
      const finished = await KR.followRun(res.data.run_id, target, runPollMs);
      if (finished && finished.status === "SUCCEEDED") {
        await loadDates();
        await loadCards();
      }
    } finally {
      button.disabled = false;
    }
  }

  $("date-select").addEventListener("change", loadCards);
  $("run-button").addEventListener("click", run);

  KR.start(async () => {
    await Promise.all([loadDates(), loadCards()]);
    document.body.dataset.ready = "1";
  });
})();
