"""Figures are valid plotly figures, and the browser's frame patches fit the base figure."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from gan_core import figures, i18n, toy


@pytest.fixture(params=["en", "id"])
def labels(request):
    return i18n.section("toy.fig.", request.param) | {"mark_best": "kept"}


def test_toy_figure_is_a_valid_plotly_figure_at_any_step(labels):
    run = toy.ToyRun(toy.PRESETS["course"])
    run.advance(20)
    for step in (0, 7, 20):
        fig = go.Figure(figures.toy_figure(run, step, labels))  # validates every property
        view = run.view(step)
        assert fig.layout.title.text == figures.toy_title(run, view, labels, "en")
        assert fig.layout.title.text.startswith(labels["title_at"].split("{")[0] + str(step))
        names = [trace.name for trace in fig.data]
        assert names[figures.T_HIST_FAKE] == labels["generated"]
        assert names[figures.T_D] == labels["d_curve"] and names[figures.T_W2] == labels["w2"]
        # time series hold exactly the steps so far
        assert len(fig.data[figures.T_G_LOSS].x) == step


def test_course_marks_the_kept_step(labels):
    run = toy.ToyRun(toy.PRESETS["course"])
    run.advance(20)
    layout = figures.toy_figure(run, 20, labels)["layout"]
    marks = [s for s in layout["shapes"] if s.get("line", {}).get("color") == "red"]
    assert len(marks) == 3 and all(s["x0"] == run.best_step() for s in marks)
    unmarked = figures.toy_figure(run, 20, {k: v for k, v in labels.items() if k != "mark_best"})
    assert not [s for s in unmarked["layout"]["shapes"] if s["line"].get("color") == "red"]


def test_chunk_frames_replay_what_the_base_figure_would_show(labels):
    run = toy.ToyRun(toy.PRESETS["default"])
    run.advance(30)
    chunk = figures.toy_chunk(run, 10, [15, 20, 25, 30], labels, "c1")
    json.dumps(chunk)  # the component receives it as JSON
    assert chunk["id"] == "c1" and len(chunk["frames"]) == 4
    last = chunk["frames"][-1]
    x_range = run.x_range([10, 15, 20, 25, 30])
    direct = figures.toy_figure(run, 30, labels, x_range)
    assert last["set"][figures.T_HIST_FAKE]["y"] == direct["data"][figures.T_HIST_FAKE]["y"]
    assert last["set"][figures.T_D]["y"] == direct["data"][figures.T_D]["y"]
    assert last["extend"][figures.T_G_LOSS][0] == 30
    assert last["extend"][figures.T_G_LOSS][1] == direct["data"][figures.T_G_LOSS]["y"][-1]


def test_long_histories_are_thinned_for_the_browser(labels):
    run = toy.ToyRun(toy.PRESETS["default"])
    run.advance(2000)
    fig = figures.toy_figure(run, 2000, labels)
    assert len(fig["data"][figures.T_KL]["x"]) <= figures.HISTORY_POINTS
    assert fig["data"][figures.T_KL]["x"][-1] == 2000


def test_each_panel_has_its_own_legend_and_axis_titles(labels):
    run = toy.ToyRun(toy.PRESETS["default"])
    run.advance(50)
    fig = figures.toy_figure(run, 50, labels)
    legend_of = {trace["name"]: trace["legend"] for trace in fig["data"]}
    # one colour (orange) means G in three panels: each sits in its own panel's legend
    assert legend_of[labels["generated"]] == legend_of[labels["d_curve"]] == "legend"
    assert legend_of[labels["wb_path"]] == "legend2" and legend_of[labels["g_loss"]] == "legend3"
    assert legend_of[labels["d_fake"]] == "legend4" and legend_of[labels["kl"]] == "legend5"
    assert all(f"legend{i}" in fig["layout"] for i in ("", 2, 3, 4, 5))
    go.Figure(fig)                                   # plotly accepts every legend property
    assert fig["layout"]["yaxis3"]["title"]["text"] == "b"   # the (w, b) plane's y axis


def test_the_losses_chart_shows_the_equilibrium_not_the_early_spike(labels):
    run = toy.ToyRun(toy.PRESETS["default"])          # G's loss spikes past 100 early on
    run.advance(1000)
    fig = figures.toy_figure(run, 1000, labels)
    g_loss = [y for y in fig["data"][figures.T_G_LOSS]["y"] if y is not None]
    assert max(g_loss) > 100
    low, high = fig["layout"]["yaxis4"]["range"]
    assert low <= 0.69 < high < 20                    # ln 2 is readable, the spike is cut
    note = [a for a in fig["layout"]["annotations"] if a["yref"] == "y4 domain"]
    assert len(note) == 1 and note[0]["xref"] == "x3 domain"
    assert str(round(max(g_loss))) in note[0]["text"].replace(",", "").replace(".", "")
    early = figures.toy_figure(run, 10, labels)       # nothing to cut yet: autorange
    assert "range" not in early["layout"]["yaxis4"]


def test_a_new_run_gets_fresh_axes_and_the_course_note_never_widens_them(labels):
    first, second = toy.ToyRun(toy.PRESETS["course"]), toy.ToyRun(toy.PRESETS["course"])
    first.advance(20)
    a, b = figures.toy_figure(first, 20, labels), figures.toy_figure(second, 0, labels)
    assert a["layout"]["uirevision"] != b["layout"]["uirevision"]
    # an empty chart gets explicit axes, so plotly cannot keep the last run's
    assert all(b["layout"][f"xaxis{i}"]["range"] == [0, 1] for i in (3, 4, 5))
    note = [n for n in a["layout"]["annotations"] if n["text"].endswith(f"({first.best_step()})")]
    assert len(note) == 1 and note[0]["xref"].endswith(" domain")


def test_the_title_carries_the_frame_s_own_numbers_in_the_page_s_language():
    run = toy.ToyRun(toy.PRESETS["default"])
    run.advance(1200)
    labels = i18n.section("toy.fig.", "id")
    chunk = figures.toy_chunk(run, 1000, [1100, 1200], labels, "c", "id")
    assert chunk["base"]["layout"]["title"]["text"].startswith("Langkah 1.000 ·")
    mean = run.view(1100)["gen_mean"]
    assert f"N({round(mean, 2)}".replace(".", ",") in chunk["frames"][0]["title"]
    assert chunk["frames"][1]["title"].startswith("Langkah 1.200 ·")


def test_warmup_figure_shows_both_samples():
    x, x_hat = toy.implicit_model(n=1000)
    fig = figures.warmup_figure(x, x_hat, i18n.section("toy.fig.", "en"))
    assert len(fig.data) == 2 and len(fig.data[1].x) == 1000


def test_labelled_grid_writes_each_label_under_its_image():
    from gan_core import images

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    out = images.labelled_grid(faces, ["0.10", "0.10", "0.99"], cols=3, scale=2)
    pad, cell_w, cell_h = 4, 16, 16 + 24
    assert out.shape == (pad + cell_h + pad, pad + 3 * (cell_w + pad), 3)
    cells = [out[pad:pad + cell_h, pad + i * (cell_w + pad):pad + i * (cell_w + pad) + cell_w]
             for i in range(3)]
    for face, cell in zip(faces, cells):   # each face, enlarged without smoothing
        assert np.array_equal(cell[:16], face.repeat(2, axis=0).repeat(2, axis=1))
    strips = [cell[16:] for cell in cells]
    assert all((s < 200).any() for s in strips)           # some dark text in each
    assert np.array_equal(strips[0], strips[1]) and not np.array_equal(strips[0], strips[2])


@pytest.mark.parametrize("shape,scale", [((64, 64, 3), 1), ((7, 5, 3), 3), ((1, 1, 3), 8)])
def test_png_bytes_decode_to_the_same_pixels_and_text(shape, scale):
    import io

    from PIL import Image

    from gan_core import images

    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    text = {"z": "[0.5, -1.25]", "note": "wajah ñ"}    # not only ASCII
    picture = Image.open(io.BytesIO(images.png_bytes(image, scale=scale, text=text)))
    picture.load()                                       # Pillow checks every chunk's CRC
    assert picture.mode == "RGB" and picture.text == text
    assert np.array_equal(np.asarray(picture), image.repeat(scale, 0).repeat(scale, 1))


def test_rounding_for_the_browser_is_the_decimal_rule_on_whole_arrays():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(20_000) * 10.0 ** rng.integers(-8, 9, 20_000),
                             np.round(rng.standard_normal(2_000), 3),   # ties for 2 digits
                             [0.0, -0.0, 0.5, 2.5, 9.9995, 0.99995, 12345.5, 1e-320, 5e-324,
                              1e308, -1.7e308, np.nan, np.inf, -np.inf]])
    for digits in (2, 3, 4):
        expected = [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in values]
        assert figures._r(values, digits) == expected
    assert figures._r(np.ones((3, 2)), 2) == [1.0] * 6
