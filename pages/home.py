"""Home: what a GAN is, what each page does, and what this machine computes on."""

import streamlit as st

from gan_core import system
from pages import ui

t = ui.translator()


@st.cache_resource(show_spinner=False)
def device_info():
    return system.device_info()


st.title(t("home.title"))
st.markdown(f"*{t('home.tagline')}*")

st.subheader(t("home.what_header"))
st.markdown(t("home.what"))

st.subheader(t("home.pages_header"))
st.page_link("pages/toy_gan.py", label=t("nav.toy"), icon=":material/show_chart:")
st.markdown(t("home.page_toy"))
st.page_link("pages/dcgan_training.py", label=t("nav.dcgan"), icon=":material/model_training:")
st.markdown(t("home.page_dcgan"))
st.page_link("pages/latent_explorer.py", label=t("nav.explorer"), icon=":material/tune:")
st.markdown(t("home.page_explorer"))

st.subheader(t("home.hardware_header"))
try:
    with st.spinner(t("home.hardware_loading")):
        info = device_info()
    st.markdown(t("home.hardware", device=info["device"], backend=info["backend"],
                  keras=info["keras"]))
except Exception as error:  # noqa: BLE001 - a missing backend must not break the home page
    st.warning(t("home.hardware_failed", error=error))
st.caption(t("home.offline"))
