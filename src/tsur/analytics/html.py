"""The report as one self-contained HTML page (Russian labels, inline SVG, no network).

:func:`render_html` reads only the report mapping built by
:func:`tsur.analytics.report.build_report` and, for the maps, the
municipal :class:`~tsur.geometry.Boundaries` (tiles without them).
A few lines of inline script switch the map's measure and sort tables;
without script the page shows the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tsur.analytics.charts import (
    PALETTE,
    Bar,
    Series,
    bar_chart,
    line_chart,
    share_strip,
    sparkline,
)
from tsur.analytics.fmt import (
    esc,
    fmt_duration,
    fmt_float,
    fmt_int,
    fmt_pct,
    fmt_signed,
    plural,
)
from tsur.analytics.heatmap import MEASURES, choropleth, point_map
from tsur.analytics.periods import MONTHS
from tsur.geometry import Boundaries

__all__ = ["render_html"]

Row = Mapping[str, Any]

CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#e2e6eb;--bg:#f4f6f8;--card:#fff;--accent:#0b5cad;
--warn:#c2410c;--good:#15803d}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 'Segoe UI','PT Sans','DejaVu Sans',Arial,sans-serif}
header{background:#13294b;color:#fff;padding:22px 32px 18px}
header h1{margin:0;font-size:26px;font-weight:650;letter-spacing:.2px}
header .sub{margin-top:4px;color:#c9d6ea;font-size:14px}
main{max-width:1320px;margin:0 auto;padding:18px 24px 40px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(126px,1fr));gap:10px;margin-bottom:16px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.kpi .v{font-size:26px;font-weight:700;line-height:1.15;white-space:nowrap}
.kpi .l{color:var(--muted);font-size:13px;margin-top:2px}
.kpi .d{font-size:12.5px;margin-top:6px;color:var(--muted)}
.kpi.alert .v{color:var(--warn)}
.up{color:var(--warn)}.down{color:var(--good)}
.grid2{display:grid;grid-template-columns:minmax(0,640px) minmax(0,1fr);gap:16px;align-items:start}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
margin-bottom:16px;overflow-x:auto}
.card h2{font-size:17px;margin:0 0 10px;font-weight:650}
.card h2 small{font-weight:400;color:var(--muted);font-size:13px;margin-left:6px}
.note{color:var(--muted);font-size:12.5px;margin:8px 0 0}
.toggle{display:flex;gap:6px;margin:0 0 8px;flex-wrap:wrap}
.toggle button{border:1px solid #c7d0db;background:#fff;border-radius:16px;padding:4px 12px;
font:inherit;font-size:13px;cursor:pointer;color:var(--ink)}
.toggle button.on{background:var(--accent);border-color:var(--accent);color:#fff}
table{border-collapse:collapse;width:100%;font-size:13px}
th{font-weight:600;text-align:left;color:var(--muted);border-bottom:2px solid var(--line);
padding:6px 8px;white-space:nowrap;cursor:pointer;user-select:none}
th.num,td.num{text-align:right;white-space:nowrap}
td{padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
tr.muted td{color:#8a939f}
tr.none td{font-style:italic;color:var(--muted)}
tr.zero td{color:var(--muted);font-size:12.5px;white-space:normal}
details summary{cursor:pointer;color:var(--accent);margin:8px 0 4px;font-size:13px}
.bar{display:inline-block;height:10px;background:#f28e2b;border-radius:2px;vertical-align:middle;
margin-right:6px}
.ids{font-size:12px;color:var(--muted);max-width:360px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;background:#fde2d3;color:#9a3412;
font-size:12px;font-weight:600}
.season td.c{text-align:center;font-size:12px}
footer{color:var(--muted);font-size:12.5px;max-width:1320px;margin:0 auto;padding:0 24px 30px}
footer dt{font-weight:600;color:var(--ink);margin-top:6px}
footer dd{margin:0 0 0 0}
svg{max-width:100%;height:auto}
@media (max-width:1100px){.grid2{grid-template-columns:1fr}}
@media print{body{background:#fff}.card{break-inside:avoid;border-color:#ccc}.toggle{display:none}}
"""

