"""WSGI entry point: ``gunicorn --chdir bench/stock stock_wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stock_settings")

application = get_wsgi_application()
