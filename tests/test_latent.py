"""The latent explorer's computations: typicality, directions, moves, files, and the
safe loading of model files."""

import json
import zipfile

import keras
import numpy as np
import pytest

from gan_core import dcgan, generate, latent, noise, presets


@pytest.fixture(scope="module")
def gen():
    return generate.Generator(dcgan.build(presets.preset("dcgan", latent_dim=100))[0])


# --- Typicality -------------------------------------------------------------------------------

def test_typicality_against_the_chi_distribution():
    assert latent.chi_mean(100) == pytest.approx(9.975, abs=1e-3)   # sqrt(2)Γ(50.5)/Γ(50)
    norms = np.linalg.norm(np.random.default_rng(0).standard_normal((20000, 100)), axis=1)
    for r in (9.0, 9.975, 11.0):
        assert latent.chi_cdf(r, 100) == pytest.approx((norms <= r).mean(), abs=0.01)
    ones = latent.typicality(-0.4 * np.ones(100))
    assert ones["norm"] == pytest.approx(4.0) and ones["percentile"] < 1e-6
    assert 10 < latent.typicality(noise.for_seed(3, 100))["percentile"] < 90
    snapped = latent.snap_to_typical(-0.4 * np.ones(100))
    assert np.linalg.norm(snapped) == pytest.approx(latent.chi_mean(100), rel=1e-5)
    assert (snapped < 0).all()


# --- Directions -------------------------------------------------------------------------------

def test_sefa_gives_the_first_layers_strongest_directions(gen):
    dirs = latent.sefa(gen.model, k=5)
    V = np.stack([d.vector for d in dirs])
    np.testing.assert_allclose(V @ V.T, np.eye(5), atol=1e-5)
    A = latent._first_kernel(gen.model)
    stretch = np.linalg.norm(A @ V.T, axis=0)
    assert (np.diff(stretch) <= 1e-6).all()               # strongest first
    random_dir = np.random.default_rng(0).standard_normal(100)
    assert stretch[0] > np.linalg.norm(A @ (random_dir / np.linalg.norm(random_dir)))


def test_ganspace_directions_move_the_activation_along_its_principal_axes(gen):
    dirs = latent.ganspace(gen, k=4, n=300, seed=1)
    assert len(dirs) == 4 and dirs[0].name == "GANSpace 1"
    for d in dirs:
        assert d.vector.shape == (100,) and np.linalg.norm(d.vector) == pytest.approx(1, 1e-5)
    assert latent.ganspace(gen, k=4, n=300, seed=1)[0].vector == pytest.approx(dirs[0].vector)


def test_moves_contact_sheet_and_neighbours(gen):
    d = latent.sefa(gen.model, k=4)
    z = noise.for_seed(0, 100)
    np.testing.assert_allclose(latent.move(z, d[:1], [2.0]) - z, 2 * d[0].vector, atol=1e-5)
    sheet, labels = latent.contact_sheet(gen, d[:2], strengths=(-3, 0, 3), seeds=(0, 1))
    assert sheet.shape == (4 * 66 + 2, 3 * 66 + 2, 3) and len(labels) == 4
    zs, names = latent.neighbours(z, d, 0.5)
    assert zs.shape == (9, 100) and names[4] == "●"
    np.testing.assert_array_equal(zs[4], z)
    assert names[0] == "SeFa 1 -0.5σ"
    _, renamed = latent.neighbours(z, d, 1.25, names={1: "smile"}, lang="id")
    assert renamed[2:4] == ["smile -1,25σ", "smile +1,25σ"] and renamed[0] == "SeFa 1 -1,25σ"
    np.testing.assert_allclose(zs[0], z - 0.5 * d[0].vector, atol=1e-6)


def test_interpolation_ends_at_both_faces_and_slerp_keeps_the_length():
    a, b = noise.for_seed(1, 100), noise.for_seed(2, 100)
    for path in (latent.lerp(a, b, 7), latent.slerp(a, b, 7)):
        assert path.shape == (7, 100)
        np.testing.assert_allclose(path[0], a, atol=1e-5)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)
    mid_lerp = np.linalg.norm(latent.lerp(a, b, 3)[1])
    mid_slerp = np.linalg.norm(latent.slerp(a, b, 3)[1])
    assert mid_lerp < 0.8 * mid_slerp
    assert mid_slerp == pytest.approx((np.linalg.norm(a) + np.linalg.norm(b)) / 2, rel=1e-4)


# --- Files and URLs ---------------------------------------------------------------------------

def test_a_face_png_carries_its_z_and_model(gen):
    z = noise.for_seed(5, 100)
    data = latent.face_png(gen(z[None])[0], z, "gan-studio/v1/abc")
    back, model = latent.read_face_png(data)
    np.testing.assert_array_equal(back, z)
    assert model == "gan-studio/v1/abc"
    from gan_core import images
    with pytest.raises(ValueError, match="holds no z"):
        latent.read_face_png(images.png_bytes(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(ValueError, match="not a PNG"):
        latent.read_face_png(b"not an image")


def test_edits_round_trip_through_the_url():
    edits = {3: 0.5, 17: -1.25, 99: 3.0}
    assert latent.decode_edits(latent.encode_edits(edits), 100) == edits
    assert latent.decode_edits("", 100) == {}
    for bad in ("3", "a:1", "100:1", "3:nan", "-1:0"):
        with pytest.raises(ValueError):
            latent.decode_edits(bad, 100)


# --- Model files are programs -----------------------------------------------------------------

def test_a_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    z = keras.Input((100,))
    x = keras.layers.Dense(64 * 64 * 3)(z)
    x = keras.layers.Lambda(lambda t: t * 2)(x)
    out = keras.layers.Reshape((64, 64, 3))(x)
    path = tmp_path / "lambda.keras"
    keras.Model(z, out).save(path)
    with pytest.raises(ValueError, match="'Lambda'"):
        generate.load_generator(path)


def test_a_custom_activation_or_a_non_model_is_refused(tmp_path, gen):
    good = tmp_path / "good.keras"
    gen.model.save(good)
    assert generate.load_generator(good).output_shape == (None, 64, 64, 3)
    config = json.loads(zipfile.ZipFile(good).read("config.json"))
    config["config"]["layers"][-1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system"}
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, json.dumps(config) if name == "config.json" else src.read(name))
    with pytest.raises(ValueError, match="never holds"):
        generate.load_generator(bad)
    (tmp_path / "junk.keras").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a Keras model file"):
        generate.load_generator(tmp_path / "junk.keras")
