"""Framework glue: ``drf`` (Django REST framework), ``asgi`` (Starlette/FastAPI), ``httpx``."""
