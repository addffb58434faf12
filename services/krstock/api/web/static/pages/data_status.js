/* /dashboard/data-status: table freshness and row counts, and the SSE update streams. */
"use strict";

(() => {
  const { api, el, fail, num } = KR;
  const $ = (id) => document.getElementById(id);

  async function load() {
    const box = $("files");
    const res = await api("/api/system/data-status");
    if (!res.ok) {
      fail(box, res, "데이터 상태");
      document.body.dataset.ready = "1";
      return;
    }
    const files = res.data.files || [];
    const head = ["이름", "위치", "있음", "최종 갱신", "크기", "행 수", "메뉴"];
    box.replaceChildren(
      el(
        "table",
        {},
        el("caption", {}, "각 항목은 모놀리스의 데이터 파일 하나가 옮겨진 테이블입니다."),
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          files.map((f) =>
            el(
              "tr",
              { dataset: { name: f.name } },
              el("td", {}, f.name),
              el("td", {}, el("code", {}, f.path)),
              el("td", {}, f.exists ? "예" : "아니오"),
              el("td", {}, f.lastModified || "—"),
              el("td", {}, f.size),
              el("td", {}, f.rowCount === null ? "—" : num(f.rowCount)),
              el("td", {}, f.link ? el("a", { href: f.link }, f.menu || f.link) : "—"),
            ),
          ),
        ),
      ),
    );
    box.dataset.state = "ready";
    const u = res.data.update_status || {};
    $("update-status").textContent = u.isRunning
      ? `업데이트 실행 중 ${u.progress || ""}`
      : `마지막 전체 업데이트: ${u.lastRun || "없음"}`;
    document.body.dataset.ready = "1";
  }

  /** Stream an SSE endpoint with fetch (so the key goes in a header, not the URL). */
  async function stream(path) {
    const log = $("update-log");
    const buttons = [$("update-all"), $("update-single")];
    buttons.forEach((b) => (b.disabled = true));
    log.textContent = `${KR.time()} ${path}\n`;
    log.dataset.state = "running";
    try {
      const headers = { Accept: "text/event-stream" };
      const key = KR.storedKey();
      if (key) headers["X-API-Key"] = key;
      let response;
      try {
        response = await fetch(path, { headers, cache: "no-store" });
      } catch (err) {
        log.textContent += KR.explain({ status: 0, message: String(err) }, "업데이트") + "\n";
        log.dataset.state = "error";
        return;
      }
      if (!response.ok) {
        let message = "";
        try {
          const data = await response.json();
          message = data.error && (data.error.message || data.error);
        } catch (_) {
          /* not JSON */
        }
        log.textContent += KR.explain({ status: response.status, message: message || "" }, "업데이트") + "\n";
        log.dataset.state = "error";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, cut).trimEnd();
          buffer = buffer.slice(cut + 1);
          if (line.startsWith("data: ") && line !== "data: close") {
            log.textContent += `${line.slice(6)}\n`;
            log.scrollTop = log.scrollHeight;
          }
        }
      }
      log.dataset.state = "done";
      await load();
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  $("update-all").addEventListener("click", () => stream("/api/system/update-data-stream"));
  $("update-single").addEventListener("click", () =>
    stream(`/api/system/update-single?type=${encodeURIComponent($("single-type").value)}`),
  );

  KR.start(load);
})();
