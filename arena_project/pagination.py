"""Pagination shared by every list endpoint (set once in REST_FRAMEWORK)."""

from rest_framework.pagination import PageNumberPagination


class ArenaPagination(PageNumberPagination):
    """Page numbers with a client-chosen page size, capped so no request can ask for everything."""

    page_size_query_param = "page_size"
    max_page_size = 500
