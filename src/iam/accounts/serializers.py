from rest_framework import serializers

from iam.accounts.models import User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "email_verified",
            "is_staff",
            "created_at",
            "last_login",
        ]
        read_only_fields = fields
