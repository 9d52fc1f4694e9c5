"""DCGAN training: the live training view comes with its own issue. For now the page shows the
built-in dataset that training starts from, and says the rest is coming."""

import streamlit as st

from gan_core import faces, images
from pages import ui


@st.cache_data(max_entries=16)
def builtin_grid(seed: int):
    imgs, labels = faces.sample(32, seed)
    first = {name: faces.FACTORS[name][labels[name][0]] for name in faces.FACTORS}
    return images.png_bytes(images.grid(imgs, 8), scale=2), first


st.title(ui.t("nav.dcgan"))
st.info(ui.t("soon.body"))

st.header(ui.t("dcgan.builtin.title"))
st.write(ui.t("dcgan.builtin.body", factors=len(faces.FACTORS),
              combinations=f"{faces.combinations():,}"))
seed = st.number_input(ui.t("dcgan.builtin.seed"), 0, 10**6, 0, key="builtin_seed")
grid, first = builtin_grid(int(seed))
st.image(grid)
with st.expander(ui.t("dcgan.builtin.factors")):
    st.table({"factor": list(first), "value": list(first.values())})
st.write(ui.t("dcgan.builtin.cli"))
st.code("python -m gan_core train --data builtin --preset dcgan --steps 700 --batch 64 "
        "--out runs/builtin", language="bash")
st.page_link("pages/toy_gan.py", label=ui.t("nav.toy"), icon=":material/show_chart:")
