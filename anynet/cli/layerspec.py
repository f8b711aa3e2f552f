"""``--layers SPEC``: the layer spec's parser lives in :mod:`anynet.api.layerspec`
(the scikit-learn estimators read the same spec); the command line's modules
import it from here."""

from ..api.layerspec import describe, parse

__all__ = ["describe", "parse"]
