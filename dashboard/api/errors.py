"""API errors: what DRF does not map itself becomes a 4xx with a message, never a 500."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, ProtectedError):
        names = ", ".join(sorted({type(obj).__name__.lower() for obj in exc.protected_objects}))
        return Response({"detail": f"It is still used by: {names}."}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        return Response({"detail": "It conflicts with an existing record."}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, except that a document nested deeper than Python's recursion limit
    (``[[[[...``) is a 400 like any other malformed JSON: DRF only catches ``ValueError``."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None

