"""``genoface serve``: a local web application over the use cases (:mod:`genoface.usecases.viewer`)
that shows a genome's predicted face in three.js, its traits and the cohort's faces ranked for it.

The pages and the bundled three.js code lie in ``static/`` (built from ``web/`` by ``make web``
and shipped in the package, so running the server needs no Node). It binds to 127.0.0.1 unless
told otherwise, and then only with a token.
"""

from genoface.server._app import STATIC, GenomeRequest, ServerSettings, create_app
from genoface.server._serve import check_binding, is_loopback, serve

__all__ = ["STATIC", "GenomeRequest", "ServerSettings", "check_binding", "create_app", "is_loopback", "serve"]
