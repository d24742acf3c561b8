"""Real Placement 16.0 on a local port, to compare the dashboard's Placement API with it.

Runs with the interpreter of the Nova virtualenv (see conformance/README.md); it imports nothing
from this project. Placement's own functional-test fixture supplies the configuration and an
in-memory database; authentication is Placement's ``noauth2`` (any ``X-Auth-Token``; the token
``admin`` has the admin role). The application is mounted under PREFIX, as a deployment mounts it
under ``/placement``, so that its links carry the prefix.

    python conformance/placement_server.py PREFIX

Prints ``listening PORT`` once it answers on 127.0.0.1:PORT (a free port), then serves until
killed. Requests are not logged.
"""
import sys
import wsgiref.simple_server

from placement import deploy
from placement.tests.functional.fixtures.placement import PlacementFixture


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def mounted(application, prefix):
    """The application with PATH_INFO under ``prefix`` moved to SCRIPT_NAME."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(prefix):
            environ["SCRIPT_NAME"], environ["PATH_INFO"] = prefix, path[len(prefix):]
        return application(environ, start_response)

    return app


def main(prefix):
    fixture = PlacementFixture(use_intercept=False)
    fixture.setUp()
    application = deploy.loadapp(fixture.conf_fixture.conf)
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, mounted(application, prefix.rstrip("/")), handler_class=QuietHandler
    )
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
