"""gunicorn hooks for the topology's IAM processes (``-c`` in harness.Iam).

``post_worker_init`` makes two Argon2id hashes in every worker before it takes a request, the
respawned ones included (test_faults kills workers). glibc serves a worker's first hash
(IAM_ARGON2_MEMORY_COST_KIB, 19 MiB) from mmap and gives it back, but raises its mmap threshold
above that size on the way; from the second hash on, the memory comes from the heap and glibc
keeps it for the next one. Left to the worker's own logins, that step lands wherever its second
login falls, inside the soak's measured half too, and reads as a leak of exactly 19 MiB. Taken
here, the soak's memory bound holds every worker to what its requests leave behind.
"""

import secrets


def post_worker_init(worker: object) -> None:  # gunicorn calls it with the worker
    from django.contrib.auth.hashers import make_password

    for _ in range(2):
        make_password(secrets.token_urlsafe(16))
