"""Figures: pure functions from data to a plotly figure.

Labels come in as a dict (the page passes its language's catalog), so the same function draws
English and Bahasa Indonesia charts and tests can call it with any labels.
"""

from __future__ import annotations

import copy
import functools
import json
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import toy, toy2d
from .i18n import number

# ---------------------------------------------------------------------------------------------
# Toy GAN: one figure, six panels, animated in the browser by patching traces frame by frame
# ---------------------------------------------------------------------------------------------

# Trace order in toy_figure. Frames patch traces by index, so keep these in step with it.
T_HIST_REAL, T_HIST_FAKE, T_D, T_DSTAR, T_HALF = 0, 1, 2, 3, 4
T_WB_PATH, T_WB_NOW, T_WB_OPT = 5, 6, 7
T_G_LOSS, T_D_LOSS, T_D_REAL, T_D_FAKE = 8, 9, 10, 11
T_KL, T_JS, T_W2 = 12, 13, 14
HISTORY_POINTS = 300  # time series are thinned to this many points; the browser adds frames
# training_figure's traces, in order: the metrics' and quality rows' keys they draw.
TRAINING_TRACES = ("g_loss", "d_loss", "d_real", "d_fake", "swd", "real_swd", "precision",
                   "recall", "precision_real", "recall_real")

REAL, FAKE, DISC, OPTIMAL = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"
# The time series: history column, trace index, colour, panel. Drawn by toy_figure, grown by
# toy_frame.
SERIES = (("g_loss", T_G_LOSS, FAKE, "loss"), ("d_loss", T_D_LOSS, DISC, "loss"),
          ("d_real", T_D_REAL, REAL, "score"), ("d_fake", T_D_FAKE, FAKE, "score"),
          ("kl", T_KL, "#9467bd", "dist_t"), ("js", T_JS, "#8c564b", "dist_t"),
          ("w2", T_W2, "#e377c2", "dist_t"))
COL = {name: i for i, name in enumerate(toy.HISTORY_COLUMNS)}