SCRIPT = """
(function(){
var root=document.documentElement;
document.querySelectorAll('.toggle button').forEach(function(b){
 b.addEventListener('click',function(){
  var m=b.dataset.measure,svg=document.querySelector('svg.choropleth');
  svg.setAttribute('data-measure',m);
  svg.querySelectorAll('.area').forEach(function(a){a.setAttribute('fill',a.getAttribute('data-fill-'+m));});
  svg.querySelectorAll('.legend,.labels').forEach(function(g){g.style.display=g.dataset.measure===m?'':'none';});
  document.querySelectorAll('.toggle button').forEach(function(o){o.classList.toggle('on',o===b);});
 });
});
document.querySelectorAll('table.sortable th').forEach(function(th,i){
 th.addEventListener('click',function(){
  var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.dir!=='asc';
  rows.sort(function(a,b){
   var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
   if(x!==undefined&&y!==undefined){x=x===''?-Infinity:+x;y=y===''?-Infinity:+y;}
   else{x=a.cells[i].textContent;y=b.cells[i].textContent;}
   return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(function(r){tb.appendChild(r);});
  th.dataset.dir=asc?'asc':'desc';
 });
});
var want=/measure=([a-z_0-9]+)/.exec(location.hash);
if(want){var btn=document.querySelector('.toggle button[data-measure="'+want[1]+'"]');
 if(btn){btn.click();}}
var seen=[];
document.querySelectorAll('svg.map,svg.chart').forEach(function(s){
 var r=s.getBoundingClientRect();
 s.setAttribute('data-rendered',Math.round(r.width)+'x'+Math.round(r.height));
 if(r.width>0&&r.height>0){seen.push(s.getAttribute('class'));}
});
root.setAttribute('data-visible-graphics',seen.length);
root.setAttribute('data-map-areas',document.querySelectorAll('svg.choropleth .area').length);
root.setAttribute('data-ready','yes');
})();
"""


def _date(text: str | None) -> str:
    if not text:
        return "—"
    return date.fromisoformat(text[:10]).strftime("%d.%m")


def _value(unit: str, v: Any) -> str:
    if v is None:
        return "—"
    if unit == "share":
        return fmt_pct(v)
    if unit == "rate":
        return fmt_float(v, 2)
    if unit == "seconds":
        return fmt_duration(v)
    return fmt_int(int(v))


def _kpis(rows: Sequence[Row], previous_label: str) -> str:
    out = ['<section class="kpis">']
    history = any(r["key"] == "incidents" and r.get("previous") for r in rows)
    for r in rows:
        unit, prev = r["unit"], r.get("previous")
        diff = ""
        if r["key"] == "incidents" and not history:
            diff = f'<div class="d">за «{esc(previous_label)}» данных нет</div>'
        elif history and r.get("change") is not None and prev is not None:
            ch = r["change"]
            cls = "up" if ch > 0 else "down" if ch < 0 else ""
            if r["key"] in {"on_time_share"}:
                cls = {"up": "down", "down": "up"}.get(cls, "")
            shown = (
                fmt_signed(ch * 100, 0, " п.п.")
                if unit == "share"
                else fmt_signed(ch, 2)
                if unit == "rate"
                else ("быстрее" if ch < 0 else "медленнее" if ch > 0 else "так же")
                if unit == "seconds"
                else fmt_signed(ch)
            )
            diff = (
                f'<div class="d"><span class="{cls}">{esc(shown)}</span> · '
                f"было {_value(unit, prev)}</div>"
            )
        if r.get("share") is not None:
            diff = f'<div class="d">{fmt_pct(r["share"])} инцидентов периода</div>'
        alert = " alert" if r["key"] in {"overdue", "systemic"} and r.get("value") else ""
        shown_value = _value(unit, r.get("value"))
        size = ' style="font-size:19px"' if len(shown_value) > 7 else ""
        out.append(
            f'<div class="kpi{alert}" data-key="{esc(r["key"])}"><div class="v"{size}>'
            f'{shown_value}</div><div class="l">{esc(r["label"])}</div>'
            f"{diff}</div>"
        )
    out.append("</section>")
    return "".join(out)


def _cell(value: Any, text: str | None = None, cls: str = "num") -> str:
    v = "" if value is None else value
    return f'<td class="{cls}" data-v="{esc(v)}">{esc(text if text is not None else value)}</td>'


