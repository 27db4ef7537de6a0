"""The tenant status page support staff open (GET /admin/tenants/{id}/status.html): one
self-contained HTML document, no external assets (CSS, SVG chart and script inline; a CSP forbids
anything else). The replay buttons POST to the admin API's replay route, relative to the page, so it
works at any stage or behind any proxy that serves the page."""

from __future__ import annotations

import html
import secrets
from datetime import datetime

from sagebridge.admin.fixes import ago, fix_for
from sagebridge.admin.status import DayCounts, OutcomeCounts, TenantStatus

COLOURS = {"exported": "#2e7d32", "skipped": "#ef8f00", "failed": "#c62828"}
HEALTH = {"ok": ("All good", "#2e7d32"), "attention": ("Needs attention", "#ef8f00"), "broken": ("Broken", "#c62828")}
CONNECTION = {"connected": "#2e7d32", "expiring": "#ef8f00", "expired": "#c62828", "revoked": "#c62828",
              "not_connected": "#c62828"}


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    when = ago(value, now)  # "1 minute ago", never "1 minutes ago"
    return f'<time datetime="{_e(value.isoformat())}" title="{_e(value.isoformat())}">{_e(when)}</time>'


def chart_svg(days: list[DayCounts], *, width: int = 720, height: int = 180) -> str:
    """Stacked bars per day: exported, skipped, failed (a <title> on each bar for the numbers)."""
    top = max((d.exported + d.skipped + d.failed for d in days), default=0) or 1
    left, bottom, right = 36, 22, 4
    plot_w, plot_h = width - left - right, height - bottom - 6
    step = plot_w / max(1, len(days))
    bar = max(2.0, step * 0.7)
    parts = [
        f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="Documents exported, skipped and failed per day over the last {len(days)} days">',
        f'<line x1="{left}" y1="{6 + plot_h}" x2="{width - right}" y2="{6 + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="12" text-anchor="end" class="axis">{top}</text>',
        f'<text x="{left - 4}" y="{6 + plot_h}" text-anchor="end" class="axis">0</text>',
    ]
    for i, d in enumerate(days):
        x = left + i * step + (step - bar) / 2
        y = 6 + plot_h
        tip = f"{d.day.isoformat()}: {d.exported} exported, {d.skipped} skipped, {d.failed} failed"
        parts.append(f'<g class="day" data-day="{d.day.isoformat()}"><title>{_e(tip)}</title>')
        parts.append(f'<rect x="{x:.1f}" y="6" width="{bar:.1f}" height="{plot_h}" fill="transparent"/>')
        for name in ("exported", "skipped", "failed"):
            value = getattr(d, name)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(f'<rect class="{name}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[name]}"/>')
        parts.append("</g>")
        if i in (0, len(days) // 2, len(days) - 1):
            anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
            tx = x if i == 0 else x + bar if i == len(days) - 1 else x + bar / 2
            parts.append(f'<text x="{tx:.1f}" y="{height - 6}" text-anchor="{anchor}" class="axis">'
                         f"{d.day:%d %b}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _counts_row(label: str, c: OutcomeCounts) -> str:
    return (f"<tr><th scope=row>{_e(label)}</th><td>{c.runs}</td><td class=exported>{c.exported}</td>"
            f"<td class=skipped>{c.skipped}</td><td class=failed>{c.failed}</td><td>{c.unchanged}</td>"
            f"<td>{c.abandoned}</td></tr>")


_STYLE = """
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;
background:#f5f6f8}header{background:#fff;border-bottom:1px solid #ddd;padding:1em 1.5em;display:flex;gap:1em;
align-items:center;flex-wrap:wrap}h1{font-size:1.3em;margin:0}main{padding:1em 1.5em;max-width:1100px}
.badge{display:inline-block;padding:.15em .6em;border-radius:1em;color:#fff;font-weight:600;font-size:.85em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:.8em;margin:1em 0}
.card,section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.8em 1em}section{margin:1em 0}
.card h2,section h2{font-size:.8em;text-transform:uppercase;letter-spacing:.05em;color:#666;margin:0 0 .4em}
.big{font-size:1.15em;font-weight:600}table{border-collapse:collapse;width:100%}th,td{text-align:left;
padding:.35em .5em;border-bottom:1px solid #eee;vertical-align:top}td.exported{color:#2e7d32}td.skipped{color:#a15c00}
td.failed{color:#c62828}.axis{font-size:10px;fill:#666}.legend span{margin-right:1em}.legend i{display:inline-block;
width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}button{font:inherit;padding:.25em .8em;border-radius:5px;
border:1px solid #888;background:#fff;cursor:pointer}button:disabled{opacity:.5;cursor:default}
a.button{display:inline-block;padding:.25em .8em;border-radius:5px;background:#1565c0;color:#fff;text-decoration:none}
.problems li{margin:.2em 0}.muted{color:#666}.result{font-size:.9em}.ok{color:#2e7d32}.bad{color:#c62828}
"""

_SCRIPT = """
(function(){
  var replayUrl = new URL('replay', window.location.href).toString();
  var note = document.getElementById('replay-result');
  function say(cell, text, good){ cell.textContent = text; cell.className = 'result ' + (good ? 'ok' : 'bad'); }
  function replay(documents, button, cell){
    button.disabled = true; say(cell, 'replaying\\u2026', true);
    return fetch(replayUrl, {method: 'POST', credentials: 'same-origin',
        headers: {'content-type': 'application/json', 'accept': 'application/json'},
        body: JSON.stringify({documents: documents})})
      .then(function(r){ return r.json().then(function(body){ return {status: r.status, body: body}; }); })
      .then(function(res){
        var b = res.body || {};
        if (res.status >= 400) {
          say(cell, 'failed: ' + (b.message || res.status), false); button.disabled = false; return;
        }
        var text = b.message || b.mode;
        if (b.run) { text = 'run ' + b.run.result + ': ' + Object.keys(b.run.counts).filter(function(k){
          return b.run.counts[k]; }).map(function(k){ return b.run.counts[k] + ' ' + k; }).join(', '); }
        say(cell, text, !b.run || b.run.result === 'succeeded');
        document.body.setAttribute('data-last-replay', JSON.stringify(b));
      })
      .catch(function(err){ say(cell, 'failed: ' + err, false); button.disabled = false; });
  }
  document.querySelectorAll('button.replay').forEach(function(button){
    button.addEventListener('click', function(){
      var row = button.closest('tr');
      replay([{kind: row.dataset.kind, host_id: row.dataset.hostId}], button, row.querySelector('.result'));
    });
  });
  var all = document.getElementById('replay-all');
  if (all) { all.addEventListener('click', function(){ replay([], all, note); }); }
})();
"""


def render_status_page(status: TenantStatus, *, reconnect_path: str | None = None) -> str:
    """`reconnect_path`: the tenant's signed connect link (path and query on this API), offered as a
    one-click reconnect when the connection is expiring, expired, revoked or missing."""
    now = status.generated_at
    nonce = secrets.token_urlsafe(16)
    label, colour = HEALTH[status.health]
    conn = status.connection
    if conn.state == "not_connected":  # never connected is a first step to take, not something broken
        label, colour = "Not connected yet", HEALTH["attention"][1]
    problems = "".join(f"<li>{_e(p)}</li>" for p in status.problems)
    rows = []
    for f in status.open_failures:
        fix = fix_for(None, f.reason, f.state)
        action = ("<button type=button class=replay>Replay</button>" if fix.replayable  # else replay cannot help
                  else f"<span class=muted>{_e(fix.text)}</span>")
        rows.append(
            f'<tr data-kind="{_e(f.kind)}" data-host-id="{_e(f.host_id)}"><td>{_e(f.kind.replace("_", " "))}</td>'
            f"<td><code>{_e(f.host_id)}</code></td><td class={_e(f.state)}>{_e(f.state)}</td>"
            f"<td>{_e(f.reason) or '<span class=muted>no reason recorded</span>'}</td><td>{f.attempts}</td>"
            f"<td>{_when(f.since, now)}</td><td>{action}"
            "<div class=result role=status></div></td></tr>")
    failures = (
        "<table id=failures><thead><tr><th>Kind</th><th>Host id</th><th>State</th><th>Reason</th><th>Attempts</th>"
        f"<th>Since</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + ("<p class=muted>More are waiting; replay these first or use the CLI.</p>" if status.open_failures_more
           else "")
        + "<p><button type=button id=replay-all>Replay all open failures</button> "
          "<span id=replay-result class=result role=status></span></p>"
    ) if rows else "<p id=failures class=ok>No open failures or skips.</p>"
    mh = status.mapping_health
    if not mh.checked:
        mapping = f"<p class=muted id=mapping-health>Not checked: {_e(mh.reason)}</p>"
    elif mh.ok:
        mapping = f"<p class=ok id=mapping-health>All {mh.mappings_checked} mappings point at live Sage records.</p>"
    else:
        items = "".join(f"<li><code>{_e(p.setting)}</code> &rarr; <code>{_e(p.sage_id)}</code>: {_e(p.problem)}. "
                        f"{_e(p.message)}</li>" for p in mh.problems)
        mapping = f"<ul id=mapping-health class=problems>{items}</ul>"
    backlog = status.delivery_backlog
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    business = conn.business_name or conn.business_id or ""
    expires = f"expires in {conn.expires_in_days} days" if conn.expires_in_days is not None else ""
    connect = "Connect to Sage" if conn.state == "not_connected" else "Reconnect to Sage"
    reconnect = (f'<p><a id=reconnect class=button href="{_e(reconnect_path)}">{connect}</a> '
                 "<span class=muted>(send this page's link to the tenant's admin, or open it as them)</span></p>"
                 if reconnect_path and conn.state != "connected" else "")
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name=viewport content="width=device-width,initial-scale=1">
<title>Sage Bridge: {_e(status.tenant_id)} status</title><style>{_STYLE}</style></head>
<body data-tenant="{_e(status.tenant_id)}" data-health="{_e(status.health)}">
<header><h1>{_e(status.tenant_id)}</h1>
<span class=badge id=health style="background:{colour}">{_e(label)}</span>
{'' if status.enabled else '<span class=badge style="background:#666">Disabled</span>'}
<span class=muted>as of {_e(now.strftime("%Y-%m-%d %H:%M UTC"))}</span></header>
<main>
{f'<ul class=problems id=problems>{problems}</ul>' if problems else ''}
<div class=cards>
<div class=card id=connection><h2>Sage connection</h2>
<div class=big style="color:{CONNECTION[conn.state]}">{_e(conn.state.replace("_", " "))}</div>
<div>{_e(business)}</div><div class=muted>{_e(expires)}</div>
<div class=muted>last token refresh {_when(conn.last_refreshed_at, now)}</div>
{reconnect}</div>
<div class=card id=last-export><h2>Last successful export</h2>
<div class=big>{_when(status.last_successful_export, now)}</div></div>
<div class=card id=last-poll><h2>Last successful poll</h2>
<div class=big>{_when(status.last_successful_poll, now)}</div></div>
<div class=card id=backlog><h2>Deliveries to the host app</h2>
<div class=big>{backlog.queued}{'+' if backlog.more else ''} waiting, {backlog.failed} failed</div>
<div class=muted>oldest waiting {_when(backlog.oldest_queued_at, now)}</div></div>
</div>
<section><h2>Documents per day, last {len(status.daily)} days</h2>
<div class=legend><span><i style="background:{COLOURS['exported']}"></i>exported</span>
<span><i style="background:{COLOURS['skipped']}"></i>skipped</span>
<span><i style="background:{COLOURS['failed']}"></i>failed</span></div>
{chart_svg(status.daily)}
<table id=counts><thead><tr><th></th><th>Runs</th><th>Exported</th><th>Skipped</th><th>Failed</th><th>Unchanged</th>
<th>Abandoned runs</th></tr></thead><tbody>{_counts_row("Last 24 hours", status.last_24h)}
{_counts_row("Last 7 days", status.last_7d)}
</tbody></table></section>
<section><h2>Latest failures and skips</h2>{failures}</section>
<section><h2>Mapping health</h2>{mapping}</section>
</main>
<script nonce="{nonce}">{_SCRIPT}</script>
</body></html>
"""


__all__ = ["chart_svg", "render_status_page"]
