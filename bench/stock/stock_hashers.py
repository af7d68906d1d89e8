"""Argon2id with the IAM's parameters instead of Django's defaults (t=2, m=100 MiB, p=8)."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class BenchArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19456  # KiB
    parallelism = 1
