#include "report/report_html.h"

namespace evosearch::report {

const char kPageStyle[] = R"css(
:root { --ink: #1f2328; --muted: #667085; --line: #e4e7ec; --bg: #f5f6f8; --card: #fff;
        --accent: #d9480f; --accent-soft: #fff1e6; --blue: #1c64d1; --bad: #c92a2a; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
header.top { background: #1e293b; color: #f8fafc; padding: 22px 32px 18px; }
header.top h1 { margin: 0; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
header.top .sub { margin: 4px 0 0; color: #cbd5e1; }
header.top nav { margin-top: 10px; font-size: 13px; }
header.top nav a { color: #93c5fd; margin-right: 16px; text-decoration: none; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 32px 48px; }
section { margin-top: 28px; }
h2 { font-size: 18px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 10px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; }
.card, article.prompt, .tablewrap { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
       box-shadow: 0 1px 2px rgba(16, 24, 40, 0.05); }
.card { padding: 14px 18px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.tablewrap { overflow-x: auto; }
table.data { border-collapse: collapse; width: 100%; }
table.data th, table.data td { padding: 7px 12px; border-bottom: 1px solid #eef0f3; text-align: left;
                               vertical-align: top; }
table.data thead th { background: #f9fafb; font-weight: 600; color: #344054; white-space: nowrap; }
table.data tbody tr:last-child td, table.data tbody tr:last-child th { border-bottom: 0; }
table.data tbody th { font-weight: 500; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data th[colspan] { text-align: center; }
td.best { font-weight: 700; color: var(--accent); }
.note { color: var(--muted); font-size: 12.5px; margin: 6px 2px 0; }
.badge { display: inline-block; font-size: 11px; line-height: 16px; padding: 0 7px; border-radius: 999px;
         background: var(--accent-soft); color: var(--accent); font-weight: 600; vertical-align: 1px;
         margin-left: 6px; }
.chip { display: inline-block; font-size: 12px; padding: 0 8px; border-radius: 999px; background: #eef2ff;
        color: #3b4a9e; margin-left: 6px; }
.warn { background: #fff5f5; border: 1px solid #ffc9c9; border-left: 4px solid var(--bad); border-radius: 8px;
        padding: 10px 16px; margin-top: 20px; }
.warn ul { margin: 4px 0 0; padding-left: 20px; }
article.prompt { padding: 16px 18px; margin-bottom: 16px; }
article.prompt > h3 { font-weight: 500; font-size: 16px; }
.idx { display: inline-block; min-width: 34px; text-align: center; font-size: 12px; font-weight: 700; color: #fff;
       background: #475467; border-radius: 6px; padding: 1px 6px; margin-right: 8px; vertical-align: 2px; }
.pbody { display: grid; grid-template-columns: minmax(200px, 300px) 1fr; gap: 22px; align-items: start; }
@media (max-width: 760px) { .pbody { grid-template-columns: 1fr; } }
.media img, .media video { display: block; max-width: 100%; height: auto; border-radius: 6px; background: #e9ecef; }
.media figcaption, .strip figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
figure { margin: 0; }
.strip { margin-top: 14px; }
.strip img { display: block; max-width: 100%; height: auto; border-radius: 4px; }
img.px, video.px { image-rendering: pixelated; }
.info table.data { width: auto; min-width: 260px; }
.meta { color: var(--muted); margin: 8px 0 10px; font-size: 13px; }
svg.plot { width: 100%; max-width: 460px; height: auto; display: block; font-size: 11px; }
svg.plot .grid { stroke: #edf0f3; }
svg.plot .axis { stroke: #98a2b3; fill: none; }
svg.plot .tick { fill: #667085; }
svg.plot .label { fill: #344054; font-size: 12px; }
svg.plot .legend text { fill: #344054; }
svg.plot polyline.best, svg.plot line.best { stroke: var(--accent); stroke-width: 2.2; fill: none; }
svg.plot polyline.mean, svg.plot line.mean { stroke: var(--blue); stroke-width: 1.8; stroke-dasharray: 5 3;
                                             fill: none; }
svg.plot circle.best { fill: var(--accent); }
svg.plot circle.mean { fill: var(--blue); }
svg.plot circle.cand { fill: #98a2b3; opacity: 0.55; }
details { margin-top: 12px; }
details > summary { cursor: pointer; color: var(--blue); font-weight: 500; }
.gen { border-top: 1px solid var(--line); padding: 12px 0 4px; }
.gen h4 { margin: 0 0 8px; font-size: 13.5px; }
.gen h4 span { color: var(--muted); font-weight: 400; margin-left: 8px; }
.gen img { display: block; max-width: 100%; height: auto; margin-bottom: 8px; border-radius: 4px; }
ol.fit { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px; }
ol.fit li { font-size: 12px; font-variant-numeric: tabular-nums; background: #f2f4f7; border-radius: 5px;
            padding: 1px 7px; }
ol.fit li b { color: var(--muted); font-weight: 500; margin-right: 4px; }
ol.fit li.top { background: #ffe8d9; }
ol.fit li.answer { background: var(--accent); color: #fff; }
ol.fit li.answer b { color: #ffe8d9; }
.missing { display: flex; align-items: center; justify-content: center; min-height: 120px; padding: 12px;
           text-align: center;
           border: 2px dashed #d0d5dd; border-radius: 6px; color: var(--muted); font-size: 12.5px; }
.broken { outline: 3px dashed var(--bad); outline-offset: 2px; min-width: 40px; min-height: 40px; }
table.side td { min-width: 150px; }
table.side td.ptext { min-width: 220px; max-width: 360px; }
table.side img { display: block; max-width: 100%; height: auto; border-radius: 6px; background: #e9ecef; }
.scoreline { font-size: 12px; color: var(--muted); margin-top: 4px; font-variant-numeric: tabular-nums; }
.scoreline b { color: var(--ink); font-weight: 600; }
details.run { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 18px; }
details.run[open] { background: transparent; border-color: transparent; padding: 12px 0; }
details.run > summary { font-size: 16px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 32px; }
)css";

// Runs after load: an image that did not decode (naturalWidth 0) or a video whose sources all
// failed is marked, named in a banner, and the outcome is recorded on <html> (data-media-*)
// for tests. With #selftest in the URL, lazy images load too so that every one is checked.
const char kPageScript[] = R"js(
(function () {
  const selftest = location.hash === '#selftest';
  if (selftest) document.querySelectorAll('img[loading="lazy"]').forEach((i) => { i.loading = 'eager'; });
  const failed = (v) => v.readyState < 1 && (v.networkState === 3 || v.error !== null);
  let tries = 0;
  function check() {
    const imgs = Array.from(document.images), vids = Array.from(document.querySelectorAll('video'));
    const pending = imgs.filter((i) => !i.complete).length + vids.filter((v) => v.readyState < 1 && !failed(v)).length;
    if (pending > 0 && ++tries < 200) { setTimeout(check, 50); return; }
    const broken = imgs.filter((i) => i.complete && i.naturalWidth === 0).concat(vids.filter(failed));
    const name = (e) => e.getAttribute('src') || (e.querySelector('source') || e).getAttribute('src');
    const root = document.documentElement;
    root.dataset.mediaChecked = String(imgs.length + vids.length);
    root.dataset.mediaPending = String(pending);
    root.dataset.mediaBroken = broken.map(name).join(' ');
    root.dataset.mediaCheck = broken.length ? 'broken' : pending ? 'pending' : 'ok';
    if (broken.length) {
      broken.forEach((e) => e.classList.add('broken'));
      const banner = document.getElementById('media-banner');
      banner.textContent = broken.length + ' image(s) or video(s) did not load (moved or deleted files?): ' +
                           broken.map(name).map(decodeURIComponent).join(', ');
      banner.hidden = false;
    }
  }
  window.addEventListener('load', check);
})();
)js";

}  // namespace evosearch::report
