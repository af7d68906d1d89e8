"""``gunicorn examples.migrating.before.wsgi`` (from the repository root)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.migrating.before.settings")
application = get_wsgi_application()
