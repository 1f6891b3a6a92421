"""The HTML shells: the same frame for every page (navigation, scripts); dashboard.js fills `<main>` from the data files.

A page is one file at the top of the dashboard directory, named in PAGES. What it shows is chosen
by `body[data-page]`; which run, suite or item by the URL's #fragment, which works from file://.
"""

from __future__ import annotations

from html import escape

# file name -> (title, whether it draws charts, in the navigation)
PAGES = {
    "index.html": ("Overview", True, True),
    "suite.html": ("Suite", True, False),
    "gates.html": ("Gate history", True, True),
    "compare.html": ("Compare runs", True, True),
    "items.html": ("Items", False, True),
    "item.html": ("Item", False, False),
    "judge.html": ("Judge", True, True),
    "redteam.html": ("Red team", True, True),
    "contamination.html": ("Contamination", True, True),
}


def page(name: str, db_label: str) -> str:
    """One page's HTML: navigation, an empty <main>, then the scripts (library, dashboard, summary data)."""
    title, charts, _ = PAGES[name]
    links = "".join(f'<a href="{file}"{" class=current" if file == name else ""}>{escape(label)}</a>'
                    for file, (label, _, shown) in PAGES.items() if shown)
    chart_script = '<script src="assets/chart.umd.min.js"></script>\n' if charts else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · modeleval report</title>
<link rel="stylesheet" href="assets/dashboard.css">
</head>
<body data-page="{name.removesuffix('.html')}">
<header><span class="brand">modeleval report</span><nav>{links}</nav><span class="db">{escape(db_label)}</span></header>
<main id="app"><p class="loading">Loading…</p></main>
{chart_script}<script src="assets/dashboard.js"></script>
<script src="data/summary.js"></script>
</body>
</html>
"""
