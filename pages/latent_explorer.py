"""latent explorer: filled in by its own issue; until then it says so."""

import streamlit as st

from pages import ui

st.title(ui.t("nav.explorer"))
st.info(ui.t("soon.body"))
st.page_link("pages/toy_gan.py", label=ui.t("nav.toy"), icon=":material/show_chart:")
