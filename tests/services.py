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
