import pytest
from django.utils import timezone

from iam.accounts.models import User
from iam.accounts.serializers import UserSerializer, user_data


@pytest.mark.django_db
@pytest.mark.parametrize("last_login", [None, timezone.now()])
def test_fast_rendering_matches_the_schema_serializer(last_login):
    user = User.objects.create_user(email="s@example.com", username="s", last_login=last_login)
    user.refresh_from_db()
    assert user_data(user) == UserSerializer(user).data
