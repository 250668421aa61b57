"""optical — cross-lingual retrieval into English for low-resource query languages.

Importing the package is cheap: models, torch and data are loaded only by the
functions that need them.
"""

__version__ = "0.1.0"
