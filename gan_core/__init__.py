"""gan_core: everything GAN Studio computes, for the pages, the CLI and the tests alike.

It never imports streamlit. Start with toy.py (the 1-D GAN) and figures.py (data -> figures).
"""

import os

# TensorFlow prints pages of C++ start-up logs on import; keep warnings and errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
