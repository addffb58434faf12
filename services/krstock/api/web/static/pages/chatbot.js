/* /chatbot: the chat page over /api/kr/chatbot (every answer shows its source). */
"use strict";

(() => {
  const { api, el } = KR;
  const $ = (id) => document.getElementById(id);
  const SOURCE_NAMES = { rules: "규칙 기반 (LLM 아님)", gemini: "Gemini" };

  function bubble(role, text, source, note) {
    const meta =
      role === "bot" && source
        ? el("span", { class: "meta", dataset: { source } }, `출처: ${source} · ${SOURCE_NAMES[source] || source}${note ? ` · ${note}` : ""}`)
        : null;
    return el("div", { class: `msg ${role}` }, text, meta);
  }

  async function load() {
    const log = $("chat-log");
    const [welcome, status] = await Promise.all([api("/api/kr/chatbot/welcome"), api("/api/kr/chatbot/status")]);
    log.replaceChildren();
    if (welcome.ok) {
      log.append(bubble("bot", welcome.data.message, welcome.data.source));
    } else {
      log.append(el("div", { class: "error", role: "alert" }, KR.explain(welcome, "챗봇")));
    }
    if (status.ok) {
      const s = status.data;
      $("chat-status").textContent = `챗봇: ${SOURCE_NAMES[s.source] || s.source || "?"}${s.model ? ` · 모델 ${s.model}` : ""}`;
      const history = await api("/api/kr/chatbot/history");
      if (history.ok) {
        for (const turn of history.data.history || []) {
          const role = turn.role === "user" ? "user" : "bot";
          log.append(bubble(role, turn.content || turn.text || turn.message || "", turn.source, null));
        }
      }
    } else {
      $("chat-status").textContent = KR.explain(status, "챗봇 상태");
    }
    log.dataset.state = "ready";
    document.body.dataset.ready = "1";
  }

  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const message = input.value.trim();
    if (!message) return;
    const log = $("chat-log");
    log.append(bubble("user", message));
    input.value = "";
    const waiting = el("div", { class: "msg bot muted" }, "답을 찾는 중…");
    log.append(waiting);
    const res = await api("/api/kr/chatbot", { method: "POST", json: { message } });
    waiting.remove();
    if (!res.ok) {
      log.append(el("div", { class: "error", role: "alert" }, KR.explain(res, "챗봇")));
      return;
    }
    const answer = bubble("bot", res.data.response, res.data.source, res.data.note);
    answer.dataset.answer = "1";
    log.append(answer);
    answer.scrollIntoView({ block: "nearest" });
  });

  $("chat-clear").addEventListener("click", async () => {
    const res = await api("/api/kr/chatbot/history", { method: "DELETE" });
    if (!res.ok) {
      $("chat-log").append(el("div", { class: "error", role: "alert" }, KR.explain(res, "기록 지우기")));
      return;
    }
    await load();
  });

  KR.start(load);
})();
