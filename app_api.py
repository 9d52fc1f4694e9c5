"""The app and the avatar API on one port: `GAN_STUDIO_API=1 streamlit run app_api.py`.

`streamlit run` finds `app`, an st.App, and serves app.py's pages through it with the API's
routes (/api/v1/...) beside them. This is its own entry file because Streamlit picks its
server from the script it is given: an st.App runs on Streamlit's ASGI server, which here
costs a slider move about 20 ms more than the default one (docs/PERFORMANCE.md). So
`streamlit run app.py`, the classroom's command, never exposes the API and keeps the faster
server; GAN_STUDIO_API=1 must also be set, so the API is never served by accident.
"""

import streamlit as st

from gan_core import system

system.start_up()               # before the API imports TensorFlow and Keras

from gan_core import api, settings  # noqa: E402

config = settings.Settings.from_env()
if not config.api:
    raise SystemExit("app_api.py serves the avatar API beside the app: set GAN_STUDIO_API=1 "
                     "(or run `streamlit run app.py` for the app alone)")
app = st.App("app.py", routes=api.routes(api.AvatarService(runs=config.runs), config.api_token,
                                         config.api_rate_limit))
