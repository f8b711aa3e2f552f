"""anynet: the network of Nielsen's *Neural Networks and Deep Learning* on any
array API backend (NumPy, CuPy, PyTorch, JAX, array-api-strict)."""

from .activations import ReLU, Sigmoid, Softmax, Tanh, sigmoid, sigmoid_prime
from .backend import Backend, available_backends, get_backend
from .checkpoint import load
from .costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .errors import AnynetError
from .network import EpochReport, Network
from .optimizers import SGD, Adam, Momentum
from .schedules import DivideOnPlateau

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "AnynetError",
    "Backend",
    "CrossEntropyCost",
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
    "available_backends",
    "get_backend",
    "load",
    "sigmoid",
    "sigmoid_prime",
]
