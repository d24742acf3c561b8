"""Who may do what: a login for every page under production settings, and the rate limits on
starting runs and campaigns that the pages share with the REST API."""
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

# Served by views that authenticate each request themselves (API tokens, session or X-Auth-Token)
# and answer 401/403 in their own API's words rather than with the login page.
TOKEN_AUTHENTICATED = ("/api/", "/placement/", "/compute/", "/identity/", "/metrics")


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's: every view needs a login unless marked ``login_not_required`` (the login page, the
    health check) — except the APIs', which refuse an anonymous request themselves."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(TOKEN_AUTHENTICATED):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class StartThrottle(SimpleRateThrottle):
    """The REST API's rate (``API_RUN_RATE``, ``API_CAMPAIGN_RATE``) for starting from a page: the
    same cache key as the API's throttle of that scope, so both count against one budget."""

    def __init__(self, scope):
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def over_limit(request, scope):
    """None when ``request`` may start another run or campaign (``scope`` "runs" or "campaigns");
    else the 429 page, with the API's message and a Retry-After header."""
    throttle = StartThrottle(scope)
    if throttle.allow_request(request, None):
        return None
    wait = throttle.wait()
    seconds = max(1, round(wait)) if wait is not None else None
    response = render(request, "throttled.html", {"scope": scope, "seconds": seconds}, status=429)
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response
