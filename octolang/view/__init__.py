"""`octoc view`: a local, read-only web viewer of runs (and `--bundle`, the same pages as
static files).

- site.py: which runs are shown, their programs, read-only connections and the cache
  database (full-text index, computed reports) kept beside each run, never in it;
- queries.py: what pages show, each read paginated in SQL;
- search.py: the FTS5 index of prompts and answers;
- charts.py: inline SVG (intervals as error bars, histograms);
- compare.py: two runs side by side;
- work.py: what takes a pass over every unit, done once per state of a run by worker
  processes (live) or at once (bundle);
- pages.py: each page as a template and its values, shared by the server and the bundle;
- app.py: the Starlette application; bundle.py: the static export.
"""
