// report.html of optical: sortable tables and the per-query explorer (vanilla JS, no library).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const EX = DATA.explorer;
  const PASSAGES = EX.passages; // [id, title, snippet, gold text or null]

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // --- sortable tables -------------------------------------------------------------
  function sortTable(table, col, th) {
    const body = table.tBodies[0];
    const descending = !th.classList.contains("desc") && th.classList.contains("asc");
    for (const other of table.tHead.rows[0].cells) other.classList.remove("asc", "desc");
    th.classList.add(descending ? "desc" : "asc");
    const rows = Array.from(body.rows);
    const key = (row) => row.cells[col].getAttribute("data-v");
    const numeric = col > 0;
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      if (numeric) {
        if (x === "" && y === "") return 0;
        if (x === "") return 1; // empty cells last in either direction
        if (y === "") return -1;
        return descending ? Number(y) - Number(x) : Number(x) - Number(y);
      }
      return descending ? y.localeCompare(x) : x.localeCompare(y);
    });
    for (const row of rows) body.append(row);
  }
  for (const table of document.querySelectorAll("table.sortable")) {
    for (const th of table.tHead.rows[0].cells) {
      th.addEventListener("click", () => sortTable(table, Number(th.dataset.col), th));
    }
  }

  // --- alignment heatmaps ----------------------------------------------------------
  const alignments = document.getElementById("alignment-figures");
  const heatmapKeys = Object.keys(DATA.images).sort();
  for (const key of heatmapKeys) {
    alignments.append(el("figure", {}, el("img", { src: DATA.images[key], alt: key }),
      el("figcaption", {}, key)));
  }
  if (!heatmapKeys.length) {
    alignments.append(el("p", { class: "missing" },
      "No OT alignment heatmaps in this output folder (optical-ot did not run)."));
  }

  // --- explorer --------------------------------------------------------------------
  const benchSelect = document.getElementById("ex-bench");
  const langSelect = document.getElementById("ex-lang");
  const querySelect = document.getElementById("ex-query");
  const filterInput = document.getElementById("ex-filter");
  const view = document.getElementById("ex-view");

  function short(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }
  function fill(select, options) {
    select.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
  }
  function bench() { return EX.benchmarks[Number(benchSelect.value)]; }
  function language() { return bench().languages[Number(langSelect.value)]; }

  function onBench() {
    const b = bench();
    fill(langSelect, b ? b.languages.map((l, i) => [i, `${l.lang} (${l.queries.length})`]) : []);
    onLang();
  }
  function onLang() {
    const l = bench() && language();
    const needle = filterInput.value.trim().toLowerCase();
    const options = [];
    if (l) {
      l.queries.forEach((q, i) => {
        const hay = `${q.id} ${q.text} ${q.english || ""}`.toLowerCase();
        if (!needle || hay.includes(needle)) options.push([i, `${q.id}: ${short(q.text, 70)}`]);
      });
    }
    fill(querySelect, options);
    render();
  }

  function passageCell(index) {
    const [pid, title, snippet] = PASSAGES[index];
    return el("td", {}, el("code", {}, pid), " ", title ? el("b", {}, title + ": ") : null,
      snippet);
  }
  function rankText(rank, n) {
    return rank === null ? `not in top ${n}` : String(rank);
  }

  function queryBox(q) {
    const box = el("div", { class: "query-box", id: "ex-query-box" });
    box.append(el("div", {}, el("span", { class: "label" }, "query"),
      el("code", {}, q.id), " ", el("span", { dir: "auto", id: "ex-query-text" }, q.text)));
    box.append(el("div", {}, el("span", { class: "label" }, "human English translation"),
      q.english ? el("span", {}, q.english) : el("span", { class: "missing" }, "none in the data")));
    if (q.answers.length) {
      box.append(el("div", {}, el("span", { class: "label" }, "answers"), q.answers.join(" | ")));
    }
    return box;
  }

  function translationsTable(b, l, q) {
    const indices = Object.keys(q.translations);
    if (!indices.length) {
      return el("p", { class: "missing" }, l.lang === "en"
        ? "English queries are searched as they are (no translation)."
        : "No translate-test system ran on this language.");
    }
    const rows = indices.map((i) => {
      const system = b.systems[Number(i)];
      const text = q.translations[i];
      return el("tr", {}, el("td", {}, system),
        el("td", {}, text === null ? el("span", { class: "missing" }, "not in the translation cache") : text),
        el("td", { class: "note" }, l.translation_notes[system] || ""));
    });
    return el("table", { id: "ex-translations" },
      el("thead", {}, el("tr", {}, el("th", {}, "system"), el("th", {}, "English translation"),
        el("th", {}, "source"))), el("tbody", {}, ...rows));
  }

  function goldList(b, q) {
    if (!b.judged) {
      return el("p", { class: "missing" },
        "This benchmark has no relevance judgments (scored by agreement with the oracle and answer recall).");
    }
    if (!q.gold.length) return el("p", { class: "missing" }, "No gold passage for this query.");
    return el("ul", { id: "ex-gold" }, ...q.gold.map((index) => {
      const [pid, title, snippet, full] = PASSAGES[index];
      return el("li", { class: "gold" }, el("code", {}, pid), " ",
        title ? el("b", {}, title + ": ") : null, full || snippet);
    }));
  }

  function ranksTable(b, l, q) {
    const header = el("tr", {}, el("th", {}, "system"),
      ...q.gold.map((index) => el("th", {}, `rank of ${PASSAGES[index][0]}`)),
      el("th", {}, "top passage"));
    const rows = b.systems.map((system, i) => {
      const r = q.results[i];
      const seed = l.seeds[i] === null ? "" : ` (seed ${l.seeds[i]})`;
      if (!r) {
        return el("tr", {}, el("td", {}, system + seed),
          el("td", { class: "missing", colspan: q.gold.length + 1 }, "no run for this language"));
      }
      const [top, , goldRanks, n] = r;
      const ranks = goldRanks.map((rank) => el("td", {
        class: "num " + (rank === null ? "rank-miss" : rank <= EX.top_k ? "rank-good" : ""),
        "data-system": system,
      }, rankText(rank, n)));
      const first = top.length ? el("td", {}, el("code", {}, PASSAGES[top[0]][0])) : el("td", {});
      return el("tr", {}, el("td", {}, system + seed), ...ranks, first);
    });
    return el("table", { id: "ex-ranks" }, el("thead", {}, header), el("tbody", {}, ...rows));
  }

  function systemTables(b, l, q) {
    const gold = new Set(q.gold);
    const grid = el("div", { class: "systems" });
    b.systems.forEach((system, i) => {
      const r = q.results[i];
      if (!r) return;
      const [top, scores, goldRanks, n] = r;
      const rows = top.map((index, rank) => el("tr",
        { class: gold.has(index) ? "gold-row" : null },
        el("td", { class: "num" }, rank + 1), el("td", { class: "num" }, scores[rank].toFixed(4)),
        passageCell(index)));
      const ranks = q.gold.length
        ? "gold rank: " + goldRanks.map((rank) => rankText(rank, n)).join(", ")
        : "";
      grid.append(el("div", { class: "system", "data-system": system },
        el("h4", {}, system, " ", el("span", { class: "note" }, ranks)),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "score"),
          el("th", {}, "passage (first words)"))), el("tbody", {}, ...rows))));
    });
    return grid;
  }

  function heatmap(q) {
    if (q.heatmap && DATA.images[q.heatmap]) {
      return el("figure", { class: "heatmap", id: "ex-heatmap" },
        el("img", { src: DATA.images[q.heatmap], alt: q.heatmap }), el("figcaption", {}, q.heatmap));
    }
    return el("p", { class: "missing", id: "ex-no-heatmap" },
      "No OT alignment heatmap for this query (the experiment draws one per language, for one question, when optical-ot runs).");
  }

  function render() {
    const b = bench();
    const l = b && language();
    const q = l && l.queries[Number(querySelect.value)];
    if (!q) {
      view.replaceChildren(el("p", { class: "missing" }, "No query selected."));
      return;
    }
    view.replaceChildren(
      queryBox(q),
      el("h3", {}, "Translations of the query"), translationsTable(b, l, q),
      el("h3", {}, "Gold passages"), goldList(b, q),
      el("h3", {}, "Rank of the gold passage per system"),
      q.gold.length ? ranksTable(b, l, q) : el("p", { class: "missing" }, "No gold passage to rank."),
      el("h3", {}, `Top ${EX.top_k} per system`), systemTables(b, l, q),
      el("h3", {}, "OT alignment heatmap"), heatmap(q));
  }

  fill(benchSelect, EX.benchmarks.map((b, i) => [i, DATA.titles[b.id] ? `${b.id} — ${short(DATA.titles[b.id], 60)}` : b.id]));
  benchSelect.addEventListener("change", onBench);
  langSelect.addEventListener("change", onLang);
  filterInput.addEventListener("input", onLang);
  querySelect.addEventListener("change", render);
  if (!EX.benchmarks.length) {
    view.replaceChildren(el("p", { class: "missing" }, "No benchmark runs in this output folder."));
  } else {
    onBench();
  }
})();
