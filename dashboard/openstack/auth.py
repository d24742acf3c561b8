"""``X-Auth-Token``: the header every OpenStack client sends, carrying a dashboard API token."""
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class XAuthTokenAuthentication(TokenAuthentication):
    """A dashboard API token in ``X-Auth-Token`` (as with ``openstack --os-auth-type admin_token``)."""

    def authenticate(self, request):
        key = request.META.get("HTTP_X_AUTH_TOKEN", "").strip()
        if not key:
            return None
        try:
            return self.authenticate_credentials(key)
        except AuthenticationFailed:
            raise AuthenticationFailed("The request you have made requires authentication.") from None

    def authenticate_header(self, request):
        return 'Keystone uri="local"'
