"""Optional ML-assisted grid estimation (needs the `ml` extra: torch).

Modules (nanoGPT / timm layout): ``config`` (defaults < YAML < --set), ``dataset``
(``perfecter ml prepare`` and the training Dataset/sampler), ``preprocess`` (native-resolution
160 px crops + Canny), ``model`` (residual CNN + Fourier features), ``train`` (the loop, DDP,
checkpoints), ``inference`` (``suggest_parameters``, ``hybrid_reconstruct``), ``export``
(TorchScript), ``evaluate`` (heuristic vs model vs hybrid, bench).  Only ``cli`` is imported
by ``perfecter``; it never imports torch at load time.
"""

import importlib.util


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ValueError, ImportError):  # sys.modules[module] is None, or a broken install
        return False
