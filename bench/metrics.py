"""How long a Prometheus scrape of ``/metrics`` takes, on bench/pages.py's two datasets.

The datasets are bench/pages.py's (built the same way, in a throwaway SQLite database):
**small** (10 providers, 100 servers, 10 runs) and **large** (1,000 providers in 100 clouds,
10,000 servers, 1,000 runs with their steps). For each, ``/metrics`` is requested with Django's
test ``Client`` in this process, production settings (DEBUG off, a token as Prometheus would send
it), a few warm-up requests and then ``--requests`` timed ones: the whole exposition, and one
cloud's (``?cloud=bench-0``, 10 providers). It prints the median and p95 in ms, the queries per
scrape, and the size of the document.

Reproduce from the repository root::

    .venv/bin/python bench/metrics.py [--requests 15]
"""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages  # noqa: E402  (bench/pages.py: its datasets and its Django set-up)

URLS = ["/metrics", "/metrics?cloud=bench-0"]


def measure(client, url, requests):
    figures, response = pages.timed(client, url, requests)
    return {**figures, "lines": response.content.count(b"\n")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=15, help="timed scrapes per URL and size (default 15)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    try:
        pages.setup_django(tmp)
        from django.contrib.auth.models import User
        from django.test import Client
        from rest_framework.authtoken.models import Token

        for name, size in pages.SIZES.items():
            counts = pages.build(size)
            print(f"{name}: {counts['providers']} providers, {counts['servers']} servers, "
                  f"{counts['allocations']} allocations, {counts['runs']} runs, {counts['steps']} steps")
            token = Token.objects.create(user=User.objects.create_user("prometheus"))
            client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token.key}")
            for url in URLS:
                r = measure(client, url, args.requests)
                print(f"  {url:24} median {r['median']:7.1f} ms   p95 {r['p95']:7.1f} ms   {r['queries']:2} queries"
                      f"   {r['lines']:6} lines   {r['bytes'] / 1024:7.1f} KiB")
            pages.wipe()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
