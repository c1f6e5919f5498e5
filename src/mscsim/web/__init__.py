"""The web service: the page and a JSON API over mscsim (``mscsim serve``).

Needs the ``web`` extra (FastAPI, uvicorn, plotly). Build the application with
:func:`mscsim.web.app.create_app`.
"""
