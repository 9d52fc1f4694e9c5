"""GAN Studio: `streamlit run app.py`. The sidebar's language switch, then the pages."""

import streamlit as st

from pages import ui

st.set_page_config(page_title="GAN Studio", page_icon=":material/palette:", layout="wide")
ui.language_picker()

# URL paths are the file names (/toy_gan, ...), the same as Streamlit's legacy pages/ router
# would give them: see pages/ui.py for why that matters on the first request after a start.
page = st.navigation([
    st.Page("pages/home.py", title=ui.t("nav.home"), icon=":material/home:", default=True),
    st.Page("pages/toy_gan.py", title=ui.t("nav.toy"), icon=":material/show_chart:"),
    st.Page("pages/dcgan_training.py", title=ui.t("nav.dcgan"), icon=":material/model_training:"),
    st.Page("pages/latent_explorer.py", title=ui.t("nav.explorer"), icon=":material/tune:"),
])
ui.run_guarded(page)
