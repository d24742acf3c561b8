"""Throwaway service processes for tests: a PostgreSQL cluster on a free port."""
import contextlib
import glob
import uuid
import os
import shutil
import socket
import subprocess
import tempfile


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_binary(name):
    """``initdb``/``pg_ctl`` from PATH or Debian's versioned folder; None if absent."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def postgres_cluster():
    """A fresh PostgreSQL cluster (trust auth, loopback only); yields its URL.

    As root, the cluster runs as the ``postgres`` user, since PostgreSQL refuses root.
    """
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("PostgreSQL is not installed (initdb and pg_ctl not found)")
    data = tempfile.mkdtemp(prefix="resize-pg-")
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "check": True}
    subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"], **quiet)
    subprocess.run(
        [*as_user, pg_ctl, "-D", data, "-w", "-l", os.path.join(data, "log"),
         "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
        **quiet,
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], **quiet)
        shutil.rmtree(data, ignore_errors=True)


def create_database(server_url, prefix):
    """A new, empty database on the cluster at ``server_url``; its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url.replace("postgres://", "postgresql://"), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


# Serves openstack-placement's WSGI application with the standard library's server, one request
# at a time, logging each request line ("GET /resource_providers HTTP/1.1" 200) to stderr.
PLACEMENT_SERVER = """
import sys
from wsgiref.simple_server import make_server
from placement.wsgi.api import application
server = make_server("127.0.0.1", int(sys.argv[1]), application)
print("serving", flush=True)
server.serve_forever()
"""


class RealPlacement:
    """A running openstack-placement: its ``url``, the headers its noauth2 strategy takes, and the
    requests it served (``requests()``: [(method, path)] in order)."""

    def __init__(self, url, log):
        self.url, self.log = url, log

    def headers(self, version="1.28"):
        return {"x-auth-token": "admin", "OpenStack-API-Version": f"placement {version}"}

    def requests(self):
        served = []
        for line in self.log.read_text().splitlines():
            if '"' in line:
                method, path, *_ = line.split('"')[1].split(" ")
                served.append((method, path))
        return served


@contextlib.contextmanager
def real_placement(python, folder):
    """openstack-placement from the Nova environment (``python``), on a free port with
    ``auth_strategy = noauth2`` and a SQLite file in ``folder``: ``placement-manage db sync``, then
    its WSGI application served until the block ends. Yields a ``RealPlacement``."""
    import time
    import urllib.request
    from pathlib import Path

    folder = Path(folder)
    env = {
        **os.environ,
        "OS_PLACEMENT_DATABASE__CONNECTION": f"sqlite:///{folder / 'placement.sqlite'}",
        "OS_API__AUTH_STRATEGY": "noauth2",
    }
    manage = Path(python).parent / "placement-manage"
    subprocess.run([str(manage), "db", "sync"], env=env, check=True, capture_output=True, timeout=120)
    port, log = free_port(), folder / "placement.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [str(python), "-c", PLACEMENT_SERVER, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"placement exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("placement did not answer within 60 s") from None
                time.sleep(0.2)
        yield RealPlacement(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