def _r(values, digits=4):
    """Round to `digits` significant figures, non-finite values as None: the browser gets
    small, readable JSON. The same numbers as float(f"{v:.{digits}g}"), computed on the whole
    array: the playing toys round thousands a frame. An integer divided by a power of ten is
    the double nearest the decimal, as parsing it is; exact ties, which the decimal rule
    decides by the binary value, and the far ends of the range go through the formatter."""
    a = np.asarray(values, float).ravel()
    ok = np.isfinite(a)
    x = np.where(ok, a, 0.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        p = digits - 1 - np.where(x == 0, 0.0, np.floor(np.log10(np.abs(x))))
        scale = 10.0 ** np.clip(np.abs(p), 0, 300)
        scaled = np.where(p >= 0, x * scale, x / scale)
        whole = np.round(scaled)
        out = np.where(p >= 0, whole / scale, whole * scale).tolist()
        odd = ~ok | (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6) | (np.abs(p) > 300)
    for i in np.flatnonzero(odd).tolist():
        out[i] = float(f"{a[i]:.{digits}g}") if ok[i] else None
    return out


def _thin(rows: np.ndarray, points: int) -> np.ndarray:
    if len(rows) <= points:
        return rows
    idx = np.unique(np.linspace(0, len(rows) - 1, points).round().astype(int))
    return rows[idx]


# Each panel has its own legend, under it, so a colour is read beside the chart it belongs to.
TOY_HEIGHT = 820      # px; the player's frame is this tall
PANEL_LEGENDS = {"dist": "legend", "dist_p": "legend", "wb": "legend2", "loss": "legend3",
                 "score": "legend4", "dist_t": "legend5"}


@functools.lru_cache(maxsize=16)
def _toy_skeleton(label_items: tuple):
    """The six panels' layout and each panel's axis ids, built once per language: plotly
    validates every property it is given, which costs ~100 ms a figure; the layout never
    changes, so later figures are plain dicts filled with data."""
    labels = dict(label_items)
    fig = make_subplots(
        rows=2, cols=3,
        specs=[[{"colspan": 2, "secondary_y": True}, None, {}], [{}, {}, {}]],
        subplot_titles=(labels["distribution"], labels["wb_plane"], labels["losses"],
                        labels["scores"], labels["distances"]),
        horizontal_spacing=0.13, vertical_spacing=0.3,
    )
    panels = {"dist": (1, 1, False), "dist_p": (1, 1, True), "wb": (1, 3, False),
              "loss": (2, 1, False), "score": (2, 2, False), "dist_t": (2, 3, False)}
    for r, c, sec in panels.values():
        fig.add_scatter(x=[0], y=[0], row=r, col=c, secondary_y=sec)
    axes = {name: {"xaxis": t.xaxis, "yaxis": t.yaxis, "legend": PANEL_LEGENDS[name]}
            for name, t in zip(panels, fig.data)}
    fig.add_hline(y=0.5, line=dict(color="black", width=1, dash="dot"), row=2, col=2)
    fig.data = []
    fig.update_yaxes(title_text=labels["density"], row=1, col=1, secondary_y=False)
    # D(x)'s 0..1 axis, untitled: the legend names the curve, and a title here would sit
    # against the (w, b) panel as if it were that panel's label.
    fig.update_yaxes(range=[-0.02, 1.02], tickmode="array", tickvals=[0, 0.25, 0.5, 0.75, 1],
                     showgrid=False, row=1, col=1, secondary_y=True)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="w", row=1, col=3)
    fig.update_yaxes(title_text="b", row=1, col=3)
    for c in (1, 2, 3):
        fig.update_xaxes(title_text=labels["step"], row=2, col=c)
    fig.update_yaxes(range=[0, 1], row=2, col=2)
    fig.update_yaxes(type="log", row=2, col=3)
    layout = json.loads(fig.to_json())["layout"]
    # A legend under each panel: x at the panel's left edge, y just under its x-axis title; in
    # a column for the narrow panels, whose entries would not fit side by side.
    for name in ("dist", "wb", "loss", "score", "dist_t"):
        x0 = layout[axes[name]["xaxis"].replace("x", "xaxis")]["domain"][0]
        y0 = layout[axes[name]["yaxis"].replace("y", "yaxis")]["domain"][0]
        layout[PANEL_LEGENDS[name]] = {"orientation": "h" if name == "dist" else "v",
                                       "x": x0, "xanchor": "left", "y": y0 - 0.07,
                                       "yanchor": "top", "font": {"size": 11},
                                       "bgcolor": "rgba(0,0,0,0)"}
    layout.update(barmode="overlay", bargap=0, height=TOY_HEIGHT, showlegend=True,
                  margin=dict(l=50, r=20, t=40, b=90), title=dict(x=0.5, y=0.995))
    return layout, axes


def toy_title(run: "toy.ToyRun", view: dict, labels: dict, lang: str) -> str:
    """"Step N · generated N(m, s) · target N(m, s)": what the frame on screen shows, so the
    numbers never run ahead of the animation."""
    cfg = run.cfg
    return labels["title_at"].format(
        step=number(view["step"], lang), mean=number(round(view["gen_mean"], 2), lang),
        std=number(round(view["gen_std"], 2), lang), target_mean=number(cfg.data_mean, lang),
        target_std=number(cfg.data_std, lang))


