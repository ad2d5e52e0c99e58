"""The dashboard: ``streamlit run streamlit_app.py`` (and Streamlit Community Cloud).

This one file has two roles. ``streamlit run`` first reads it to find ``app``, an
``st.App``: the server, which prepares the first page before it answers anyone
(:mod:`dashboard.server`). Streamlit then runs this same file as the page, as
``__main__``, on every visit and rerun (as ``streamlit.testing.v1.AppTest`` does).
"""

import streamlit as st

if __name__ == "__main__":
    from dashboard.app import run

    run()
else:
    from dashboard.server import lifespan

    app = st.App(__file__, lifespan=lifespan)
