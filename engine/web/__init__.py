"""The editor review web app: FastAPI views over the Store, Jinja2 templates (autoescaped),
server-drawn SVG charts, signed-cookie sessions and CSRF tokens. ``create_app`` builds it;
``noisecast serve`` runs it (``noisecast.engine.cli.web``)."""

from noisecast.engine.web.app import create_app

__all__ = ["create_app"]
