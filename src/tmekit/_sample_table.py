"""The report's cohort table: sortable and filterable in the page itself (a small inline script, no network).

Each sample row links to its row of the evidence table. Filters: phenotype, framework (``rules``), dataset, the
lowest confidence, and a sample-name search; a click on a column header sorts by it (again: the other way).
Plain DOM work, so a 1,000-sample cohort stays one file and responds at once.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SAMPLE_TABLE_CSS", "evidence_table", "sample_table"]

SAMPLE_TABLE_CSS = (
    ".filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:.5rem 0;font-size:.85rem}"
    ".filters label{display:flex;gap:.3rem;align-items:center}th.sortable{cursor:pointer;user-select:none}"
    "th.sortable:after{content:' \\2195';color:#aaa}th[data-dir='asc']:after{content:' \\2191';color:#222}"
    "th[data-dir='desc']:after{content:' \\2193';color:#222}tr:target{background:#fff3c4}"
)

_SCRIPT = """
(function () {
  var table = document.getElementById('sample-table'), body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows), shown = document.getElementById('n-shown');
  var get = function (id) { return document.getElementById(id); };
  function apply() {
    var ph = get('f-phenotype').value, fw = get('f-framework').value, ds = get('f-dataset').value;
    var lo = parseFloat(get('f-confidence').value), text = get('f-search').value.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var d = r.dataset, ok = (!ph || d.phenotype === ph) && (!fw || d.rules === fw) && (!ds || d.dataset === ds)
        && (isNaN(lo) || parseFloat(d.confidence) >= lo) && (!text || d.sample.toLowerCase().indexOf(text) >= 0);
      r.style.display = ok ? '' : 'none'; if (ok) { n += 1; }
    });
    shown.textContent = n;
  }
  ['f-phenotype', 'f-framework', 'f-dataset', 'f-confidence', 'f-search'].forEach(function (id) {
    get(id).addEventListener('input', apply); get(id).addEventListener('change', apply);
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc', num = th.dataset.type === 'num';
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { delete c.dataset.dir; });
      th.dataset.dir = dir;
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        var c = num ? (parseFloat(x) || -Infinity) - (parseFloat(y) || -Infinity) : x.localeCompare(y);
        return dir === 'asc' ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  apply();
})();
"""


def _cell(value: object, *, digits: int) -> tuple[str, str]:
    """(shown text, sort value) of one value: numbers rounded for show, kept whole for sorting."""
    if isinstance(value, bool | np.bool_):
        return str(value), str(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return ("", "") if np.isnan(number) else (f"{number:.{digits}g}", repr(number))
    text = "" if value is None else str(value)
    return text, text


def _options(element: str, label: str, values: Sequence[str]) -> str:
    choices = "".join(f"<option>{html.escape(v)}</option>" for v in values)
    return f"<label>{label} <select id='{element}'><option value=''>all</option>{choices}</select></label>"


def sample_table(calls: pd.DataFrame, columns: Sequence[str], *, digits: int = 3) -> str:
    """The filter controls and the sortable table of ``calls`` (one row per sample, index = sample)."""
    columns = [c for c in columns if c in calls.columns]
    text = {c: calls[c].astype(str) for c in ("phenotype", "rules", "dataset") if c in calls.columns}
    filters = (
        _options("f-phenotype", "phenotype", sorted(set(text.get("phenotype", [])))),
        _options("f-framework", "framework", sorted(set(text.get("rules", [])) - {"nan", ""})),
        _options("f-dataset", "dataset", sorted(set(text.get("dataset", [])))),
        "<label>confidence &ge; <input id='f-confidence' type='number' min='0' max='1' step='0.05' size='4'></label>",
        "<label>sample <input id='f-search' type='search' size='12'></label>",
        f"<span><b id='n-shown'>{len(calls)}</b> of {len(calls)} shown</span>",
    )
    numeric = {c: pd.api.types.is_numeric_dtype(calls[c]) and not pd.api.types.is_bool_dtype(calls[c])
               for c in columns}  # fmt: skip
    head = "<th class='sortable' data-type='txt'>sample</th>" + "".join(
        f"<th class='sortable' data-type='{'num' if numeric[c] else 'txt'}'>{html.escape(c)}</th>" for c in columns
    )
    body = []
    for k, (name, row) in enumerate(calls.iterrows()):
        attrs = {"sample": str(name), **{key: str(text[key].iloc[k]) for key in text}}
        attrs["confidence"] = str(row["confidence"]) if "confidence" in calls.columns else ""
        data = " ".join(f"data-{key}='{html.escape(value, quote=True)}'" for key, value in attrs.items())
        cells = [f"<td data-value='{html.escape(str(name), quote=True)}'><a href='#evidence-{k}'>"
                 f"{html.escape(str(name))}</a></td>"]  # fmt: skip
        for column in columns:
            shown, value = _cell(row[column], digits=digits)
            cells.append(f"<td data-value='{html.escape(value, quote=True)}'>{html.escape(shown)}</td>")
        body.append(f"<tr id='sample-{k}' {data}>{''.join(cells)}</tr>")
    table = (f"<div class='scroll'><table id='sample-table'><thead><tr>{head}</tr></thead>"
             f"<tbody>{''.join(body)}</tbody></table></div>")  # fmt: skip
    return f"<div class='filters'>{''.join(filters)}</div>{table}<script>{_SCRIPT}</script>"


def evidence_table(calls: pd.DataFrame, columns: Sequence[str], *, digits: int = 3) -> str:
    """Every metric per sample, one row each with the anchor the cohort table links to (``evidence-<k>``)."""
    head = "<th>sample</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for k, (name, row) in enumerate(calls.iterrows()):
        cells = "".join(f"<td>{html.escape(_cell(row[c], digits=digits)[0])}</td>" for c in columns)
        rows.append(f"<tr id='evidence-{k}'><td><a href='#sample-{k}'>{html.escape(str(name))}</a></td>{cells}</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
