"""`modeleval report`: a dashboard of the results DB, as static pages that open from file:// or served locally.

The pages are plain HTML shells; what they show comes from JavaScript data files written next to
them (`data/*.js`, loaded with `<script src>` because file:// forbids fetch()). Run-level data is
small and loaded whole; item-level data is cut into chunks per run and suite and loaded only when
a page needs it, so a DB of 100 runs x 10,000 items still opens in well under two seconds.

Modules: `figures` (the dashboard's figures from the rows `results.dashboard` reads), `compare`
(paired comparison of two runs), `items` (item chunks, prompt and variant shards), `pages` (the HTML
shells), `site` (writes a whole dashboard), `server` (`--serve`). The report writes no SQL.
"""

from __future__ import annotations


class ReportError(Exception):
    """A bad input (no runs, an unknown run, an output path that is a file): one line for the user."""
