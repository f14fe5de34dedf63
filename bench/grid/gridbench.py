"""Shared data + per-candidate adapters for the ExperimentBrowser grid benchmark.

Each adapter exposes the same five operations so the Python and browser benches treat candidates alike:
    build(df) -> widget            make the widget from a DataFrame (10k x 35)
    update(w, df)                  put new data into the SAME widget (refresh: rows added + changed)
    selected_ids(w) -> [run_id]    the user's row selection, read in Python
    observe_selection(w, cb)       call cb(run_ids) whenever the front end changes the selection
    VISIBLE / ROW                  CSS selectors: grid painted / one data row (browser bench)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

N_ROWS, N_PARAMS, N_METRICS = 10_000, 20, 10


def make_runs(n=N_ROWS, seed=0, start=0) -> pd.DataFrame:
    "n experiment runs x 34 columns (+ the index): run_id, name, status, duration, p00..p19, m00..m09."
    rng = np.random.default_rng(seed)
    ids = np.arange(start, start + n)
    cols = {
        "run_id": [f"run-{i:06d}" for i in ids],
        "name": [f"exp{i % 37}-trial{i}" for i in ids],
        "status": rng.choice(["finished", "running", "failed", "queued"], n, p=[.8, .05, .1, .05]),
        "duration": rng.gamma(2.0, 60.0, n).round(2),
    }
    for j in range(N_PARAMS):              # mixed param types, like real sweeps
        if j % 4 == 0:   cols[f"p{j:02d}"] = rng.choice(["adam", "sgd", "adamw", "rmsprop"], n)
        elif j % 4 == 1: cols[f"p{j:02d}"] = rng.integers(1, 512, n)
        else:            cols[f"p{j:02d}"] = 10 ** rng.uniform(-5, 0, n)
    for j in range(N_METRICS):
        cols[f"m{j:02d}"] = rng.random(n)
    df = pd.DataFrame(cols)
    df.index = pd.RangeIndex(start, start + n)
    return df


def refreshed(df: pd.DataFrame, n_new=100, n_changed=50, seed=1) -> pd.DataFrame:
    "The refresh: n_new runs appended, n_changed 'running' runs finished with new metrics."
    rng = np.random.default_rng(seed)
    out = df.copy()
    changed = out.index[-n_changed - 200: -200]          # not the first rows (those are selected in the test)
    out.loc[changed, "status"] = "finished"
    out.loc[changed, "m00"] = rng.random(len(changed))
    new = make_runs(n_new, seed=seed + 1, start=int(out.index.max()) + 1)
    return pd.concat([out, new])


# -- adapters ----------------------------------------------------------------------------------------
class IpyDataGrid:
    name = "ipydatagrid"
    VISIBLE = ".ipydatagrid-widget canvas"
    ROW = None                               # canvas: rows are clicked by coordinates

    @staticmethod
    def build(df):
        from ipydatagrid import DataGrid
        return DataGrid(df, selection_mode="row", layout={"height": "420px"},
                        base_column_size=90, auto_fit_columns=False)

    @staticmethod
    def update(w, df):
        w.data = df                          # only whole-frame replacement exists (+ set_cell_value/set_row_value)

    @staticmethod
    def selected_ids(w):
        rows = set()
        for r in w.selections:               # rects in *visible* (sorted/filtered) row coordinates
            rows.update(range(min(r["r1"], r["r2"]), max(r["r1"], r["r2"]) + 1))
        vis = w.get_visible_data()
        return [vis["run_id"].iloc[i] for i in sorted(rows) if i < len(vis)]

    @classmethod
    def observe_selection(cls, w, cb):
        w.observe(lambda ch: cb(cls.selected_ids(w)), "selections")


class ITables:
    name = "itables"
    VISIBLE = "table.dataTable tbody tr"
    ROW = "table.dataTable tbody tr"

    @staticmethod
    def build(df):
        from itables.widget import ITable
        # maxBytes=0: no downsampling (the default 64KB would silently show ~1% of 10k x 35).
        # select os-style: click / ctrl-click / shift-click. scroller: virtual scrolling (deferRender).
        return ITable(df, maxBytes=0, select={"style": "os"}, scroller=True, scrollY="400px",
                      deferRender=True, scrollX=True)

    @staticmethod
    def update(w, df):
        # maxBytes must be passed AGAIN: update() falls back to the 64KB default and silently downsamples.
        # Re-sends the whole _dt_args; the front end destroys + recreates the DataTable.
        w.update(df, maxBytes=0)

    @staticmethod
    def selected_ids(w):
        return [w.df["run_id"].iloc[i] for i in sorted(w.selected_rows)]   # positions in w.df

    @classmethod
    def observe_selection(cls, w, cb):
        w.observe(lambda ch: cb(cls.selected_ids(w)), "selected_rows")


class IpyAgGrid:
    name = "ipyaggrid"
    VISIBLE = ".ag-center-cols-container .ag-row"
    ROW = ".ag-center-cols-container .ag-row"

    @staticmethod
    def build(df):
        from ipyaggrid import Grid
        opts = {"columnDefs": [{"field": c} for c in df.columns],
                "defaultColDef": {"sortable": True, "filter": True, "resizable": True, "width": 100},
                "rowSelection": "multiple", "enableSorting": True, "enableFilter": True}
        # sync_grid=False: otherwise every setRowData sends the whole grid back up to Python.
        return Grid(grid_data=df, grid_options=opts, export_mode="auto", sync_grid=False,
                    quick_filter=True, height=420, columns_fit="", theme="ag-theme-balham")

    @staticmethod
    def update(w, df):
        w.update_grid_data(df)               # whole rowData replaced (setRowData)

    @staticmethod
    def selected_ids(w):
        rows = w.grid_data_out.get("rows")
        return [] if rows is None else list(rows["run_id"])

    @classmethod
    def observe_selection(cls, w, cb):
        w.observe(lambda ch: cb(cls.selected_ids(w)), "grid_data_out")


ADAPTERS = {a.name: a for a in (IpyDataGrid, ITables, IpyAgGrid)}
