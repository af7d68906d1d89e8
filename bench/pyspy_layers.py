"""Where a request's time goes, from py-spy samples recorded from outside a plain in-process run:
ms per request by layer (``inprocess.py``'s layers), scaled so that the RS256 signatures cost
what one costs on this machine (measured here; ``inprocess.scaled_by_signature``).

For a process that ``inprocess.py --profile py-spy`` slows many times over (the sampler runs as
its child and pauses it for each sample), and on a machine whose speed drifts::

    .venv/bin/python bench/inprocess.py --op refresh --target iam -n 60000 --reuse-db &
    sleep 10; py-spy record --pid $! --rate 500 --format raw --full-filenames --duration 25 \\
        --output bench/var/iam.txt; kill $!
    .venv/bin/python bench/pyspy_layers.py bench/var/iam.txt --signatures 1

``--signatures``: RS256 signatures per request (1 for the IAM's, the floor's and the framework
floor's refresh and login; 2 for stock SimpleJWT's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inprocess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--signatures", type=int, default=1)
    args = parser.parse_args()
    per_layer, per_function = inprocess.pyspy_attribution(
        args.samples.read_text().splitlines(), mark="Wsgi.call"
    )
    result = inprocess.layers_by_signature(per_layer, per_function, args.signatures)
    layers = result["layers_ms_per_request_by_signature"]
    result = {
        "samples": sum(per_layer.values()),
        "total_ms_per_request": round(sum(layers.values()), 3),
        **result,
    }
    print(json.dumps(result, indent=2))
    return 0 if layers else 1


if __name__ == "__main__":
    sys.exit(main())
