"""anynet: the network of Nielsen's *Neural Networks and Deep Learning* on any
array API backend (NumPy, CuPy, PyTorch, JAX, array-api-strict).

``anynet.Network`` is the keyword API; ``anynet.network`` and
``anynet.network2`` are the book's two modules, for its scripts unchanged.
"""

from .activations import ReLU, Sigmoid, Softmax, Tanh, sigmoid, sigmoid_prime
from .backend import Backend, get_backend
from .costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .devices import available_backends
from .errors import AnynetError
from .fit import EpochReport, TrainConfig
from .net import Network
from .saved import load, resume
from .optimizers import SGD, Adam, Momentum
from .schedules import DivideAt, DivideOnPlateau
from .sweep import sweep

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