def _top_problems(rows: Sequence[Row], weeks: int) -> str:
    if not rows:
        return '<p class="note">За период обращений с определённой темой нет.</p>'
    top = max(r["count"] for r in rows) or 1
    out = [
        '<table class="sortable top"><thead><tr><th class="num">№</th><th>Проблема</th>'
        '<th class="num">Обращений</th><th class="num">Изменение</th>'
        f'<th class="num">Доля</th><th>{weeks} нед.</th></tr></thead><tbody>'
    ]
    for i, r in enumerate(rows, start=1):
        pct = (
            f" ({fmt_signed(r['change_pct'], 0, ' %')})" if r.get("change_pct") is not None else ""
        )
        change_cls = "up" if r["change"] > 0 else "down" if r["change"] < 0 else ""
        width = 48 * r["count"] / top
        out.append(
            f"<tr>{_cell(i)}<td>{esc(r['label'])}</td>"
            f'<td class="num" data-v="{r["count"]}"><span class="bar" style="width:{width:.0f}px">'
            f"</span>{fmt_int(r['count'])}</td>"
            f'<td class="num {change_cls}" data-v="{r["change"]}">'
            f"{fmt_signed(r['change'])}{pct}</td>{_cell(r['share'], fmt_pct(r['share']))}"
            f"<td>{sparkline(r.get('weeks') or [])}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _systemic(rows: Sequence[Row], rule: Mapping[str, Any]) -> str:
    rule_text = (
        f"тема в муниципалитете за последние {rule.get('window_days', 7)} дн. — не меньше "
        f"{rule.get('min_count', 4)} обращений, больше среднего + "
        f"{fmt_float(rule.get('k', 2.5), 1)}·σ "
        f"за {rule.get('baseline_weeks', 8)} предыдущих недель и вероятность по Пуассону "
        f"ниже {fmt_float(rule.get('alpha', 0.01), 2)}"
    )
    if not rows:
        return f'<p class="note">Системных проблем не выявлено. Правило: {esc(rule_text)}.</p>'
    out = [
        '<table class="sortable"><thead><tr><th>Муниципалитет</th><th>Проблема</th>'
        '<th class="num">За 7 дней</th><th class="num">Обычно в неделю</th>'
        '<th class="num">Превышение</th><th class="num">p</th><th>Инциденты</th></tr>'
        "</thead><tbody>"
    ]
    for r in rows:
        ids = list(r.get("incident_ids") or [])
        shown = ", ".join(f"№{i}" for i in ids[:12])
        if len(ids) > 12:
            shown += f" и ещё {len(ids) - 12}"
        p_text = f"{r['p_value']:.1e}".replace(".", ",")
        out.append(
            f"<tr><td>{esc(r['municipality_name'])}</td><td>{esc(r['label'])}</td>"
            f"{_cell(r['count'], fmt_int(r['count']))}{_cell(r['mean'], fmt_float(r['mean'], 1))}"
            f'<td class="num" data-v="{r["ratio"]}"><span class="badge">×{fmt_float(r["ratio"], 1)}'
            f"</span></td>{_cell(r['p_value'], p_text)}"
            f'<td class="ids">{esc(shown)}</td></tr>'
        )
    out.append(f'</tbody></table><p class="note">Правило: {esc(rule_text)}.</p>')
    return "".join(out)


def _municipalities(rows: Sequence[Row]) -> str:
    top = max((r["per_10k"] or 0 for r in rows), default=0) or 1
    out = [
        '<table class="sortable munis"><thead><tr><th>Муниципалитет</th>'
        '<th class="num">Население</th><th class="num">Обращений</th>'
        '<th class="num">К пред.</th><th class="num">На 10 тыс.</th><th class="num">Срочных</th>'
        '<th class="num">Просрочено</th><th class="num">Ответ в срок</th><th>Главная тема</th>'
        "</tr></thead><tbody>"
    ]
    ordered = sorted(rows, key=lambda r: (r["id"] is None, -r["count"], r["name"]))
    quiet = [r for r in ordered if r["id"] is not None and not r["count"] and not r.get("previous")]
    for r in ordered:
        if r in quiet:
            continue
        rate = r["per_10k"]
        bar = (
            f'<span class="bar" style="width:{50 * rate / top:.0f}px;background:#e34a33"></span>'
            if rate
            else ""
        )
        cls = ' class="none"' if r["id"] is None else ""
        overdue = f"{fmt_int(r['overdue'])} ({fmt_pct(r['overdue_share'])})" if r["count"] else "—"
        out.append(
            f'<tr{cls} data-id="{esc(r["id"] or "")}"><td>{esc(r["name"])}</td>'
            f"{_cell(r['population'], fmt_int(r['population']))}"
            f"{_cell(r['count'], fmt_int(r['count']))}"
            f"{_cell(r['change'], fmt_signed(r['change']))}"
            f'<td class="num" data-v="{rate if rate is not None else ""}">'
            f"{bar}{fmt_float(rate, 2)}</td>"
            f"{_cell(r['urgent'], fmt_int(r['urgent']))}"
            f"{_cell(r['overdue_share'], overdue)}"
            f"{_cell(r['on_time_share'], fmt_pct(r['on_time_share']))}"
            f"<td>{esc(r.get('top_topic') or '—')}</td></tr>"
        )
    out.append("</tbody>")
    if quiet:
        names = ", ".join(r["name"] for r in quiet)
        out.append(
            f'<tbody><tr class="zero"><td colspan="9">Без обращений за этот и прошлый период '
            f"({len(quiet)}): {esc(names)}</td></tr></tbody>"
        )
    out.append("</table>")
    return "".join(out)


def _executors(rows: Sequence[Row]) -> str:
    if not rows:
        return '<p class="note">За период инцидентов нет.</p>'
    out = [
        '<table class="sortable execs"><thead><tr><th class="num">Место</th><th>Исполнитель</th>'
        '<th class="num">Поступило</th><th class="num">Решено в срок</th>'
        '<th class="num">Первый ответ в срок</th>'
        '<th class="num">Медиана ответа</th><th class="num">90 % ответов до</th>'
        '<th class="num">Срок нарушен</th><th class="num">Повторно открыто</th>'
        '<th class="num">Оценка</th><th class="num">Благодарности</th></tr></thead><tbody>'
    ]
    ranked = [r for r in rows if r.get("rank")]
    rest = [r for r in rows if not r.get("rank")]
    for r in ranked:
        out.append(_executor_row(r, ""))
    out.append("</tbody></table>")
    if rest:
        word = plural(len(rest), "исполнитель", "исполнителя", "исполнителей")
        out.append(
            f"<details><summary>Ещё {len(rest)} {word} с числом обращений меньше порога — "
            'без места</summary><table class="execs"><tbody>'
        )
        out.extend(_executor_row(r, ' class="muted"') for r in rest)
        out.append("</tbody></table></details>")
    return "".join(out)


def _share_cell(value: float | None) -> str:
    return _cell(value, fmt_pct(value))


def _executor_row(r: Row, cls: str) -> str:
    median, p90 = r.get("first_response_median_s"), r.get("first_response_p90_s")
    rating = (
        f"{fmt_float(r['avg_rating'], 1)} ({fmt_int(r.get('ratings'))})"
        if r.get("avg_rating") is not None
        else "—"
    )
    return (
        f"<tr{cls}>{_cell(r.get('rank'), str(r['rank']) if r.get('rank') else '—')}"
        f"<td>{esc(r['name'])}</td>{_cell(r['received'], fmt_int(r['received']))}"
        f"{_share_cell(r.get('resolution_on_time_share'))}"
        f"{_share_cell(r.get('first_response_on_time_share'))}"
        f"{_cell(median, fmt_duration(median))}{_cell(p90, fmt_duration(p90))}"
        f"{_cell(r.get('overdue'), fmt_int(r.get('overdue')))}"
        f"{_cell(r.get('reopen_rate'), fmt_pct(r.get('reopen_rate')))}"
        f"{_cell(r.get('avg_rating'), rating)}"
        f"{_cell(r.get('thanks'), fmt_int(r.get('thanks')))}</tr>"
    )


def _series_chart(rows: Sequence[Row], key: str, title: str, fmt: str) -> str:
    by: dict[str, dict[str, int]] = defaultdict(dict)
    labels: dict[str, str] = {}
    for r in rows:
        by[r["series"]][r[key]] = r["count"]
        labels[r["series"]] = r["label"]
    if "*" not in by:
        return '<p class="note">Нет данных.</p>'
    xs = sorted(by["*"])
    series = [Series(labels["*"], [by["*"][x] for x in xs], "#1d2430", 2.6)]
    for i, s in enumerate(k for k in by if k != "*"):
        series.append(
            Series(labels[s], [by[s].get(x, 0) for x in xs], PALETTE[i % len(PALETTE)], 1.8)
        )
    x_labels = [date.fromisoformat(x).strftime(fmt) for x in xs]
    return line_chart(x_labels, series, width=1260, height=290, title=title, y_label="обращений")


def _seasonality(rows: Sequence[Row]) -> str:
    months = sorted({r["number"] for r in rows})
    if len(months) < 12:
        return (
            '<p class="note">Для сезонного профиля нужен хотя бы год данных (сейчас '
            f"{len(months)} мес.); таблица появится по мере накопления истории.</p>"
        )
    by: dict[str, dict[int, Row]] = defaultdict(dict)
    labels: dict[str, str] = {}
    for r in rows:
        by[r["series"]][r["number"]] = r
        labels[r["series"]] = r["label"]
    head = "".join(f"<th class='num'>{MONTHS[m - 1][:3]}</th>" for m in range(1, 13))
    out = [f'<table class="season"><thead><tr><th>Направление</th>{head}</tr></thead><tbody>']
    for s in sorted(by, key=lambda k: (k != "*", labels[k])):
        cells = []
        for m in range(1, 13):
            cell = by[s].get(m)
            if cell is None:
                cells.append('<td class="c">·</td>')
                continue
            idx = cell["index"]
            alpha = min(0.85, abs(idx - 1) * 0.9)
            colour = f"rgba(227,74,51,{alpha:.2f})" if idx > 1 else f"rgba(11,92,173,{alpha:.2f})"
            cells.append(
                f'<td class="c" style="background:{colour}" title="в среднем '
                f'{fmt_float(cell["mean"], 1)} в месяц">{fmt_float(idx, 2)}</td>'
            )
        out.append(f"<tr><td>{esc(labels[s])}</td>{''.join(cells)}</tr>")
    out.append(
        '</tbody></table><p class="note">Индекс сезонности: среднее число обращений в этом '
        "месяце, делённое на среднее за год (1,00 — обычный месяц).</p>"
    )
    return "".join(out)


def render_html(report: Mapping[str, Any], boundaries: Boundaries | None = None) -> str:
    """The whole page for ``report``; ``boundaries`` draw real shapes, else tiles."""
    meta = report["meta"]
    period = meta["period"]
    generated = datetime.fromisoformat(meta["generated_at"])
    last_day = date.fromisoformat(period["end"][:10]) - timedelta(days=1)
    local = generated.astimezone(ZoneInfo(meta["timezone"]))
    title = f"{meta['region']}: обращения граждан — {period['label']}"
    munis = report["municipalities"]
    points = report["points"]
    top = report["top_problems"]
    weeks = len(top[0]["weeks"]) if top else 12
    directions = report.get("directions") or []
    dir_bars = [
        Bar(
            r["label"],
            r["count"],
            fmt_signed(r["change"]) if r.get("previous") else "",
            PALETTE[i % 6] if i < 5 else "#9aa4b1",
            f"{r['label']}: {fmt_int(r['count'])}, было {fmt_int(r['previous'])}",
            "#c2410c" if r["change"] > 0 else "#15803d",
        )
        for i, r in enumerate(directions[:12])
    ]
    channels = report.get("channels") or []
    strip = share_strip(
        [
            (f"{c['label']} · {fmt_int(c['count'])}", c["share"], PALETTE[i % len(PALETTE)])
            for i, c in enumerate(channels)
        ],
        width=600,
    )
    n_points = len(points)
    toggle = "".join(
        f'<button type="button" data-measure="{m.key}"{" class=on" if m.key == "count" else ""}>'
        f"{esc(m.label)}</button>"
        for m in MEASURES
    )
    source_note = (
        f"Границы муниципалитетов: {boundaries.attribution}, упрощены."
        if boundaries is not None and boundaries.attribution
        else "Муниципалитеты показаны плитками по координатам центров: границ для региона нет."
    )
    population_note = (
        f"Население — из конфигурации региона ({meta['population_year']} г.)"
        if meta.get("population_year")
        else "Население — из конфигурации региона"
    )
    trend_fmt = "%d.%m"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ru"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(meta['region'])} — обращения граждан, {esc(period['label'])}</h1>"
        f'<div class="sub">{_date(period["start"])}–{last_day:%d.%m.%Y}'
        f" · сравнение с периодом «{esc(meta['previous']['label'])}» · сформирован "
        f"{local:%d.%m.%Y %H:%M} ({esc(meta['timezone'])})</div></header><main>",
        _kpis(report["headline"], meta["previous"]["label"]),
        '<div class="grid2"><div><section class="card" id="heatmap"><h2>Тепловая карта'
        "<small>муниципалитеты, наведите курсор для подробностей</small></h2>"
        f'<div class="toggle">{toggle}</div>{choropleth(munis, boundaries, height=600)}'
        "</section>"
        '<section class="card" id="channels"><h2>Каналы поступления</h2>'
        f"{strip}</section></div>",
        '<section class="card" id="top"><h2>Топ-10 проблем'
        f"<small>к периоду «{esc(meta['previous']['label'])}»</small></h2>"
        f"{_top_problems(top, weeks)}"
        '<h2 style="margin-top:18px">По направлениям</h2>'
        f"{bar_chart(dir_bars, width=600, label_width=210, bar_height=18, gap=5)}</section></div>",
        '<section class="card" id="trend"><h2>Динамика<small>по дням периода, пять ведущих '
        "направлений и все обращения</small></h2>"
        f"{_series_chart(report['trend'], 'date', 'Обращения по дням', trend_fmt)}</section>",
        '<section class="card" id="systemic"><h2>Системные проблемы'
        "<small>всплески темы в муниципалитете</small></h2>"
        f"{_systemic(report['systemic'], meta.get('systemic_rule') or {})}</section>",
        '<section class="card" id="municipalities"><h2>Сравнение муниципалитетов'
        "<small>нажмите на заголовок столбца для сортировки</small></h2>"
        f"{_municipalities(munis)}</section>",
        '<section class="card" id="executors"><h2>Рейтинг исполнителей'
        f"<small>место — при {meta.get('executor_min_cases', 10)} и более обращениях; порядок: "
        "решено в срок, оценка жителей, повторные открытия, благодарности, первый ответ в срок"
        "</small></h2>"
        f"{_executors(report['executors'])}</section>",
        '<div class="grid2"><section class="card" id="points"><h2>Обращения с геометкой'
        f"<small>{fmt_int(n_points)} {plural(n_points, 'точка', 'точки', 'точек')}</small></h2>"
        f"{point_map(points, boundaries)}</section>",
        '<section class="card" id="weeks"><h2>Последние недели<small>все обращения по '
        "неделям</small></h2>" + _weekly(report.get("weekly") or []) + "</section></div>",
        '<section class="card" id="seasonality"><h2>Сезонность<small>за три года до конца '
        f"периода</small></h2>{_seasonality(report.get('seasonality') or [])}</section>",
        "</main><footer><dl>",
        "<dt>Как считается</dt><dd>Инцидент — одна проблема в одном месте, в него "
        "объединяются сообщения граждан о ней. Период — по дате первого сообщения "
        f"({esc(meta['timezone'])}). «Просрочено» — на момент формирования отчёта: "
        "инцидент не закрыт, а срок первого ответа без ответа или срок решения истёк. "
        "Поселения и районы городов засчитываются своему муниципалитету. "
        f"{esc(population_note)}.</dd>",
        f"<dt>Источники</dt><dd>{esc(source_note)} Отчёт сформирован tsur "
        f"{esc(meta.get('tsur_version', ''))}.</dd></dl></footer>",
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts)


def _weekly(rows: Sequence[Row]) -> str:
    total = [r for r in rows if r["series"] == "*"]
    if not total:
        return '<p class="note">Нет данных.</p>'
    bars = [
        Bar(
            f"с {date.fromisoformat(r['week']).strftime('%d.%m.%Y')}",
            r["count"],
            color="#0b5cad",
            tooltip=f"неделя с {date.fromisoformat(r['week']).strftime('%d.%m.%Y')}: {r['count']}",
        )
        for r in total
    ]
    return bar_chart(bars, width=600, label_width=130, bar_height=20, gap=6)
