from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "iam.accounts"
    label = "iam_accounts"
    verbose_name = "Accounts"
