"""gan_core: everything GAN Studio computes, for the pages, the CLI and the tests alike.

It never imports streamlit. Start with toy.py (the 1-D GAN) and figures.py (data -> figures).
"""
