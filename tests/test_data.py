"""Loading images: formats, bad files, the decode cache, zip safety."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan_core import data


def png(size=(80, 60), colour=(200, 30, 30), mode="RGB", fmt="PNG"):
    buffer = io.BytesIO()
    img = Image.new("RGB", size, colour).convert(mode)
    img.save(buffer, format=fmt)
    return buffer.getvalue()


def good_files():
    jpeg = png(fmt="JPEG")
    return {"a.png": png(), "sub/b.jpg": jpeg, "sub/deeper/c.webp": png(fmt="WEBP"),
            "d.bmp": png(mode="L", fmt="BMP"), "e.gif": png(mode="P", fmt="GIF"),
            "f.png": png((64, 64), mode="RGBA")}


def bad_files():
    return {"empty.jpg": b"", "truncated.jpg": png((300, 300), fmt="JPEG")[:400],
            "notes.txt": b"not an image", "fake.png": b"\x89PNG\r\n\x1a\n garbage"}


def make_folder(root, files):
    for name, raw in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return root


def test_folder_with_good_and_bad_files(tmp_path):
    root = make_folder(tmp_path / "imgs", {**good_files(), **bad_files()})
    loaded = data.load(root, cache_dir=tmp_path / "cache")
    assert loaded.images.shape == (6, 64, 64, 3) and loaded.images.dtype == np.uint8
    assert sorted(name for name, _ in loaded.skipped) == sorted(bad_files())
    reasons = dict(loaded.skipped)
    assert reasons["empty.jpg"] == "empty file"
    assert "not an image" in reasons["notes.txt"]
    # colour survives: the red PNG stays red after crop and resize
    assert tuple(np.asarray(loaded.images[0]).reshape(-1, 3).mean(0).round()) == (200, 30, 30)


def test_second_load_comes_from_the_cache_and_tracks_changes(tmp_path):
    root = make_folder(tmp_path / "imgs", good_files())
    first = data.load(root, cache_dir=tmp_path / "cache")
    second = data.load(root, cache_dir=tmp_path / "cache")
    assert not first.cached and second.cached
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)
    (root / "g.png").write_bytes(png(colour=(0, 0, 255)))
    third = data.load(root, cache_dir=tmp_path / "cache")
    assert not third.cached and len(third) == 7


def test_center_crop(tmp_path):
    img = Image.new("RGB", (300, 100), (0, 0, 255))
    img.paste((0, 255, 0), (100, 0, 200, 100))       # the middle third is green
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    out = data.decode(buffer.getvalue())
    assert out.shape == (64, 64, 3)
    assert out[:, 2:-2].reshape(-1, 3).mean(0)[1] > 250


def test_decompression_bomb_and_huge_images_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_PIXELS", 100 * 100)
    root = make_folder(tmp_path / "imgs", {"ok.png": png((50, 50)), "big.png": png((400, 400))})
    loaded = data.load(root, cache_dir=tmp_path / "cache")
    assert len(loaded) == 1 and loaded.skipped[0][0] == "big.png"
    assert "too large" in loaded.skipped[0][1]


def test_empty_and_all_bad_sources_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files"):
        data.load(tmp_path / "empty", cache_dir=tmp_path / "cache")
    root = make_folder(tmp_path / "bad", bad_files())
    with pytest.raises(ValueError, match="no usable images"):
        data.load(root, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError):
        data.load(tmp_path / "missing", cache_dir=tmp_path / "cache")


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in files.items():
            zf.writestr(name, raw)
    return path


def test_zip_archive(tmp_path):
    archive = make_zip(tmp_path / "faces.zip", {**good_files(), "broken.jpg": b""})
    loaded = data.load(archive, cache_dir=tmp_path / "cache")
    assert len(loaded) == 6 and loaded.skipped == [("broken.jpg", "empty file")]


@pytest.mark.parametrize("name", ["../escape.png", "/etc/evil.png", "a/../../b.png",
                                  "C:/windows.png"])
def test_zip_slip_is_refused(tmp_path, name):
    archive = make_zip(tmp_path / "evil.zip", {"fine.png": png(), name: png()})
    with pytest.raises(ValueError, match="escape"):
        data.load(archive, cache_dir=tmp_path / "cache")


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_UNPACKED_BYTES", 10_000)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\0" * 1_000_000)
    with pytest.raises(ValueError, match="unpack past"):
        data.load(tmp_path / "bomb.zip", cache_dir=tmp_path / "cache")


def test_kaggle_without_network_says_how_to_get_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "kagglehub", None)     # not installed
    with pytest.raises(ValueError, match="by hand"):
        data.load("kaggle", cache_dir=tmp_path)


def test_builtin_source():
    loaded = data.load("builtin:10", seed=2)
    assert loaded.images.shape == (10, 64, 64, 3) and "built-in" in loaded.name


def test_split_is_fixed_and_disjoint():
    train, held = data.split(100, 10, seed=1)
    assert len(train) == 90 and len(held) == 10 and not set(train) & set(held)
    np.testing.assert_array_equal(held, data.split(100, 10, seed=1)[1])


def test_atomic_writes_leave_the_old_file_or_the_new_one_and_no_temp(tmp_path):
    from gan_core import files

    target = tmp_path / "deep" / "model.keras"
    files.write_bytes(target, b"first")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            assert tmp.endswith(".keras") and tmp != str(target)   # writers check suffixes
            open(tmp, "wb").write(b"half a")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"first"
    files.write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["model.keras"]
