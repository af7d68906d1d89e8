"""``django.contrib.admin`` whose default site asks staff with MFA on for their second factor."""

from django.contrib.admin.apps import AdminConfig


class IAMAdminConfig(AdminConfig):
    default_site = "iam.mfa.admin_site.IAMAdminSite"