def _loss_range(hist: np.ndarray) -> tuple[list, float] | None:
    """A y range for the losses that shows the equilibrium (about 0.69), not the early spike:
    the range of the run after its first tenth, when earlier values reach far past it.
    Returns (range, the largest value cut off), or None when nothing needs cutting."""
    values = hist[:, [COL["g_loss"], COL["d_loss"]]]
    values = values[np.isfinite(values).all(axis=1)]
    if len(values) < 20:
        return None
    late = values[len(values) // 10:]
    lo, hi = float(min(late.min(), 0.0)), float(late.max())
    top = hi + 0.15 * (hi - lo or 1.0)
    peak = float(values.max())
    return ([lo, top], peak) if peak > top + 0.5 * (top - lo) else None


def toy_figure(run: "toy.ToyRun", step: int, labels: dict, x_range=None,
               lang: str = "en") -> dict:
    """The Toy GAN's six panels as they were after `step` steps, as a plotly figure dict
    (`go.Figure(toy_figure(...))` validates it; the browser draws it as it is)."""
    cfg = run.cfg
    x_range = list(x_range or run.x_range([step]))
    view = run.view(step, x_range)
    hist = _thin(run.history()[:step], HISTORY_POINTS)
    steps = _r(hist[:, COL["step"]], 7)
    layout, ax = _toy_skeleton(tuple(sorted(labels.items())))
    layout = copy.deepcopy(layout)

    def trace(panel, **spec):
        return {"type": "scatter", **ax[panel], **spec}

    w_opt = cfg.data_std / cfg.sigma_z
    data = [
        # Panel 1: real vs generated histograms, D(x) and D*(x) on a 0..1 axis, threshold 0.5.
        trace("dist", type="bar", x=_r(view["bin_centers"]), y=_r(view["hist_real"]),
              name=labels["real"], marker={"color": REAL}, opacity=0.55),
        trace("dist", type="bar", x=_r(view["bin_centers"]), y=_r(view["hist_fake"]),
              name=labels["generated"], marker={"color": FAKE}, opacity=0.55),
        trace("dist_p", x=_r(view["grid"]), y=_r(view["d_curve"]), name=labels["d_curve"],
              mode="lines", line={"color": DISC, "width": 3}),
        trace("dist_p", x=_r(view["grid"]), y=_r(view["d_star"]), name=labels["d_star"],
              mode="lines", line={"color": OPTIMAL, "width": 2, "dash": "dash"}),
        trace("dist_p", x=x_range, y=[0.5, 0.5], name=labels["threshold"], mode="lines",
              line={"color": "black", "width": 1, "dash": "dot"}, showlegend=False),
        # Panel 2: the generator's (w, b) path; the optima are w = +-std/sigma_z, b = mean.
        trace("wb", x=_r(hist[:, COL["w"]]), y=_r(hist[:, COL["b"]]), mode="lines",
              name=labels["wb_path"], line={"color": FAKE, "width": 1.5}),
        trace("wb", x=[view["w"]], y=[view["b"]], mode="markers", name=labels["wb_now"],
              marker={"color": FAKE, "size": 10}),
        trace("wb", x=[-w_opt, w_opt], y=[cfg.data_mean] * 2, mode="markers",
              name=labels["wb_opt"], marker={"color": "black", "symbol": "star", "size": 12}),
    ]
    # Panels 3-5: time series, appended in SERIES order (their indices follow T_WB_OPT).
    for key, _, color, panel in SERIES:
        data.append(trace(panel, x=steps, y=_r(hist[:, COL[key]]), mode="lines",
                          name=labels[key], line={"color": color, "width": 1.5}))

    layout["xaxis"]["range"] = x_range
    layout["title"]["text"] = toy_title(run, view, labels, lang)
    # A new run is a new view: plotly forgets the old axes (which an empty chart would keep).
    layout["uirevision"] = f"toy-{id(run)}"
    if step == 0:
        for panel in ("loss", "score", "dist_t"):
            layout[ax[panel]["xaxis"].replace("x", "xaxis")]["range"] = [0, 1]
    layout.setdefault("shapes", [])
    layout.setdefault("annotations", [])
    loss = ax["loss"]
    cut = _loss_range(hist)
    if cut:
        layout[loss["yaxis"].replace("y", "yaxis")]["range"] = cut[0]
        layout["annotations"].append({
            "x": 0.98, "y": 0.98, "xref": loss["xaxis"] + " domain",
            "yref": loss["yaxis"] + " domain", "xanchor": "right", "yanchor": "top",
            "text": labels["loss_cut"].format(peak=_short(cut[1], lang)),
            "showarrow": False, "font": {"size": 10, "color": "#666"}})
    best = run.best_step()
    if labels.get("mark_best") and 0 < best <= step:
        for panel in ("loss", "score", "dist_t"):
            layout["shapes"].append({
                "type": "line", "x0": best, "x1": best, "y0": 0, "y1": 1,
                "xref": ax[panel]["xaxis"], "yref": ax[panel]["yaxis"] + " domain",
                "line": {"color": "red", "width": 1, "dash": "dash"}})
        # Placed in the panel's own frame (domain), so its text never widens the x axis.
        layout["annotations"].append({
            "x": 0.02, "y": 0.02, "xref": ax["score"]["xaxis"] + " domain",
            "yref": ax["score"]["yaxis"] + " domain", "xanchor": "left", "yanchor": "bottom",
            "text": f"┆ {labels['mark_best']} ({_short(best, lang)})",
            "showarrow": False, "font": {"color": "red", "size": 10}})
    return {"data": data, "layout": layout}


def _short(value: float, lang: str) -> str:
    """Three significant figures, in the language's format."""
    return number(float(f"{value:.3g}"), lang)


def toy_frame(run: "toy.ToyRun", step: int, x_range, labels: dict, lang: str = "en") -> dict:
    """What changes from one animation frame to the next: the distribution panel is replaced,
    the time series grow by one point. The browser applies it to the figure it shows."""
    view = run.view(step, x_range)
    row = run.history()[step - 1]
    extend = {T_WB_PATH: [float(row[COL["w"]]), float(row[COL["b"]])]}
    for key, trace, _, _ in SERIES:
        extend[trace] = [int(row[COL["step"]]), _r([row[COL[key]]])[0]]
    return {
        "title": toy_title(run, view, labels, lang),
        "set": {
            T_HIST_FAKE: {"y": _r(view["hist_fake"])},
            T_D: {"y": _r(view["d_curve"])},
            T_DSTAR: {"y": _r(view["d_star"])},
            T_WB_NOW: {"x": [view["w"]], "y": [view["b"]]},
        },
        "extend": extend,
    }


def toy_chunk(run: "toy.ToyRun", start: int, frame_steps: list, labels: dict, chunk_id: str,
              lang: str = "en"):
    """A base figure at `start` and the frames that follow it: the browser shows the base, then
    plays the frames at its own pace, so Streamlit sends one message per chunk, not per frame."""
    x_range = run.x_range([start, *frame_steps])
    base = toy_figure(run, start, labels, x_range, lang)
    return finite({
        "id": chunk_id, "start": start, "base": base,
        "frames": [toy_frame(run, s, x_range, labels, lang) for s in frame_steps if s > 0],
    })


def finite(value):
    """The same structure with every NaN or infinity as None: a browser's JSON.parse refuses
    them, and a chart that cannot parse its data stays broken until a reload."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, np.floating):
        return finite(float(value))
    return value


# ---------------------------------------------------------------------------------------------
# Toy GAN in 2-D: the plane (D's belief, real and generated points, G's manifold, G's arrows)
# beside four time series; one plane per run, so A and B share every axis
# ---------------------------------------------------------------------------------------------

def toy2d_height(runs: int) -> int:
    """px: one plane is drawn large; two side by side are narrower, so less tall."""
    return 620 if runs == 1 else 520


PLANE = ("heat", "real", "mesh", "fake", "arrows")      # each run's plane traces, in order
SERIES_2D = (("d_loss", 1, DISC), ("g_loss", 1, FAKE), ("modes_covered", 2, "#9467bd"),
             ("high_quality", 3, "#17becf"), ("kl", 4, "#9467bd"), ("js", 4, "#8c564b"))
LAYERS = ("heat", "real", "fake", "mesh", "arrows")
RUN_DASH = ("solid", "dash")
# D's belief that a point is real: purple for "fake", green for "real" (GAN Lab's colours)
BELIEF = [[0, "#8e44ad"], [0.5, "#f7f7f7"], [1, "#27ae60"]]


def _lines(points: np.ndarray) -> tuple[list, list]:
    """A (rows, cols, 2) grid as polylines along both directions, None between lines."""
    xs, ys = [], []
    for grid in (points, points.transpose(1, 0, 2)):
        cols = grid.shape[1]
        for values, out in ((grid[..., 0], xs), (grid[..., 1], ys)):
            flat = _r(values, 3)           # rounded in one call, then cut into lines
            for i in range(grid.shape[0]):
                out += flat[i * cols:(i + 1) * cols] + [None]
    return xs, ys


def _arrows(start: np.ndarray, push: np.ndarray) -> tuple[list, list]:
    """Segments from each point along G's push, scaled so the longest is 0.6 wide."""
    length = np.sqrt((push ** 2).sum(1)).max()
    end = start + push * (0.6 / length if length > 0 else 0)
    xs, ys = [], []
    for k, out in ((0, xs), (1, ys)):
        for a, b in zip(_r(start[:, k], 3), _r(end[:, k], 3)):
            out += [a, b, None]
    return xs, ys


def _plane_patch(frame: dict) -> dict:
    """The plane's changing traces at one frame, by name."""
    mesh_x, mesh_y = _lines(frame["mesh"])
    arrow_x, arrow_y = _arrows(frame["arrow_from"], frame["arrows"])
    heat, cols = _r(frame["heat"], 2), frame["heat"].shape[1]
    return {"heat": {"z": [heat[i:i + cols] for i in range(0, len(heat), cols)]},
            "mesh": {"x": mesh_x, "y": mesh_y},
            "fake": {"x": _r(frame["fake"][:, 0], 3), "y": _r(frame["fake"][:, 1], 3)},
            "arrows": {"x": arrow_x, "y": arrow_y}}


def toy2d_title(runs: list, steps: list, labels: dict, lang: str = "en") -> str:
    parts = []
    for name, run, step in zip("AB", runs, steps):
        row = run.row(step)
        text = labels["title"].format(step=number(row["step"], lang))
        if row["modes_covered"] is not None:
            text += labels["title_modes"].format(
                covered=row["modes_covered"], total=run.modes_total,
                share=number(round(100 * row["high_quality"]), lang))
        parts.append((f"{name}: " if len(runs) > 1 else "") + text)
    return "<br>".join(parts)          # A above B: side by side would not fit the planes


def toy2d_plane_figure(runs: list, steps: list, labels: dict, layers=LAYERS,
                       lang: str = "en") -> dict:
    """Each run's plane at its step, side by side on the same axes, as plotly JSON."""
    fig = copy.deepcopy(_plane_skeleton(len(runs), tuple(sorted(labels.items())),
                                        tuple(layers)))
    for r, (run, step) in enumerate(zip(runs, steps)):
        patch, axis = _plane_patch(run.frame(step)), _r(run.axis, 3)
        heat, real, mesh, fake, arrows = fig["data"][r * len(PLANE):(r + 1) * len(PLANE)]
        heat.update(x=axis, y=axis, z=patch["heat"]["z"])
        real.update(x=_r(run.real_shown[:, 0], 3), y=_r(run.real_shown[:, 1], 3))
        mesh.update(patch["mesh"])
        fake.update(patch["fake"])
        arrows.update(patch["arrows"])
    fig["layout"]["uirevision"] = str(id(runs[0]))
    fig["layout"]["title"]["text"] = toy2d_title(runs, steps, labels, lang)
    return fig


@functools.lru_cache(maxsize=32)
def _plane_skeleton(n: int, label_items: tuple, layers: tuple) -> dict:
    """The planes' traces and layout without their data, once per (runs, language,
    layers shown): plotly's validation of every property is most of a figure's cost, and a
    playing page draws one a second. The traces come in PLANE order, per run."""
    labels, show = dict(label_items), set(layers)
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.08,
                        subplot_titles=[labels[f"plane_{k}"] for k in "AB"[:n]] if n > 1 else None)
    for r in range(n):
        fig.add_trace(go.Heatmap(zmin=0, zmax=1, colorscale=BELIEF, opacity=0.55,
                                 showscale=False, hoverinfo="skip", visible="heat" in show),
                      row=1, col=r + 1)
        fig.add_trace(go.Scatter(mode="markers", name=labels["real"], hoverinfo="skip",
                                 marker=dict(color="#27ae60", size=4), visible="real" in show),
                      row=1, col=r + 1)
        fig.add_trace(go.Scatter(mode="lines", name=labels["mesh"], hoverinfo="skip",
                                 visible="mesh" in show,
                                 line=dict(color="rgba(80, 80, 80, 0.45)", width=1)),
                      row=1, col=r + 1)
        fig.add_trace(go.Scatter(mode="markers", name=labels["fake"], hoverinfo="skip",
                                 visible="fake" in show, marker=dict(color="#8e44ad", size=4)),
                      row=1, col=r + 1)
        fig.add_trace(go.Scatter(mode="lines", name=labels["arrows"], hoverinfo="skip",
                                 visible="arrows" in show,
                                 line=dict(color="#d35400", width=1.2)), row=1, col=r + 1)
        fig.update_xaxes(range=[-3, 3], row=1, col=r + 1, constrain="domain")
        fig.update_yaxes(range=[-3, 3], row=1, col=r + 1, scaleanchor=f"x{r + 1 if r else ''}",
                         constrain="domain")
    # No legend and no hover: each costs the browser milliseconds per frame (docs/
    # PERFORMANCE.md); the page says the plane's colours.
    fig.update_layout(height=toy2d_height(n), margin=dict(l=30, r=10, t=40 + 20 * n, b=30),
                      showlegend=False, hovermode=False,
                      title=dict(text="", x=0.01, font=dict(size=14)))
    return finite(fig.to_plotly_json())   # callers fill a deep copy


