// Client-side sorting of tables with class "sortable" (the server also sorts via ?sort=).
(function () {
  function value(cell, type) {
    var raw = cell.getAttribute("data-value");
    if (raw === null) raw = cell.textContent.trim();
    if (type === "num") { var v = parseFloat(raw); return isNaN(v) ? null : v; }
    return raw.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function (ev) {
        ev.preventDefault();
        var type = th.getAttribute("data-type") || "text";
        var current = th.getAttribute("aria-sort");
        var first = th.getAttribute("data-order") === "asc" ? "ascending" : "descending";
        if (type === "text") first = "ascending";
        var dir = current ? (current === "ascending" ? "descending" : "ascending") : first;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.forEach(function (r, i) { r._pos = i; });
        rows.sort(function (a, b) {
          var x = value(a.cells[col], type), y = value(b.cells[col], type);
          if (x === null && y === null) return a._pos - b._pos;
          if (x === null) return 1;
          if (y === null) return -1;
          var c = x < y ? -1 : x > y ? 1 : 0;
          if (dir === "descending") c = -c;
          return c || a._pos - b._pos;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
