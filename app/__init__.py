"""example-app: a Flask page that shows its version, built to be released without dropping a request.

The factory is `app.web.create_app`. This package file imports nothing on purpose: gunicorn's config
imports app.timing before prometheus_client may be loaded (its multiprocess mode is chosen at import).
"""
