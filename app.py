"""GAN Studio: `streamlit run app.py`. The sidebar's language switch, then the pages.

This file is read twice. The server imports it as a module and finds `app`, an st.App
(`streamlit run` looks for one), which mounts the avatar API when GAN_STUDIO_API=1. Each
browser session then runs it as its script (`__main__`), which draws the pages.
"""

from pathlib import Path

import streamlit as st

from gan_core import system
from pages import ui


def main():
    system.limit_malloc_arenas()   # first, before Streamlit's page threads multiply (see there)
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


if __name__ == "__main__":          # a session's script run
    main()
else:                               # the server, importing this file for its st.App
    from gan_core import settings

    config, routes = settings.Settings.from_env(), []
    if config.api:                  # imported only then: the API loads Keras
        from gan_core import api

        routes = api.routes(api.AvatarService(runs=config.runs), config.api_token,
                            config.api_rate_limit)
    app = st.App(__file__, routes=routes)
