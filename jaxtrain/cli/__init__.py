"""The ``jaxtrain`` command line: ``diagnose``, ``explain``, ``train``, ``hessian`` and ``tour``.

Installed as the console script ``jaxtrain`` and runnable as ``python -m jaxtrain``. Every
command prints ``--help`` with an example, exits 0 on success, 2 on bad arguments and 1 on a
failure, with one clear line on stderr (never a traceback; set ``JAXTRAIN_DEBUG=1`` to see one).
"""

from jaxtrain.cli._main import main

__all__ = ["main"]
