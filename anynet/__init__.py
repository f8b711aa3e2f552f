"""anynet: the network of Nielsen's *Neural Networks and Deep Learning* on any
array API backend (NumPy, CuPy, PyTorch, JAX, array-api-strict).

``anynet.Network`` is the keyword API; ``anynet.network`` and
``anynet.network2`` are the book's two modules, for its scripts unchanged.
"""

from .model.activations import ReLU, Sigmoid, Softmax, Tanh, sigmoid, sigmoid_prime
from .xp.backend import Backend, get_backend
from .model.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .xp.devices import available_backends
from .errors import AnynetError
from .train.fit import EpochReport, TrainConfig
from .api.network_api import Network
from .api.saved import load, resume
from .model.optimizers import SGD, Adam, Momentum
from .train.schedules import DivideAt, DivideOnPlateau
from .api.sweep import sweep

__version__ = "0.2.0"

__all__ = [
    "Adam",
    "AnynetError",
    "Backend",
    "CrossEntropyCost",
    "DivideAt",
    "DivideOnPlateau",
    "EpochReport",
    "LogLikelihoodCost",
    "Momentum",
    "Network",
    "QuadraticCost",
    "ReLU",
    "SGD",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainConfig",
    "available_backends",
    "get_backend",
    "load",
    "resume",
    "sigmoid",
    "sigmoid_prime",
    "sweep",
]
