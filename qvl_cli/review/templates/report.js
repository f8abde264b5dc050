"use strict";
(function () {
  var all = function (selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); };
  var docs = function () { return all(".doc:not(.hidden)"); };
  var current = null;

  function boxesOf(row) {
    var pointer = row.getAttribute("data-pointer");
    return all("[data-evidence]", row.closest(".doc")).filter(function (box) { return box.getAttribute("data-evidence") === pointer; });
  }
  function rowOf(box) {
    var pointer = box.getAttribute("data-evidence");
    return all("[data-pointer]", box.closest(".doc")).filter(function (row) { return row.getAttribute("data-pointer") === pointer; })[0] || null;
  }
  function markDoc(doc) {
    all(".doc.current").forEach(function (d) { if (d !== doc) { d.classList.remove("current"); } });
    if (doc) { doc.classList.add("current"); }
  }
  function select(row, scrollRow, scrollBox) {
    all(".selected").forEach(function (el) { el.classList.remove("selected"); });
    current = row;
    if (!row) { return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    markDoc(row.closest(".doc"));
    var boxes = boxesOf(row);
    boxes.forEach(function (box) { box.classList.add("selected"); });
    if (scrollRow) { row.scrollIntoView({ block: "nearest" }); }
    if (scrollBox && boxes.length) { boxes[0].scrollIntoView({ block: "center", inline: "nearest" }); }
  }
  function hover(row, on) {
    if (!row) { return; }
    row.classList.toggle("hover", on);
    boxesOf(row).forEach(function (box) { box.classList.toggle("hover", on); });
  }

  all("[data-pointer]").forEach(function (row) {
    row.addEventListener("click", function () { select(row, false, true); });
    row.addEventListener("mouseenter", function () { hover(row, true); });
    row.addEventListener("mouseleave", function () { hover(row, false); });
  });
  all("[data-evidence]").forEach(function (box) {
    box.addEventListener("click", function () { select(rowOf(box), true, false); });
    box.addEventListener("mouseenter", function () { hover(rowOf(box), true); });
    box.addEventListener("mouseleave", function () { hover(rowOf(box), false); });
  });
  all("[data-goto]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var doc = link.closest(".doc");
      var target = link.getAttribute("data-goto");
      var row = all("[data-pointer]", doc).filter(function (r) { return r.getAttribute("data-pointer") === target; })[0];
      if (row) { select(row, true, true); }
    });
  });

  function applyFilter(name) {
    document.body.setAttribute("data-filter", name);
    all("[data-filter-button]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-filter-button") === name));
    });
    all(".doc").forEach(function (doc) {
      var keep = name === "all"
        || (name === "invalid" && doc.getAttribute("data-status") !== "valid")
        || (name === "warnings" && doc.getAttribute("data-warnings") !== "0")
        || (name === "low" && doc.getAttribute("data-low") !== "0")
        || (name === "unlocated" && doc.getAttribute("data-unlocated") !== "0");
      doc.classList.toggle("hidden", !keep);
    });
    all(".toc li").forEach(function (item) {
      var doc = document.getElementById(item.getAttribute("data-doc-link"));
      item.hidden = !doc || doc.classList.contains("hidden");
    });
    if (current && current.closest(".doc.hidden")) { select(null); }
  }
  all("[data-filter-button]").forEach(function (button) {
    button.addEventListener("click", function () { applyFilter(button.getAttribute("data-filter-button")); });
  });

  function currentDoc() {
    var marked = document.querySelector(".doc.current:not(.hidden)");
    if (marked) { return marked; }
    var visible = docs();
    var top = document.querySelector(".top").getBoundingClientRect().bottom;
    for (var i = 0; i < visible.length; i++) {
      if (visible[i].getBoundingClientRect().bottom > top + 20) { return visible[i]; }
    }
    return visible[0] || null;
  }
  function stepDoc(step) {
    var visible = docs();
    if (!visible.length) { return; }
    var here = visible.indexOf(currentDoc());
    var next = visible[Math.min(visible.length - 1, Math.max(0, here + step))];
    select(null);
    markDoc(next);
    next.scrollIntoView({ block: "start" });
  }
  function stepField(step) {
    var doc = currentDoc();
    var rows = docs().reduce(function (found, d) { return found.concat(all("[data-pointer]", d)); }, []);
    if (!rows.length) { return; }
    var here = current ? rows.indexOf(current) : -1;
    var next;
    if (here < 0) {
      var inDoc = doc ? all("[data-pointer]", doc) : [];
      next = inDoc.length ? inDoc[step > 0 ? 0 : inDoc.length - 1] : rows[0];
    } else {
      next = rows[Math.min(rows.length - 1, Math.max(0, here + step))];
    }
    select(next, true, true);
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var actions = {
      j: function () { stepField(1); }, k: function () { stepField(-1); },
      n: function () { stepDoc(1); }, p: function () { stepDoc(-1); },
      Escape: function () { select(null); }
    };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
  applyFilter("all");
})();
