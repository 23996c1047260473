"""Local, no-Docker, no-AWS runtime of the stack declared in template.yaml.

Run the whole stack with ``python -m local.run``; the Richpanel stand-in alone with
``python -m local.sandbox``.
"""
