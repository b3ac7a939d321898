from tests.fixtures.http_checks import prometheus, web_app

__all__ = ["prometheus", "web_app"]
