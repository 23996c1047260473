"""Operator tools, run from a checkout (``python -m ops.<tool>``); never in the Lambda artifact.

They may use the layer's package (``PYTHONPATH=layers/common``) and ``local/`` (the local stack);
the functions and the layer never import them.
"""
