// Landmarks, one heading, labelled controls, described images, named buttons.
() => {
  const problems = [];
  if (document.documentElement.lang !== "ko") problems.push("html lang is not ko");
  for (const sel of ["header[role=banner]", "nav[aria-label]", "main#main", "footer[role=contentinfo]", "h1"]) {
    if (document.querySelectorAll(sel).length !== 1) problems.push(`expected one ${sel}`);
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.getAttribute("aria-label");
    if (!labelled) problems.push(`unlabelled ${el.tagName}#${el.id}`);
  }
  for (const el of document.querySelectorAll("[role=img]")) {
    if (!el.getAttribute("aria-label")) problems.push(`role=img without aria-label: ${el.id}`);
  }
  for (const el of document.querySelectorAll("button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push("button without a name");
  }
  return problems;
}
