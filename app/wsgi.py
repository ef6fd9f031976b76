"""WSGI entry point for gunicorn: `app.wsgi:application`."""

from app.web import create_app

application = create_app()
