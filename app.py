"""GAN Studio: `streamlit run app.py`. The sidebar's language switch, then the pages."""

from pathlib import Path

import streamlit as st

from gan_core import system

system.start_up()               # before anything imports TensorFlow or Keras (see there)
system.limit_malloc_arenas()    # first, before Streamlit's page threads multiply (see there)

from pages import ui  # noqa: E402

# A local icon: a :material/...: one is fetched from the internet, and the app is offline.
st.set_page_config(page_title="GAN Studio", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"), layout="wide")
ui.language_picker()

# URL paths use hyphens on purpose. Streamlit 1.67 routes the first run after a server start
# through its legacy pages/ router, which would run pages/toy_gan.py on its own for a
# /toy_gan link; a hyphenated path is unknown to that router and always reaches app.py.
page = st.navigation([
    st.Page("pages/home.py", title=ui.t("nav.home"), icon=":material/home:", default=True),
    st.Page("pages/toy_gan.py", title=ui.t("nav.toy"), icon=":material/show_chart:", url_path="toy-gan"),
    st.Page("pages/dcgan_training.py", title=ui.t("nav.dcgan"), icon=":material/model_training:",
            url_path="dcgan-training"),
    st.Page("pages/latent_explorer.py", title=ui.t("nav.explorer"), icon=":material/tune:",
            url_path="latent-explorer"),
])
ui.run_guarded(page)
