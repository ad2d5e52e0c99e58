"""kseg's Streamlit dashboard: widgets -> cached calls into `core` -> views."""
