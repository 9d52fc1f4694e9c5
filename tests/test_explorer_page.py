"""The latent explorer page through Streamlit's AppTest: sliders, undo/redo, the URL, the exercises,
player ids and favourites. Uses the shipped generator."""

import numpy as np
import pytest

from gan_core import latent, noise, project, settings
from test_pages import open_app

if not settings.SHIPPED_GENERATOR.exists():
    pytest.skip("assets/generator/generator.keras is missing", allow_module_level=True)


def explorer(**query):
    at = open_app("pages/latent_explorer.py", **query)
    assert not at.exception, at.exception
    return at


def face(at):
    return at.session_state["explorer"].face


def test_a_slider_edits_z_and_the_url_and_undo_redo_walk_back():
    at = explorer()
    assert at.slider(key="z_3").value == pytest.approx(noise.for_seed(0, 100)[3], abs=0.005)
    at.slider(key="z_3").set_value(2.5).run()
    assert dict(face(at).edits) == {3: 2.5}
    assert at.query_params["z"] == "3:2.5" and at.query_params["seed"] == "0"
    at.slider(key="z_4").set_value(-1.0).run()
    assert dict(face(at).edits) == {3: 2.5, 4: -1.0}
    at.button(key="explorer_undo").click().run()
    assert dict(face(at).edits) == {3: 2.5}
    at.button(key="explorer_redo").click().run()
    assert dict(face(at).edits) == {3: 2.5, 4: -1.0}
    at.button(key="explorer_reset").click().run()
    assert face(at).edits == () and not at.exception


def test_a_link_reproduces_the_face_and_a_bad_link_is_a_warning():
    at = explorer(seed="7", z="3:1.5,10:-2", d="0:1.5", m="sefa")
    assert face(at).seed == 7 and dict(face(at).edits) == {3: 1.5, 10: -2.0}
    assert dict(face(at).strengths) == {0: 1.5}
    at = explorer(seed="7", z="3:oops")
    assert len(at.warning) == 1 and face(at) == latent.Face()    # a random face, no crash


def test_directions_and_typical_length():
    at = explorer()
    at.session_state["explorer_view"] = "directions"
    at.run()
    at.slider(key="dir_0").set_value(2.0).run()
    assert dict(face(at).strengths) == {0: 2.0}
    at.button(key="explorer_snap").click().run()
    state = at.session_state["explorer"]
    z = face(at).z(100, [])
    assert np.linalg.norm(z) == pytest.approx(latent.chi_mean(100), abs=0.1)
    assert face(at).strengths == () and state.undo


def test_exercises_run_and_bad_code_says_why():
    at = explorer()
    at.button(key="exercise_run").click().run()
    zs, name = at.session_state["exercise_result"]
    assert name == "exercise1" and zs.shape == (8, 100) and (zs[3] == np.float32(0.4)).all()
    at.text_area(key="exercise_code").set_value("import os").run()
    at.button(key="exercise_run").click().run()
    assert not at.exception and "Import" in at.error[0].value


def test_player_ids_and_favourites():
    at = explorer()
    # One tool at a time below the face: the course's exercises first.
    assert "player_id" not in [w.key for w in at.text_input]
    at.session_state["explorer_tool"] = "player_ids"
    at.run()
    at.text_input(key="player_id").set_value("player-42").run()
    ns = noise.namespace(settings.SHIPPED_GENERATOR)
    at.button(key="player_use").click().run()
    z = face(at).z(100, [])
    np.testing.assert_allclose(z, noise.for_id("player-42", 100, ns), atol=0.006)
    at.button(key="explorer_fav").click().run()
    favourites = at.session_state["explorer"].favourites
    assert len(favourites) == 1
    np.testing.assert_allclose(favourites[0][1], z, atol=1e-6)
    assert not at.exception


def test_start_from_a_picture_projects_it_and_the_sliders_take_it_up(monkeypatch):
    # the server's setting (a tenth of the default steps: the page is tested, not the search)
    monkeypatch.setenv("GAN_STUDIO_PROJECT_STEPS", "20")
    steps, search = [], project.project
    monkeypatch.setattr(project, "project", lambda *a, **k: steps.append(a[2]) or search(*a, **k))
    at = explorer()
    at.session_state["explorer_tool"] = "picture"
    at.run()
    at.radio(key="pic_source").set_value("generated").run()
    at.number_input(key="pic_seed").set_value(11).run()
    assert not at.exception and not at.session_state["explorer"].undo
    at.button(key="pic_go").click().run()
    assert not at.exception, at.exception
    _, result, name = at.session_state["pic_result"]
    assert name == "seed 11" and result.lpips < 0.1 and steps == [20]
    z = face(at).z(100, [])
    np.testing.assert_allclose(z, result.z, atol=0.0051)   # the sliders (to 0.01) edit it now
    assert at.slider(key="z_0").value == pytest.approx(float(result.z[0]), abs=0.005)
    assert any("LPIPS" in m.value for m in at.markdown)
    at.button(key="pic_keep").click().run()
    assert at.session_state["explorer"].favourites[-1][0] == "seed 11"


def test_truncation_scales_the_seeds_z_keeps_edits_and_travels_in_the_link():
    at = explorer(seed="4")
    at.slider(key="z_2").set_value(3.0).run()
    at.slider(key="explorer_psi").set_value(0.5).run()
    z = face(at).z(100, [])
    expected = noise.for_seed(4, 100) * 0.5
    expected[2] = 3.0                                   # an edit is absolute: kept
    np.testing.assert_allclose(z, expected, atol=1e-6)
    assert at.query_params["t"] == "0.5"
    at = explorer(seed="4", t="0.5")
    np.testing.assert_allclose(face(at).z(100, []), noise.for_seed(4, 100) * 0.5, atol=1e-6)
    at = explorer(seed="4", t="7")
    assert len(at.warning) == 1 and face(at).psi == 1.0