def toy2d_series_figure(runs: list, step: int, labels: dict) -> dict:
    """Losses, modes covered, high-quality share and KL/JS up to `step`, A solid and B
    dashed on the same axes, as plotly JSON. Redrawn once per chunk, not per frame."""
    fig = copy.deepcopy(_series_skeleton(len(runs), tuple(sorted(labels.items()))))
    traces = iter(fig["data"])
    for run in runs:
        rows = [row for row in run.rows if row[0] <= step]
        rows = rows[::max(1, len(rows) // HISTORY_POINTS)]
        for key, _, _ in SERIES_2D:
            column = toy2d.HISTORY_COLUMNS.index(key)
            next(traces).update(x=[row[0] for row in rows],
                                y=_r([np.nan if row[column] is None else row[column]
                                      for row in rows]))
    fig["layout"]["uirevision"] = str(id(runs[0]))
    return fig


@functools.lru_cache(maxsize=32)
def _series_skeleton(n: int, label_items: tuple) -> dict:
    """The four series panels without their data (see _plane_skeleton)."""
    labels = dict(label_items)
    fig = make_subplots(rows=4, cols=1, vertical_spacing=0.1, shared_xaxes=True,
                        subplot_titles=[_series_title(panel, labels) for panel in range(1, 5)])
    for r in range(n):
        for key, panel, colour in SERIES_2D:
            fig.add_trace(go.Scatter(
                mode="lines", name=(f"{'AB'[r]}: " if n > 1 else "") + labels[key],
                line=dict(color=colour, width=1.5, dash=RUN_DASH[r])), row=panel, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], row=3, col=1)
    fig.update_layout(height=toy2d_height(n), margin=dict(l=40, r=10, t=60, b=30),
                      showlegend=False)
    return finite(fig.to_plotly_json())   # callers fill a deep copy


def _series_title(panel: int, labels: dict) -> str:
    """A series panel's title with its lines' names in their colours (A solid, B dashed)."""
    names = [f"<span style='color:{colour}'>{labels[key]}</span>"
             for key, p, colour in SERIES_2D if p == panel]
    title = labels[("losses", "modes", "quality", "divergence")[panel - 1]]
    return f"{title}: {' · '.join(names)}" if len(names) > 1 else title


def toy2d_frame(runs: list, step: int, labels: dict, lang: str = "en") -> dict:
    """One frame: each plane's changing traces at `step`."""
    patch = {str(r * len(PLANE) + PLANE.index(name)): value
             for r, run in enumerate(runs) for name, value in _plane_patch(run.frame(step)).items()}
    return {"set": patch, "extend": {},
            "title": toy2d_title(runs, [step] * len(runs), labels, lang)}


def toy2d_chunk(runs: list, start: int, frame_steps: list, labels: dict, chunk_id: str,
                layers=LAYERS, lang: str = "en") -> dict:
    """As toy_chunk, for the 2-D toy: the planes at `start` then the frames after it, and
    beside them (`side`) the time series up to the chunk's last step."""
    end = frame_steps[-1] if frame_steps else start
    # the frames' numbers come through _r, which already writes a non-finite one as None
    return {"id": chunk_id, "start": start,
            "base": toy2d_plane_figure(runs, [start] * len(runs), labels, layers, lang),
            "side": toy2d_series_figure(runs, end, labels),
            "frames": [toy2d_frame(runs, s, labels, lang) for s in frame_steps]}


def warmup_figure(x, x_hat, labels: dict) -> go.Figure:
    """The course's warm-up: histograms of x ~ N(10, 1) and x_hat = z + 10 side by side."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True,
                        subplot_titles=(labels["warmup_x"].format(m=np.mean(x), s=np.std(x)),
                                        labels["warmup_xhat"].format(m=np.mean(x_hat),
                                                                     s=np.std(x_hat))))
    fig.add_histogram(x=_r(x), nbinsx=50, marker_color=REAL, name="x", row=1, col=1)
    fig.add_histogram(x=_r(x_hat), nbinsx=50, marker_color=FAKE, name="x̂", row=1, col=2)
    fig.update_layout(height=300, showlegend=False, margin=dict(l=40, r=20, t=50, b=30))
    return fig


# ---------------------------------------------------------------------------------------------
# Latent explorer
# ---------------------------------------------------------------------------------------------

def typicality_figure(norm: float, d: int, labels: dict) -> go.Figure:
    """The chi density of ‖z‖ for a random z in d dimensions, with this z's norm marked."""
    from .latent import chi_mean, chi_pdf

    top = max(norm, chi_mean(d) + 4) * 1.05
    r = np.linspace(0, top, 300)
    fig = go.Figure(go.Scatter(x=_r(r, 3), y=_r(chi_pdf(r, d)), fill="tozeroy",
                               line=dict(color=REAL), name=labels["random"]))
    fig.add_vline(x=norm, line=dict(color=FAKE, width=3),
                  annotation_text=labels["this"], annotation_position="top")
    fig.update_layout(height=160, margin=dict(l=10, r=10, t=20, b=30), showlegend=False,
                      xaxis_title=labels["x"], yaxis=dict(visible=False))
    return fig


# ---------------------------------------------------------------------------------------------
# DCGAN training
# ---------------------------------------------------------------------------------------------

def training_figure(metrics: list[dict], quality: list[dict], labels: dict,
                    with_quality: bool = False) -> go.Figure:
    """Losses, D's mean scores and (when measured, or `with_quality` for a run that will
    measure it) SWD against held-out images, by step. Long runs are thinned to HISTORY_POINTS
    points per curve. The traces come in TRAINING_TRACES order, so a page can add points."""
    panels = 4 if quality or with_quality else 2
    fig = make_subplots(rows=1, cols=panels, horizontal_spacing=0.06,
                        subplot_titles=[labels["losses"], labels["scores"],
                                        labels["quality"], labels["fidelity"]][:panels])
    rows = metrics[::max(1, len(metrics) // HISTORY_POINTS)]
    steps = [r["step"] for r in rows]
    style = {"g_loss": (FAKE, 1), "d_loss": (DISC, 1), "d_real": (REAL, 2), "d_fake": (FAKE, 2)}
    for key in TRAINING_TRACES[:4]:
        colour, col = style[key]
        fig.add_trace(go.Scatter(x=steps, y=_r([r[key] for r in rows]), name=labels[key],
                                 line=dict(color=colour, width=1.5), mode="lines"),
                      row=1, col=col)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    if panels > 2:
        q_steps = [r["step"] for r in quality]
        fig.add_trace(go.Scatter(x=q_steps, y=_r([r["swd"] for r in quality]),
                                 name=labels["swd"], mode="lines+markers",
                                 line=dict(color="#9467bd")), row=1, col=3)
        # What two real samples score: the best a GAN can reach.
        fig.add_trace(go.Scatter(x=q_steps, y=_r([r.get("real_swd") for r in quality]),
                                 name=labels["floor"], mode="lines",
                                 line=dict(color=OPTIMAL, dash="dash")), row=1, col=3)
        # "lower is better" on the axis: in the title it would not fit a third of the width
        fig.update_yaxes(title_text=labels["lower_better"], title_standoff=4, row=1, col=3)
        # Precision: are the faces real-looking? Recall: is every kind of face made? Each
        # beside two real samples' value (dotted), the most a GAN can reach on this ruler.
        for key, colour in (("precision", REAL), ("recall", FAKE)):
            fig.add_trace(go.Scatter(x=q_steps, y=_r([r.get(key) for r in quality]),
                                     name=labels[key], mode="lines+markers",
                                     line=dict(color=colour)), row=1, col=4)
        for key, colour in (("precision_real", REAL), ("recall_real", FAKE)):
            fig.add_trace(go.Scatter(x=q_steps, y=_r([r.get(key) for r in quality]),
                                     name=labels["floor"], mode="lines", showlegend=False,
                                     line=dict(color=colour, dash="dot")), row=1, col=4)
        fig.update_yaxes(range=[0, 1], title_text=labels["higher_better"], title_standoff=4,
                         row=1, col=4)
    fig.update_xaxes(title_text=labels["step"])
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25), uirevision="training")
    return fig
