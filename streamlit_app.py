"""Entry point for `streamlit run streamlit_app.py` and Streamlit Community Cloud."""

from dashboard.app import main

main()
