// The verdict tables (goaldrift.book.claims.verdict_markdown): sort a table by a column
// heading, and on the Verdicts page filter every row by verdict, hypothesis and chapter.
// Local and dependency-free: the site loads nothing from other hosts.
document.addEventListener("DOMContentLoaded", () => {
  const tables = Array.from(document.querySelectorAll("table.gd-verdicts"));
  const key = (cell) => {
    const text = (cell ? cell.textContent : "").trim();
    const number = parseFloat(text.replace(/,/g, ""));
    return Number.isNaN(number) ? text.toLowerCase() : number;
  };
  for (const table of tables) {
    table.querySelectorAll("th").forEach((th, column) => {
      th.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = key(a.cells[column]), y = key(b.cells[column]);
          const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }
  const host = document.getElementById("gd-verdict-filter");
  if (!host) return;
  const rows = tables.flatMap((t) => Array.from(t.tBodies[0].rows));
  const fields = [["verdict", "verdict"], ["hypothesis", "hypothesis"], ["chapter", "chapter"]];
  const selects = {};
  for (const [field, label] of fields) {
    const values = Array.from(new Set(rows.map((r) => r.dataset[field]).filter((v) => v))).sort();
    const select = document.createElement("select");
    select.dataset.field = field;
    select.add(new Option(`any ${label}`, ""));
    values.forEach((v) => select.add(new Option(v, v)));
    const wrap = document.createElement("label");
    wrap.append(`${label} `, select);
    host.appendChild(wrap);
    selects[field] = select;
    select.addEventListener("change", apply);
  }
  const shown = document.createElement("span");
  host.appendChild(shown);
  function apply() {
    let n = 0;
    for (const row of rows) {
      const keep = Object.entries(selects).every(([f, s]) => !s.value || row.dataset[f] === s.value);
      row.hidden = !keep;
      n += keep;
    }
    shown.textContent = `${n} of ${rows.length} claims shown`;
  }
  apply();
});
