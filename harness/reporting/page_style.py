"""The report page's inline stylesheet (screen and print) and its one optional script.

Nothing needs the script: it only opens every `<details>` before printing (the print
stylesheet shows their content too) and closes them again afterwards. A
Content-Security-Policy allows this script alone, so markup that ever slipped past the
escaping could still run nothing.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;
margin:0 auto;max-width:1500px;padding:12px 24px 40px}
h1{font-size:22px;margin:4px 0}
h2{font-size:17px;border-bottom:2px solid #333;padding-bottom:2px;margin:26px 0 8px}
h3{font-size:14px;margin:16px 0 6px}
a{color:#0b4f9c}
table{border-collapse:collapse;margin:4px 0 10px}
th,td{border:1px solid #c6c6c6;padding:3px 6px;vertical-align:top;text-align:left;
overflow-wrap:break-word}
th{background:#eceff1}
table.kv th{width:230px;font-weight:600}
table.fixed{width:100%;table-layout:fixed}
.chunk{content-visibility:auto;contain-intrinsic-size:auto 6000px}.chunk table{margin:0}
table.findings :is(th,td):nth-child(1){width:7%}table.findings :is(th,td):nth-child(2){width:17%}
table.findings :is(th,td):nth-child(3){width:9%}table.findings :is(th,td):nth-child(4){width:9%}
table.findings :is(th,td):nth-child(5){width:8%}table.findings :is(th,td):nth-child(6){width:7%}
table.findings :is(th,td):nth-child(8){width:22%}
table.matrix th:nth-child(1){width:17%}table.matrix th:nth-child(2){width:11%}
table.matrix th:nth-child(3){width:9%}table.matrix th:nth-child(4){width:19%}
table.matrix th:nth-child(5){width:22%}
table.cat th:nth-child(1){width:7%}table.cat th:nth-child(2){width:20%}
table.cat th:nth-child(4){width:22%}
table.kv td,table.plain td{max-width:1100px}
ul{margin:2px 0;padding-left:20px}
.muted{color:#5f5f5f}
.flag{color:#b71c1c;font-weight:600}
.o{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:600;
white-space:nowrap;font-size:12px;margin:1px 0}
.o-passed{background:#2e7d32}.o-failed{background:#c62828}.o-error{background:#d84315}
.o-not_applicable{background:#616161}.o-waived{background:#6a1b9a}.o-none{background:#cfd8dc;color:#222}
.w-failed,.w-error{color:#b71c1c;font-weight:600}.w-waived{color:#6a1b9a}
.w-not_applicable{color:#5f5f5f}
.sev{font-weight:600}.sev-critical{color:#b71c1c}.sev-high{color:#d84315}
.sev-medium{color:#7a5c00}.sev-low{color:#37474f}
.st{color:#5f5f5f;font-style:italic}
.banner{border:2px solid #c62828;background:#ffebee;padding:6px 10px;margin:6px 0;font-weight:600}
.headline .banner{font-size:1.15em;border-width:3px}
.note{border:1px solid #b0bec5;background:#f5f7f8;padding:6px 10px;margin:6px 0}
.verdict{font-size:18px;font-weight:700;padding:6px 10px;margin:8px 0;border-left:8px solid}
.v-open{border-color:#c62828;background:#ffebee}.v-none{border-color:#2e7d32;background:#e8f5e9}
.v-incomplete{border-color:#d84315;background:#fff3e0}
.counts td{text-align:center;min-width:90px}
.counts td b{font-size:18px;display:block}
nav.toc{margin:6px 0 0}nav.toc a{margin-right:14px}
input.filter{margin:8px 2px 8px 10px;vertical-align:middle}
table.row{width:100%;table-layout:fixed;margin:0}
table.row td:nth-child(1),table.row th:nth-child(1){width:8%}
table.row td:nth-child(2),table.row th:nth-child(2){width:17%}
table.row td:nth-child(3),table.row th:nth-child(3){width:11%}
table.row td:nth-child(4),table.row th:nth-child(4){width:9%}
table.row td:nth-child(5),table.row th:nth-child(5){width:8%}
table.row td:nth-child(6),table.row th:nth-child(6){width:10%}
table.row td:nth-child(1){font-weight:700}
table.head{position:sticky;top:0;z-index:2}
section.check{border:1px solid #c6c6c6;border-top:3px solid #90a4ae;margin:0 0 10px;
content-visibility:auto;contain-intrinsic-size:auto 320px}
section.check table.row td{border-width:0 1px 1px 0}
section.s-failed,section.s-error{border-top-color:#c62828}
section.s-waived{border-top-color:#6a1b9a}
section.fw-other{outline:2px dashed #c62828}
.detail{padding:4px 8px 6px}
.detail p{margin:3px 0}
.meta{color:#5f5f5f;font-size:12px}
.waiver{background:#f3e5f5;padding:3px 6px}
.art{margin:6px 0 0}
.art-h{font-size:12px}
.cut{font-size:12px;color:#b71c1c}
pre{white-space:pre-wrap;overflow-wrap:anywhere;overflow:visible;background:#f7f8f9;
border:1px solid #dde1e4;padding:5px 7px;margin:3px 0;
font:12px/1.35 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre.sum{background:#fffde7;border-color:#eee6a6}
table.matrix tbody{border-top:2px solid #90a4ae}
.cov-failed .cov,.cov-not-covered .cov,.cov-no-check .cov{background:#ffebee}
.cov-partial .cov{background:#fff8e1}.cov-covered .cov{background:#e8f5e9}
.cov-not-applicable .cov{background:#eceff1}
details summary{cursor:pointer}
ul.targets{columns:2;margin:3px 0}
ul.cl{list-style:none;padding:0}
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:4px 0 10px}
dl.legend dt{font-weight:600}dl.legend dd{margin:0}
@media screen{
#f-passed:not(:checked)~.checks .s-passed,#f-failed:not(:checked)~.checks .s-failed,
#f-error:not(:checked)~.checks .s-error,#f-waived:not(:checked)~.checks .s-waived,
#f-not_applicable:not(:checked)~.checks .s-not_applicable{display:none}
}
@page{margin:12mm 10mm}
@media print{
body{max-width:none;padding:0;font-size:9.5pt}
nav.toc,.filter{display:none}
a{color:inherit;text-decoration:none}
table.head{position:static}
section.check{content-visibility:visible;break-before:page;border-width:1px}
.chunk{content-visibility:visible}
section.check table.row{break-inside:avoid}
pre{font-size:8pt;border-width:0 0 0 2px}
h2,h3{break-after:avoid}
details::details-content{content-visibility:visible;display:block}
details>summary{list-style:none}
ul.targets{columns:1}
th,td{padding:2px 4px}
table.plain,table.matrix,table.kv,table.row{font-size:8pt}
table.findings :is(th,td):nth-child(1){width:9%}
.o{border:1px solid #000;print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
"""

SCRIPT = (
    "(()=>{let shut=[];"
    "addEventListener('beforeprint',()=>{shut=[...document.querySelectorAll('details:not([open])')];"
    "shut.forEach(d=>d.open=true)});"
    "addEventListener('afterprint',()=>{shut.forEach(d=>d.open=false);shut=[]})})();"
)

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
